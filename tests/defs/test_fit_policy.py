"""The fitting policy shared by mmm_posterior, the calibrated refit and the recovery tests, and how
mmm_posterior chooses between saturations (its default, auto)."""

from types import SimpleNamespace

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


def test_saturation_is_chosen_by_loo_among_converged_fits_and_among_all_when_none_converged():
    def fit(saturation: str, elpd: float, rhat: float) -> pd.Series:
        return pd.Series({"saturation": saturation, "elpd_loo": elpd, "elpd_loo_se": 9.0, "rhat_max": rhat,
                          "ess_bulk_min": 900.0, "ess_tail_min": 900.0, "divergences": 0})

    def chosen(*fits: pd.Series) -> str:
        table = loo_comparison(list(fits), MMMRunConfig())
        assert table["chosen"].sum() == 1
        return table.loc[table["chosen"], "saturation"].item()

    assert chosen(fit("logistic", 390.0, 1.001), fit("hill", 392.6, 1.001)) == "hill"
    assert chosen(fit("logistic", 413.6, 1.001), fit("hill", 412.8, 1.001)) == "logistic"
    # a better elpd does not make up for failed convergence checks
    assert chosen(fit("logistic", 390.0, 1.001), fit("hill", 400.0, 1.05)) == "logistic"
    assert chosen(fit("logistic", 390.0, 1.08), fit("hill", 385.0, 1.05)) == "logistic"
    assert chosen(fit("logistic", float("nan"), 1.001), fit("hill", 385.0, 1.001)) == "hill"  # LOO failed
    assert MMMRunConfig().saturation == "auto"
