"""reconciled_lift: the MMM of week W fused with the experiments (and attribution) known by W."""

import dataclasses
import hashlib
import json
from collections.abc import Callable

import dagster as dg
import pandas as pd

from umm_assets import __version__
from umm_assets.defs import partition_checks
from umm_assets.defs.io_manager import PartitionView
from umm_assets.defs.metadata import dashboard_link, figures, table
from umm_assets.defs.mmm_posterior.assets import MODEL_CHAIN_BACKFILL, RunLog
from umm_assets.defs.reconciled_lift import checks
from umm_assets.defs.reconciled_lift.config import ReconcileRunConfig
from umm_assets.defs.resources import ModelCompileCache, WarehouseResource
from umm_assets.defs.windows import ending_at, known_by, require_complete, span, window_ins
from umm_assets.lib import humanize
from umm_assets.lib.mmm.calibration import ExactLiftTests
from umm_assets.lib.mmm.config import MMMConfig
from umm_assets.lib.mmm.frame import build_model_frame
from umm_assets.lib.mmm.policy import ConvergencePolicy, convergence_problems, fit_converging, stored_thresholds
from umm_assets.lib.mmm.summaries import summarize
from umm_assets.lib.outputs import RECONCILED_LIFT, validate_outputs
from umm_assets.lib.reconcile import Posterior, RefitNotConverged, reconcile
from umm_assets.lib.storage import Stored

CODE_VERSION = f"{__version__}-reconcile.4"
INPUTS = ("validated_spend", "validated_outcomes", "validated_controls", "validated_attribution")
# the calibrated refit, stored beside the fused posterior so that a re-materialization whose refit inputs
# did not change (a new attribution file, another fusion setting) reuses it instead of sampling again
REFIT_TABLES = {"refit_parameter_draws": "parameter_draws", "refit_contributions": "contributions"}


def posterior_of(view: PartitionView) -> Posterior:
    """The stored MMM posterior as reconciliation needs it (no model loading)."""
    return Posterior.from_tables(view.table)


def _calibrated_fit(context: dg.AssetExecutionContext, model_cache: ModelCompileCache, frame, tests: pd.DataFrame,
                    first: MMMConfig, label: str):
    """``fit(config) -> (result, summaries)``: the MMM with the lift tests as likelihoods (for fit_converging)."""
    def fit(mmm_config: MMMConfig):
        fitter = model_cache.fitter_for(mmm_config)
        fitter.progress = RunLog(context, label if mmm_config is first else f"{label} again")
        result = fitter.fit(frame, calibration=ExactLiftTests(tests), holdout=False)
        return result, summarize(result)

    return fit


def refit_key(mmm_version: str, mmm_config: MMMConfig, allow_unconverged: bool, frames: list[pd.DataFrame]) -> str:
    """What the calibrated refit depends on: the posterior it refits, its settings, the tests and the window."""
    digest = hashlib.sha256(json.dumps([CODE_VERSION, mmm_version, mmm_config.to_dict(), allow_unconverged],
                                       sort_keys=True, default=str).encode())
    for frame in frames:
        digest.update(pd.util.hash_pandas_object(frame.sort_index(axis=1), index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _stored_refit(warehouse: WarehouseResource, week: str, key: str) -> Posterior | None:
    """The refit stored in the current ``reconciled_lift[week]`` if it was made from the same inputs."""
    store = warehouse.get()
    commit = store.commit(checks.ASSET, week)
    if commit is None or not set(REFIT_TABLES) <= set(commit.tables):
        return None
    summary = store.read_commit(commit, "summary")
    if summary.get("refit_key", pd.Series([""])).iloc[0] != key:
        return None
    spec = json.loads(store.read_commit(commit, "refit_spec")["spec_json"].iloc[0])
    return Posterior(store.read_commit(commit, "refit_parameter_draws"), spec,
                     store.read_commit(commit, "refit_contributions"))


def _refit(context: dg.AssetExecutionContext, config: ReconcileRunConfig, model_cache: ModelCompileCache, week: str,
           tests: pd.DataFrame, frame_of: Callable, mmm_config: MMMConfig, gate: ConvergencePolicy) -> Posterior:
    """The MMM refitted with the week's tests as likelihoods, held to the checks its posterior passed."""
    frame = frame_of(mmm_config)
    context.log.info(f"reconciled_lift[{week}]: refitting the MMM with {len(tests)} lift test(s) "
                     "as likelihoods in their own units")
    label = f"reconciled_lift[{week}] calibrated refit"
    policy = dataclasses.replace(gate, escalate=not config.allow_unconverged)  # as mmm_posterior's
    _, summaries = fit_converging(_calibrated_fit(context, model_cache, frame, tests, mmm_config, label), mmm_config,
                                  policy, lambda message: context.log.warning(f"{label}: {message}"))
    problems = convergence_problems(summaries.diagnostics.iloc[0], gate)
    if problems and not config.allow_unconverged:
        raise RefitNotConverged(", ".join(problems))
    return Posterior.from_summaries(summaries)


def _week(context: dg.AssetExecutionContext, config: ReconcileRunConfig, warehouse: WarehouseResource,
          model_cache: ModelCompileCache, week: str, view: PartitionView, inputs: dict[str, pd.DataFrame],
          window_weeks: int) -> Stored:
    diagnostics = view.table("diagnostics").iloc[0]
    gate = stored_thresholds(diagnostics)  # what mmm_posterior held it to, for it and its refit
    problems = convergence_problems(diagnostics, gate)
    if problems and not config.allow_unconverged:
        raise dg.Failure(f"reconciled_lift[{week}]: mmm_posterior[{week}] did not converge "
                         f"({', '.join(problems)}); refit it, or set allow_unconverged", allow_retries=False)
    window = {name: ending_at(inputs[name], week, window_weeks) for name in INPUTS}
    require_complete(week, window_weeks, window, warehouse.get(), "reconciled_lift")
    tests = known_by(inputs["validated_tests"], week)
    posterior = posterior_of(view)
    # the model mmm_posterior fitted (saturation, priors, ...), sampled as this run asks
    overrides = {k: v for k in ("chains", "draws", "tune") if (v := getattr(config, k)) is not None}
    refit_config = MMMConfig.from_dict(posterior.spec["model_config"]).replace(holdout_weeks=0, **overrides)
    key = refit_key(view.commit.version, refit_config, config.allow_unconverged,
                    [tests, window["validated_spend"], window["validated_outcomes"], window["validated_controls"]])

    def frame_of(mmm_config: MMMConfig):
        return build_model_frame(window["validated_spend"], window["validated_outcomes"],
                                 window["validated_controls"], end_week=week, window_weeks=window_weeks,
                                 min_weeks=mmm_config.min_weeks)

    def refit() -> Posterior:
        stored = _stored_refit(warehouse, week, key)
        if stored is not None:
            context.log.info(f"reconciled_lift[{week}]: the calibrated refit's inputs are unchanged: reusing it")
            return stored
        return _refit(context, config, model_cache, week, tests, frame_of, refit_config, gate)

    result = reconcile(posterior, tests, window["validated_spend"], window["validated_attribution"],
                       config.reconcile_config(), refit=refit)
    for note in result.notes:
        context.log.info(f"reconciled_lift[{week}]: {note}")
    tables = dict(result.tables)
    tables["summary"] = tables["summary"].assign(refit_key=key if result.refit else "")
    if result.refit is not None:
        tables.update({"refit_parameter_draws": result.refit.parameter_draws,
                       "refit_contributions": result.refit.contributions,
                       "refit_spec": pd.DataFrame({"spec_json": [json.dumps(result.refit.spec)]})})
    return Stored(validate_outputs(RECONCILED_LIFT, tables), upstream={
        "mmm_posterior": {"partition": week, "version": view.commit.version},
        "validated_tests": [str(t) for t in tests["test_id"]],
        "validated_spend": span(window["validated_spend"]),
        "validated_attribution": span(window["validated_attribution"])})


SHOWN = ["channel", "method", "roas_mean", "roas_lower", "roas_upper", "mmm_roas_mean", "tests_roas_mean",
         "attribution_roas", "attribution_bias", "weight_mmm", "weight_tests", "weight_attribution", "shift_tests",
         "shift_attribution", "hold_in_allocation", "tests_used"]


DASH_PAGE = "/roas"  # the dashboard's "ROAS & reconciliation" page (umm_dash/pages/roas.py)


def headline(tables: dict[str, pd.DataFrame]) -> dict[str, object]:
    """The figures shown inline on the asset's page: each channel's reconciled ROAS, the blended ROAS, how
    many experiments it used, the channels the allocation holds."""
    reconciled, summary = tables["reconciled"], tables["summary"].iloc[0]
    return {"blended_roas": humanize.blended_roas(reconciled["spend"], reconciled["incremental_revenue_mean"]),
            **humanize.channel_figures(reconciled, "roas_mean"),
            "method": str(summary["method"]), "n_tests": int(summary["n_tests"]),
            "held_channels": str(summary["held_channels"]) or None}


def build_reconcile_asset(partitions: dg.PartitionsDefinition, window_weeks: int,
                          dash_url: str | None = None) -> dg.AssetsDefinition:
    """``dash_url``: the dashboard's address (``Settings.dash_url``), linked from each materialization."""
    @dg.asset(
        name=checks.ASSET,
        description="Each channel's ROAS and incremental revenue with the MMM fused with incrementality tests "
                    "and bias-corrected attribution, as of the week.",
        partitions_def=partitions,
        ins={"mmm_posterior": dg.AssetIn(), "validated_tests": dg.AssetIn(), **window_ins(window_weeks, INPUTS)},
        backfill_policy=MODEL_CHAIN_BACKFILL,  # mmm_posterior's: the chain's weeks run together
        check_specs=checks.check_specs(partitions),
        pool="model_fit",
        group_name=checks.ASSET,  # the stage: asset, folder and group share its name
        code_version=CODE_VERSION,
        kinds={"pymc", "parquet"},
        io_manager_key="warehouse_io_manager",
    )
    def reconciled_lift(context: dg.AssetExecutionContext, config: ReconcileRunConfig, warehouse: WarehouseResource,
                        model_cache: dg.ResourceParam[ModelCompileCache], mmm_posterior,
                        validated_tests: pd.DataFrame, validated_spend: pd.DataFrame,
                        validated_outcomes: pd.DataFrame, validated_controls: pd.DataFrame,
                        validated_attribution: pd.DataFrame):
        views = mmm_posterior if isinstance(mmm_posterior, dict) else {context.partition_keys[0]: mmm_posterior}
        inputs = {"validated_tests": validated_tests, "validated_spend": validated_spend,
                  "validated_outcomes": validated_outcomes, "validated_controls": validated_controls,
                  "validated_attribution": validated_attribution}
        values = {week: _week(context, config, warehouse, model_cache, week, views[week], inputs, window_weeks)
                  for week in context.partition_keys}
        last_week = next(reversed(values))
        last = values[last_week].tables
        yield from partition_checks.per_week(context, {week: checks.results(v.tables) for week, v in values.items()})
        yield dg.Output(values if len(values) > 1 else next(iter(values.values())),
                        metadata={**figures(headline(last)), **dashboard_link(dash_url, DASH_PAGE, last_week),
                                  "reconciled": table(last["reconciled"][SHOWN]),
                                  "test_coverage": table(last["test_coverage"])})

    return reconciled_lift
