"""Attribution's likelihood and its tempering (the bias model itself: tests/lib/test_reconcile.py)."""

import numpy as np
import pytest

from umm_assets.lib.attribution import LogBias, attribution_log_likelihood, tempered_weights


def _ess_share(weights: np.ndarray) -> float:
    return float(1 / (weights**2).sum() / len(weights))


def test_evidence_the_draws_can_carry_is_applied_in_full():
    log_roas = np.random.default_rng(0).normal(0.0, 0.3, 2000)
    weights, beta = tempered_weights(attribution_log_likelihood(log_roas, 1.0, LogBias.normal(0.0, 1.0)))
    assert beta == 1.0 and weights.sum() == pytest.approx(1.0)
    assert _ess_share(weights) > 0.25


def test_evidence_far_outside_the_draws_is_tempered_to_keep_a_quarter_effective():
    log_roas = np.random.default_rng(0).normal(0.0, 0.3, 2000)
    # attribution says ROAS ~ e^3 with a tight bias: the draws cannot reach it
    log_likelihood = attribution_log_likelihood(log_roas, np.exp(3.0), LogBias.normal(0.0, 0.05))
    weights, beta = tempered_weights(log_likelihood)
    assert 0 < beta < 1
    assert _ess_share(weights) == pytest.approx(0.25, abs=0.005)
    assert weights @ log_roas > log_roas.mean() + 0.1  # still pulled towards the evidence
