"""The fitting policy shared by mmm_posterior, the calibrated refit and the recovery tests."""

from types import SimpleNamespace

import pandas as pd

from umm_assets.defs.model.checks import fit_converging
from umm_assets.defs.model.config import MMMRunConfig
from umm_assets.lib.mmm.config import MMMConfig


def summaries(rhat: float, divergences: int = 0) -> SimpleNamespace:
    return SimpleNamespace(diagnostics=pd.DataFrame([{"rhat_max": rhat, "ess_bulk_min": 900.0, "ess_tail_min": 900.0,
                                                      "divergences": divergences}]))


def test_a_failed_check_is_sampled_once_more_longer_and_a_passed_one_is_not():
    asked, warnings = [], []
    outcomes = iter([summaries(1.05, divergences=3), summaries(1.001)])

    def fit(config):
        asked.append(config)
        return f"fit {len(asked)}", next(outcomes)

    first = MMMConfig(draws=1500, tune=1000, seed=42)
    result, last = fit_converging(fit, first, MMMRunConfig(), warnings.append)
    assert result == "fit 2" and last.diagnostics.iloc[0]["rhat_max"] == 1.001
    assert [(c.draws, c.tune, c.seed, c.target_accept) for c in asked] == [(1500, 1000, 42, 0.95), (3000, 2000, 43, 0.99)]
    assert len(warnings) == 1 and "R-hat 1.050 > 1.01" in warnings[0] and "3 divergences" in warnings[0]

    asked.clear()
    assert fit_converging(lambda c: (asked.append(c), summaries(1.001)), first, MMMRunConfig())[1] is not None
    assert len(asked) == 1


def test_no_second_attempt_when_escalation_is_off():
    asked = []
    _, last = fit_converging(lambda c: (asked.append(c), summaries(1.2)), MMMConfig(), MMMRunConfig(escalate=False))
    assert len(asked) == 1 and last.diagnostics.iloc[0]["rhat_max"] == 1.2
