"""The fitting policy shared by mmm_posterior, the calibrated refit and the recovery tests: when a fit has
converged, its one longer retry, and how the saturation is chosen (no sampling: fake fits)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib.mmm.config import DIVERGENCES_MAX, ESS_MIN, RHAT_MAX, MMMConfig
from umm_assets.lib.mmm.policy import (ConvergencePolicy, convergence_problems, escalated, fit_converging,
                                       loo_comparison, stored_thresholds, thresholds_record)


def diagnostics(rhat: float = 1.001, ess_bulk: float = 900.0, ess_tail: float = 900.0,
                divergences: int = 0) -> pd.Series:
    return pd.Series({"rhat_max": rhat, "ess_bulk_min": ess_bulk, "ess_tail_min": ess_tail,
                      "divergences": divergences})


def summaries(rhat: float, divergences: int = 0) -> SimpleNamespace:
    return SimpleNamespace(diagnostics=diagnostics(rhat, divergences=divergences).to_frame().T)


def test_the_default_policy_is_the_platforms_thresholds():
    assert ConvergencePolicy() == ConvergencePolicy(RHAT_MAX, ESS_MIN, DIVERGENCES_MAX, escalate=True)


def test_a_fit_exactly_at_a_threshold_passes_and_every_miss_is_named():
    policy = ConvergencePolicy()
    assert convergence_problems(diagnostics(RHAT_MAX, ESS_MIN, ESS_MIN, DIVERGENCES_MAX), policy) == []
    assert convergence_problems(diagnostics(1.0234, 399.6, 12.0, 2), policy) == [
        "R-hat 1.023 > 1.01", "bulk ESS 399 < 400", "tail ESS 12 < 400", "2 divergences > 0"]


def test_diagnostics_that_could_not_be_computed_fail_the_checks():
    nan = float("nan")
    assert convergence_problems(diagnostics(nan, nan, nan, nan), ConvergencePolicy()) == [
        "R-hat nan > 1.01", "bulk ESS nan < 400", "tail ESS nan < 400", "nan divergences > 0"]


def test_the_retry_samples_twice_as_long_from_fresh_seeds_with_a_smaller_step():
    base = MMMConfig(draws=300, tune=200, seed=9, target_accept=0.9)
    longer = escalated(base)
    assert (longer.draws, longer.tune, longer.seed, longer.target_accept) == (600, 400, 10, 0.99)
    assert longer.fingerprint() == base.fingerprint()  # the same model: its compilation is reused
    assert escalated(MMMConfig(target_accept=0.995)).target_accept == 0.995  # never a larger step


def test_a_failed_check_is_sampled_once_more_longer_and_a_passed_one_is_not():
    asked, warnings = [], []
    outcomes = iter([summaries(1.05, divergences=3), summaries(1.001)])

    def fit(config):
        asked.append(config)
        return f"fit {len(asked)}", next(outcomes)

    first = MMMConfig(draws=1500, tune=1000, seed=42)
    result, last = fit_converging(fit, first, ConvergencePolicy(), warnings.append)
    assert result == "fit 2" and last.diagnostics.iloc[0]["rhat_max"] == 1.001
    assert [(c.draws, c.tune, c.seed, c.target_accept) for c in asked] == [(1500, 1000, 42, 0.95), (3000, 2000, 43, 0.99)]
    assert len(warnings) == 1 and "R-hat 1.050 > 1.01" in warnings[0] and "3 divergences" in warnings[0]

    asked.clear()
    assert fit_converging(lambda c: (asked.append(c), summaries(1.001)), first, ConvergencePolicy())[1] is not None
    assert len(asked) == 1


def test_no_second_attempt_when_escalation_is_off():
    asked = []
    _, last = fit_converging(lambda c: (asked.append(c), summaries(1.2)), MMMConfig(),
                             ConvergencePolicy(escalate=False))
    assert len(asked) == 1 and last.diagnostics.iloc[0]["rhat_max"] == 1.2


def test_the_retry_is_returned_even_when_it_fails_too():
    outcomes = iter([summaries(1.2), summaries(1.1)])
    _, last = fit_converging(lambda c: (c, next(outcomes)), MMMConfig(), ConvergencePolicy())
    assert last.diagnostics.iloc[0]["rhat_max"] == 1.1  # whether it converged is for the caller


def test_the_thresholds_a_posterior_was_checked_against_are_read_back_from_its_diagnostics():
    strict = ConvergencePolicy(rhat_max=1.005, ess_min=800.0, divergences_max=2)
    record = thresholds_record(strict)
    assert record == {"check_rhat_max": 1.005, "check_ess_min": 800.0, "check_divergences_max": 2.0}
    read = stored_thresholds(pd.Series({**diagnostics(), **record}))
    assert read == strict and isinstance(read.divergences_max, int)
    # stored before they were recorded (or recorded as missing): the platform's defaults
    assert stored_thresholds(diagnostics()) == ConvergencePolicy()
    assert stored_thresholds(pd.Series({**record, "check_rhat_max": np.nan})).rhat_max == RHAT_MAX


@pytest.fixture
def fit_of():
    rng = np.random.default_rng(0)
    weeks = rng.normal(2.5, 1.0, 156)  # pointwise elpd of a fit

    def fit(saturation: str, shift: float, rhat: float = 1.001, noise: float = 0.05, adstock: str = "geometric"):
        scatter = rng.normal(0, noise, len(weeks))  # centred: elpd differs by exactly the shift
        pointwise = weeks + shift / len(weeks) + scatter - scatter.mean()
        return pd.Series({"saturation": saturation, "adstock": adstock, "elpd_loo": pointwise.sum(),
                          "elpd_loo_se": 9.0, **diagnostics(rhat)}), pointwise

    return fit


def chosen(*fits) -> str:
    table = loo_comparison(list(fits), ConvergencePolicy())
    assert table["chosen"].sum() == 1
    return table.loc[table["chosen"], "saturation"].item()


def test_saturation_is_chosen_by_loo_among_converged_fits_and_hill_wins_ties(fit_of):
    assert chosen(fit_of("logistic", 0.0), fit_of("hill", 3.0)) == "hill"
    assert chosen(fit_of("logistic", 5.0), fit_of("hill", 0.0)) == "logistic"  # clearly better: se of the difference ~0.9
    # a lead within the paired standard error is a tie, and Hill (concave or S-shaped) is kept
    close = fit_of("logistic", 0.5, noise=0.2), fit_of("hill", 0.0, noise=0.2)
    table = loo_comparison(list(close), ConvergencePolicy()).set_index("saturation")
    assert table.at["hill", "chosen"] and 0 < table.at["logistic", "elpd_diff"] < table.at["logistic", "elpd_diff_se"]
    # a better elpd does not make up for failed convergence checks
    assert chosen(fit_of("logistic", 0.0), fit_of("hill", 10.0, rhat=1.05)) == "logistic"
    assert chosen(fit_of("logistic", 0.0, rhat=1.08), fit_of("hill", -10.0, rhat=1.05)) == "logistic"
    nan_loo = pd.Series({**fit_of("logistic", 0.0)[0], "elpd_loo": float("nan")}), None
    assert chosen(nan_loo, fit_of("hill", -50.0)) == "hill"  # its LOO failed


def shape(*fits) -> tuple[str, str]:
    table = loo_comparison(list(fits), ConvergencePolicy())
    return tuple(table.loc[table["chosen"], ["saturation", "adstock"]].iloc[0])


def test_carry_over_is_chosen_by_loo_too_and_ties_go_to_the_more_flexible_shape(fit_of):
    assert shape(fit_of("hill", 0.0), fit_of("hill", 0.5, adstock="delayed")) == ("hill", "delayed")  # a tie
    assert shape(fit_of("hill", 6.0), fit_of("hill", 0.0, adstock="delayed")) == ("hill", "geometric")  # clearly
    assert shape(fit_of("hill", 0.0), fit_of("hill", 6.0, adstock="delayed")) == ("hill", "delayed")
    # all four combinations: among those within the paired se of the best, the most flexible
    four = [fit_of("logistic", 2.0, noise=0.02), fit_of("hill", 1.95, noise=0.02),
            fit_of("logistic", 1.9, noise=0.02, adstock="delayed"), fit_of("hill", 1.85, noise=0.02, adstock="delayed")]
    assert shape(*four) == ("hill", "delayed")
    four[3] = fit_of("hill", -8.0, noise=0.02, adstock="delayed")  # clearly worse: the next most flexible of the tied
    table = loo_comparison(four, ConvergencePolicy())
    assert tuple(table.loc[table["chosen"], ["saturation", "adstock"]].iloc[0]) in {("hill", "geometric"),
                                                                                    ("logistic", "delayed")}
    assert table.loc[table["chosen"], "elpd_loo"].item() == max(table.at[1, "elpd_loo"], table.at[2, "elpd_loo"])
    assert not table.at[3, "chosen"] and table.at[3, "elpd_diff"] < -table.at[3, "elpd_diff_se"]


def test_the_convergence_a_comparison_asks_for_is_the_policys(fit_of):
    fits = [fit_of("logistic", 0.0), fit_of("hill", 10.0, rhat=1.015)]
    assert chosen(*fits) == "logistic"
    lenient = loo_comparison(fits, ConvergencePolicy(rhat_max=1.02))
    assert lenient["converged"].all() and lenient.loc[lenient["chosen"], "saturation"].item() == "hill"
