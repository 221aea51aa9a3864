"""reconciled_lift: the MMM of week W fused with the experiments (and attribution) known by W."""

import dagster as dg
import pandas as pd

from umm_assets import __version__
from umm_assets.defs.io_manager import PartitionView
from umm_assets.defs.metadata import table_md
from umm_assets.defs.model.assets import RunLog, fitter_for
from umm_assets.defs.model.checks import convergence_problems, fit_converging, stored_thresholds
from umm_assets.defs.reconcile import checks
from umm_assets.defs.reconcile.config import ReconcileRunConfig
from umm_assets.defs.windows import ending_at, span, window_ins
from umm_assets.lib.mmm.calibration import ExactLiftTests
from umm_assets.lib.mmm.config import MMMConfig
from umm_assets.lib.mmm.frame import build_model_frame
from umm_assets.lib.mmm.summaries import summarize
from umm_assets.lib.outputs import RECONCILED_LIFT, validate_outputs
from umm_assets.lib.reconcile import Posterior, RefitNotConverged, reconcile
from umm_assets.lib.storage import Stored

CODE_VERSION = f"{__version__}-reconcile.2"
INPUTS = ("validated_spend", "validated_outcomes", "validated_controls", "validated_attribution")


def posterior_of(view: PartitionView) -> Posterior:
    """The stored MMM posterior as reconciliation needs it (no model loading)."""
    return Posterior.from_tables(view.table)


def _calibrated_fit(context: dg.AssetExecutionContext, frame, tests: pd.DataFrame, first: MMMConfig, label: str):
    """``fit(config) -> (result, summaries)``: the MMM with the lift tests as likelihoods (for fit_converging)."""
    def fit(mmm_config: MMMConfig):
        fitter = fitter_for(mmm_config)
        fitter.progress = RunLog(context, label if mmm_config is first else f"{label} again")
        result = fitter.fit(frame, calibration=ExactLiftTests(tests), holdout=False)
        return result, summarize(result)

    return fit


def build_reconcile_asset(partitions: dg.PartitionsDefinition, window_weeks: int) -> dg.AssetsDefinition:
    @dg.asset(
        name=checks.ASSET,
        description="Each channel's ROAS and incremental revenue with the MMM fused with incrementality tests "
                    "and bias-corrected attribution, as of the week.",
        partitions_def=partitions,
        ins={"mmm_posterior": dg.AssetIn(), "validated_tests": dg.AssetIn(), **window_ins(window_weeks, INPUTS)},
        check_specs=checks.check_specs(),
        pool="model_fit",
        group_name="model",
        code_version=CODE_VERSION,
        kinds={"pymc", "parquet"},
        io_manager_key="warehouse_io_manager",
    )
    def reconciled_lift(context: dg.AssetExecutionContext, config: ReconcileRunConfig, mmm_posterior,
                        validated_tests: pd.DataFrame, validated_spend: pd.DataFrame, validated_outcomes: pd.DataFrame,
                        validated_controls: pd.DataFrame, validated_attribution: pd.DataFrame):
        views = mmm_posterior if isinstance(mmm_posterior, dict) else {context.partition_keys[0]: mmm_posterior}
        values, last = {}, None
        for week in context.partition_keys:
            view = views[week]
            diagnostics = view.table("diagnostics").iloc[0]
            gate = stored_thresholds(diagnostics)  # what mmm_posterior held it to, for it and its refit
            problems = convergence_problems(diagnostics, gate)
            if problems and not config.allow_unconverged:
                raise dg.Failure(f"reconciled_lift[{week}]: mmm_posterior[{week}] did not converge "
                                 f"({', '.join(problems)}); refit it, or set allow_unconverged", allow_retries=False)
            spend = ending_at(validated_spend, week, window_weeks)
            tests = validated_tests[pd.to_datetime(validated_tests["end_date"])
                                    <= pd.Timestamp(week) + pd.Timedelta(days=6)]
            attribution = ending_at(validated_attribution, week, window_weeks)

            posterior = posterior_of(view)
            # the model mmm_posterior fitted (saturation, priors, ...), sampled as this run asks
            overrides = {k: v for k in ("chains", "draws", "tune") if (v := getattr(config, k)) is not None}
            refit_config = MMMConfig.from_dict(posterior.spec["model_config"]).replace(holdout_weeks=0, **overrides)

            def refit(week=week, spend=spend, mmm_config=refit_config, gate=gate):
                frame = build_model_frame(spend, ending_at(validated_outcomes, week, window_weeks),
                                          ending_at(validated_controls, week, window_weeks), end_week=week,
                                          window_weeks=window_weeks, min_weeks=mmm_config.min_weeks)
                context.log.info(f"reconciled_lift[{week}]: refitting the MMM with {len(tests)} lift test(s) "
                                 "as likelihoods in their own units")
                label = f"reconciled_lift[{week}] calibrated refit"
                policy = gate.model_copy(update={"escalate": not config.allow_unconverged})  # as mmm_posterior's
                _, summaries = fit_converging(_calibrated_fit(context, frame, tests, mmm_config, label), mmm_config,
                                              policy, lambda message: context.log.warning(f"{label}: {message}"))
                problems = convergence_problems(summaries.diagnostics.iloc[0], gate)
                if problems and not config.allow_unconverged:
                    raise RefitNotConverged(", ".join(problems))
                return Posterior.from_summaries(summaries)

            result = reconcile(posterior, tests, spend, attribution, config.reconcile_config(), refit=refit)
            for note in result.notes:
                context.log.info(f"reconciled_lift[{week}]: {note}")
            tables = validate_outputs(RECONCILED_LIFT, result.tables)
            values[week] = Stored(tables, upstream={
                "mmm_posterior": {"partition": week, "version": view.commit.version},
                "validated_tests": [str(t) for t in tests["test_id"]],
                "validated_spend": span(spend), "validated_attribution": span(attribution)})
            last = tables

        yield from checks.results(last)
        shown = ["channel", "method", "roas_mean", "roas_lower", "roas_upper", "mmm_roas_mean", "tests_roas_mean",
                 "attribution_roas", "attribution_bias", "weight_mmm", "weight_tests", "weight_attribution",
                 "tests_used"]
        yield dg.Output(values if len(values) > 1 else next(iter(values.values())),
                        metadata={"reconciled": table_md(last["reconciled"][shown]),
                                  "test_coverage": table_md(last["test_coverage"]),
                                  "method": str(last["summary"]["method"].iloc[0])})

    return reconciled_lift
