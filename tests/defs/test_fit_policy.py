"""mmm_posterior's side of the fitting policy (umm_assets.lib.mmm.policy, tested in tests/lib/mmm/test_policy.py):
the run configuration it is set from, its checks, and the compiled models both model stages share."""

import dagster as dg
import pandas as pd

from umm_assets.definitions import build_defs
from umm_assets.defs.mmm_posterior import checks
from umm_assets.defs.mmm_posterior.config import MMMRunConfig
from umm_assets.defs.resources import MODEL_COMPILE_CACHE, ModelCompileCache
from umm_assets.lib.mmm.config import MMMConfig
from umm_assets.lib.mmm.policy import ConvergencePolicy, escalated
from umm_assets.lib.settings import Settings


def test_the_run_configuration_sets_the_policy_and_chooses_the_saturation_by_default():
    assert MMMRunConfig().saturation == "auto"
    assert MMMRunConfig().policy() == ConvergencePolicy()
    lenient = MMMRunConfig(rhat_max=1.05, ess_min=100.0, divergences_max=3, escalate=False)
    assert lenient.policy() == ConvergencePolicy(1.05, 100.0, 3, escalate=False)


def test_by_default_delayed_carry_over_is_fitted_once_with_the_saturation_kept():
    config = MMMRunConfig()
    assert (config.saturation, config.adstock) == ("auto", "auto")
    first = config.candidates(156)
    assert [(c.saturation.value, c.adstock.value) for c in first] == [("logistic", "geometric"), ("hill", "geometric")]
    delayed = config.carry_over_candidate(first[1])
    assert (delayed.saturation.value, delayed.adstock.value) == ("hill", "delayed")
    assert delayed.replace(adstock=first[1].adstock) == first[1]  # the same model otherwise
    assert [config.label(c) for c in (*first, delayed)] == ["logistic geometric", "hill geometric", "hill delayed"]
    # a carry-over given is the only one fitted
    geometric = MMMRunConfig(adstock="geometric")
    assert {c.adstock.value for c in geometric.candidates(156)} == {"geometric"}
    assert geometric.carry_over_candidate(first[1]) is None and geometric.label(first[1]) == "hill"
    assert MMMRunConfig(saturation="hill", adstock="delayed").label(delayed) == ""


def test_the_checks_hold_each_week_to_the_runs_thresholds():
    weeks = {"2024-06-03": pd.Series({"rhat_max": 1.02, "ess_bulk_min": 900.0, "ess_tail_min": 900.0,
                                      "divergences": 0, "holdout_mape": 0.05}),
             "2024-06-10": pd.Series({"rhat_max": 1.001, "ess_bulk_min": 900.0, "ess_tail_min": 900.0,
                                      "divergences": 0, "holdout_mape": float("nan")})}
    config = MMMRunConfig()
    assert checks.failed(weeks, config.policy()) == {"2024-06-03": ["R-hat 1.020 > 1.01"]}
    passed = {week: [r.passed for r in results] for week, results in checks.results(weeks, config).items()}
    assert passed == {"2024-06-03": [False, True], "2024-06-10": [True, True]}
    assert checks.failed(weeks, MMMRunConfig(rhat_max=1.05).policy()) == {}


def test_a_retry_shares_the_compiled_model_but_samples_with_its_own_settings():
    cache = ModelCompileCache()
    base = MMMConfig(draws=300, tune=300)
    longer = escalated(base)
    assert cache.fitter_for(base) is cache.fitter_for(longer)
    assert cache.fitter_for(longer).config.draws == 600 and cache.fitter_for(base).config.draws == 300
    assert cache.fitter_for(base.replace(saturation="hill")) is not cache.fitter_for(base)  # another model


def test_both_model_stages_use_the_processs_compile_cache(tmp_path):
    defs = build_defs(Settings(raw_uri=str(tmp_path / "raw"), data_dir=str(tmp_path / "warehouse"),
                               first_week="2024-01-01"))
    assert defs.resources["model_cache"] is MODEL_COMPILE_CACHE  # kept across runs, and across code locations
    for asset in ("mmm_posterior", "reconciled_lift"):
        assert "model_cache" in defs.resolve_assets_def(asset).required_resource_keys


def test_one_instance_serves_every_step_and_run():
    """What the compile cache relies on: Dagster hands a plain object to every step of every run as it is
    (a ConfigurableResource would be a fresh copy per run)."""
    seen = []

    @dg.asset
    def first(model_cache: dg.ResourceParam[ModelCompileCache]):
        seen.append(model_cache)

    @dg.asset(deps=[first])
    def second(model_cache: dg.ResourceParam[ModelCompileCache]):
        seen.append(model_cache)

    cache = ModelCompileCache()
    defs = dg.Definitions(assets=[first, second], resources={"model_cache": cache})
    job = defs.resolve_implicit_global_asset_job_def()
    for _ in range(2):
        assert job.execute_in_process().success
    assert len(seen) == 4 and all(s is cache for s in seen)
