"""The fitting policy shared by mmm_posterior, the calibrated refit and the recovery tests, and how
mmm_posterior chooses between saturations (its default, auto)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from umm_assets.defs.model.checks import fit_converging, loo_comparison
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


def test_saturation_is_chosen_by_loo_among_converged_fits_and_hill_wins_ties():
    rng = np.random.default_rng(0)
    weeks = rng.normal(2.5, 1.0, 156)  # pointwise elpd of a fit

    def fit(saturation: str, shift: float, rhat: float = 1.001, noise: float = 0.05):
        pointwise = weeks + shift / len(weeks) + rng.normal(0, noise, len(weeks))
        return pd.Series({"saturation": saturation, "elpd_loo": pointwise.sum(), "elpd_loo_se": 9.0, "rhat_max": rhat,
                          "ess_bulk_min": 900.0, "ess_tail_min": 900.0, "divergences": 0}), pointwise

    def chosen(*fits) -> str:
        table = loo_comparison(list(fits), MMMRunConfig())
        assert table["chosen"].sum() == 1
        return table.loc[table["chosen"], "saturation"].item()

    assert chosen(fit("logistic", 0.0), fit("hill", 3.0)) == "hill"
    assert chosen(fit("logistic", 5.0), fit("hill", 0.0)) == "logistic"  # clearly better: se of the difference ~0.9
    # a lead within the paired standard error is a tie, and Hill (concave or S-shaped) is kept
    close = fit("logistic", 0.5, noise=0.2), fit("hill", 0.0, noise=0.2)
    table = loo_comparison(list(close), MMMRunConfig()).set_index("saturation")
    assert table.at["hill", "chosen"] and 0 < table.at["logistic", "elpd_diff"] < table.at["logistic", "elpd_diff_se"]
    # a better elpd does not make up for failed convergence checks
    assert chosen(fit("logistic", 0.0), fit("hill", 10.0, rhat=1.05)) == "logistic"
    assert chosen(fit("logistic", 0.0, rhat=1.08), fit("hill", -10.0, rhat=1.05)) == "logistic"
    nan_loo = pd.Series({**fit("logistic", 0.0)[0], "elpd_loo": float("nan")}), None
    assert chosen(nan_loo, fit("hill", -50.0)) == "hill"  # its LOO failed
    assert MMMRunConfig().saturation == "auto"
