"""mmm_posterior: the Bayesian MMM of the trailing window ending at week W (pymc-marketing).

A backfill is a rolling-origin history of the model. Runs cover up to 8 weeks each: within a run the
compiled model is reused across windows of the same shape (only the data are swapped in), so every
week after the first costs sampling only. reconciled_lift, allocation and experiment_plan backfill the
same way (:data:`MODEL_CHAIN_BACKFILL`): assets of different backfill policies never share a run, so with
one policy an asset backfill runs the whole chain for up to 8 weeks in one run, as the weekly refresh runs
it for one.
"""

import atexit
import functools
import shutil
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from umm_assets import __version__
from umm_assets.defs import partition_checks
from umm_assets.defs.metadata import dashboard_link, fields, figures, line_plot_md, table
from umm_assets.defs.mmm_posterior import checks
from umm_assets.defs.mmm_posterior.config import MMMRunConfig
from umm_assets.defs.resources import ModelCompileCache, WarehouseResource
from umm_assets.defs.windows import ending_at, require_complete, span, window_ins
from umm_assets.lib import humanize
from umm_assets.lib.mmm.fit import MMMFitter, save_fit
from umm_assets.lib.mmm.frame import NATIONAL, FrameError, InsufficientHistory, build_model_frame
from umm_assets.lib.mmm.policy import fit_converging, loo_comparison, thresholds_record
from umm_assets.lib.mmm.summaries import summarize
from umm_assets.lib.outputs import MMM_POSTERIOR, validate_outputs
from umm_assets.lib.storage import Stored

CODE_VERSION = f"{__version__}-mmm.5"
MODEL_FILE = "model.nc"
PROGRESS_EVERY_S = 10.0
INPUTS = ("validated_spend", "validated_outcomes", "validated_controls")
# The model chain's backfill policy (every stage of lib.outputs.MODEL_CHAIN): a range is cut into runs of
# up to 8 weeks. Within a run the MMM's compiled model serves every week of one shape (the compile is paid
# once per run, not per week); 8 weeks keep a run's memory (8 posteriors) and what a failed run loses bounded.
MODEL_CHAIN_BACKFILL = dg.BackfillPolicy.multi_run(max_partitions_per_run=8)
DASH_PAGE = "/roas"  # the dashboard page of the week's ROAS (umm_dash/pages/roas.py)


class RunLog:
    """Fit progress to the Dagster run log: every phase, and sampling at most every 10 s."""

    def __init__(self, context: dg.AssetExecutionContext, label: str):
        self.context, self.label = context, label
        self.last_phase, self.last_time = None, 0.0
        self.lock = threading.Lock()

    def __call__(self, phase: str, detail: dict) -> None:
        with self.lock:  # nutpie reports from its own thread
            now = time.monotonic()
            if phase == self.last_phase and now - self.last_time < PROGRESS_EVERY_S:
                return
            self.last_phase, self.last_time = phase, now
        shown = ", ".join(f"{k}={v}" for k, v in detail.items())
        self.context.log.info(f"{self.label} {phase}: {shown}")


@functools.cache
def _scratch() -> Path:
    """Where fitted models wait for the IO manager; made on the first fit, not when the code loads."""
    path = Path(tempfile.mkdtemp(prefix="umm-models-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _fit(context: dg.AssetExecutionContext, fitter: MMMFitter, frame, week: str, attempt: str):
    fitter.progress = RunLog(context, f"mmm_posterior[{week}]{' ' + attempt if attempt else ''}")
    result = fitter.fit(frame)
    return result, summarize(result)


def _fit_converging(context: dg.AssetExecutionContext, config: MMMRunConfig, model_cache: ModelCompileCache,
                    mmm_config, frame, week: str, label: str, attempts: list | None = None):
    """The fit of ``mmm_config`` (sampled again, longer, if it does not converge); each attempt's wall-clock
    seconds, the fitter's timings and whether its compilation was reused go to ``attempts``."""
    def fit(cfg):
        started = time.perf_counter()
        fitted = _fit(context, model_cache.fitter_for(cfg), frame, week,
                      label if cfg is mmm_config else f"{label} again".strip())
        if attempts is not None:
            result = fitted[0]
            attempts.append((time.perf_counter() - started, dict(result.timings), result.compile_reused))
        return fitted

    where = f"mmm_posterior[{week}]{' ' + label if label else ''}"
    return fit_converging(fit, mmm_config, config.policy(), lambda message: context.log.warning(f"{where}: {message}"))


def _fit_candidates(context: dg.AssetExecutionContext, config: MMMRunConfig, model_cache: ModelCompileCache,
                    candidates: list, frame, week: str) -> tuple[list, list[humanize.FitTime]]:
    """Every candidate's fit, and with ``adstock`` ``auto`` one more: delayed carry-over with the saturation
    the first comparison keeps (one fit more, not one per saturation)."""
    fits, times = [], []

    def fit(candidate) -> None:
        attempts, label = [], config.label(candidate)
        fits.append(_fit_converging(context, config, model_cache, candidate, frame, week, label, attempts))
        times.append(humanize.FitTime.of(label or candidate.saturation.value, attempts))

    for candidate in candidates:
        fit(candidate)
    kept = candidates[int(loo_comparison(_loo_inputs(fits), config.policy())["chosen"].to_numpy().argmax())]
    if (delayed := config.carry_over_candidate(kept)) is not None:
        fit(delayed)
    return fits, times


def _loo_inputs(fits: list) -> list:
    return [(summaries.diagnostics.iloc[0], result.loo.pointwise if result.loo else None) for result, summaries in fits]


def _choose(context: dg.AssetExecutionContext, fits: list, config: MMMRunConfig, week: str):
    """The fit to keep and the PSIS-LOO comparison of the candidates (:func:`loo_comparison`; one row for a
    single fit); a choice between several goes to the log."""
    comparison = loo_comparison(_loo_inputs(fits), config.policy())
    best = int(comparison["chosen"].to_numpy().argmax())
    if len(fits) > 1:
        kept = comparison.iloc[best]
        context.log.info(f"mmm_posterior[{week}]: saturation {kept.saturation}, carry-over {kept.adstock} chosen by "
                         "PSIS-LOO: " + "; ".join(
                             f"{r.saturation}/{r.adstock} elpd {r.elpd_loo:.1f} (difference {r.elpd_diff:+.1f} ± "
                             f"{r.elpd_diff_se:.1f}){'' if r.converged else ' (not converged)'}"
                             for r in comparison.itertuples()))
        for r in comparison.itertuples():
            if not r.converged and r.elpd_diff > r.elpd_diff_se:  # the data preferred a shape we cannot trust
                context.log.warning(f"mmm_posterior[{week}]: {r.saturation}/{r.adstock} predicted left-out weeks "
                                    f"better ({r.elpd_diff:+.1f} ± {r.elpd_diff_se:.1f}) but did not converge, so "
                                    f"{kept.saturation}/{kept.adstock} is kept")
    return fits[best], comparison


def headline(roas: pd.DataFrame, diagnostics: pd.Series) -> dict[str, object]:
    """The figures shown inline on the asset's page: each channel's ROAS (posterior mean), the blended ROAS,
    the response shape kept."""
    return {"blended_roas": humanize.blended_roas(roas["spend"], roas["contribution_mean"]),
            **humanize.channel_figures(roas, "roas_mean"),
            **{part: None if pd.isna(diagnostics.get(part)) else str(diagnostics[part])
               for part in ("saturation", "adstock")}}


def _fit_week(context: dg.AssetExecutionContext, config: MMMRunConfig, model_cache: ModelCompileCache,
              candidates, week: str, window: dict[str, pd.DataFrame]) -> tuple[Stored, list]:
    """The week's window fitted with each candidate shape, the one LOO keeps summarised and saved, and the
    time each fit took."""
    started = time.perf_counter()
    spend, outcomes, controls = (window[name] for name in INPUTS)
    try:
        frame = build_model_frame(spend, outcomes, controls, end_week=week, window_weeks=candidates[0].window_weeks,
                                  min_weeks=candidates[0].min_weeks)
    except (InsufficientHistory, FrameError) as err:
        raise dg.Failure(f"mmm_posterior[{week}]: {err}", allow_retries=False) from None
    for warning in frame.warnings:
        context.log.warning(f"mmm_posterior[{week}]: {warning}")
    candidate_fits, times = _fit_candidates(context, config, model_cache, candidates, frame, week)
    (result, summaries), comparison = _choose(context, candidate_fits, config, week)
    tables = summaries.tables() | {"loo_comparison": comparison}
    tables["diagnostics"] = tables["diagnostics"].assign(**thresholds_record(config.policy()))
    tables = validate_outputs(MMM_POSTERIOR, tables)
    model_file = _scratch() / f"{week}-{context.run_id}.nc"
    save_fit(result, model_file)
    context.log.info(humanize.step_time_line(
        f"mmm_posterior[{week}]", time.perf_counter() - started, times,
        rest="window, choice, tables and saving" if len(times) > 1 else "window, tables and saving",
        detail=f"{frame.n_weeks} weeks fitted"))
    upstream = {name: span(rows) for name, rows in window.items()}
    return Stored(tables, files={MODEL_FILE: model_file}, upstream=upstream), times


def _metadata(values: dict[str, Stored], fit_seconds: dict[str, float], step_seconds: float,
              dash_url: str | None) -> dict[str, object]:
    """The materialization's metadata: the last week's headline, tables and fit plot, and the run's timing."""
    last_week, stored = next(reversed(values.items()))
    roas, fits, comparison = (stored.tables[name] for name in ("roas", "fit", "loo_comparison"))
    last = stored.tables["diagnostics"].iloc[0]
    national = fits[fits["geo"] == NATIONAL]
    return {
        **figures(headline(roas, last)),
        **dashboard_link(dash_url, DASH_PAGE, last_week),
        "diagnostics": fields(last),
        "roas": table(roas[["channel", "spend", "roas_mean", "roas_p05", "roas_p50", "roas_p95"]]),
        "fit_vs_actual": line_plot_md(national, "week", {"actual": "actual", "predicted_mean": "fitted"},
                                      band=("predicted_lower", "predicted_upper"),
                                      title=f"revenue: fit vs actual ({national['geo'].iloc[0]})"),
        "weeks_fitted": len(values),
        **({"loo_comparison": table(comparison)} if len(comparison) > 1 else {}),
        # seconds from the step's start to its output (the warehouse write follows), and of each
        # candidate's fits (every attempt, summaries included), over the run's weeks
        "step_seconds": round(step_seconds, 1),
        **{humanize.headline_key("fit_seconds", label): round(seconds, 1) for label, seconds in fit_seconds.items()},
    }


def build_mmm_asset(partitions: dg.PartitionsDefinition, window_weeks: int,
                    dash_url: str | None = None) -> dg.AssetsDefinition:
    """``dash_url``: the dashboard's address (``Settings.dash_url``), linked from each materialization."""
    @dg.asset(
        name=checks.ASSET,
        description="Posterior of the Bayesian MMM fitted on the trailing window ending at the week: ROAS, "
                    "contributions, response curves, parameters, diagnostics, and the model itself.",
        partitions_def=partitions,
        ins=window_ins(window_weeks, INPUTS),
        backfill_policy=MODEL_CHAIN_BACKFILL,
        check_specs=checks.check_specs(partitions),
        pool="model_fit",
        group_name=checks.ASSET,  # the stage: asset, folder and group share its name
        code_version=CODE_VERSION,
        kinds={"pymc", "parquet"},
        io_manager_key="warehouse_io_manager",
        metadata={"window_weeks": window_weeks},
    )
    def mmm_posterior(context: dg.AssetExecutionContext, config: MMMRunConfig, warehouse: WarehouseResource,
                      model_cache: dg.ResourceParam[ModelCompileCache], validated_spend: pd.DataFrame,
                      validated_outcomes: pd.DataFrame, validated_controls: pd.DataFrame):
        step_started = time.perf_counter()
        candidates = config.candidates(window_weeks)
        inputs = {"validated_spend": validated_spend, "validated_outcomes": validated_outcomes,
                  "validated_controls": validated_controls}
        values, diagnostics, fit_seconds = {}, {}, {}
        for week in context.partition_keys:
            window = {name: ending_at(rows, week, window_weeks) for name, rows in inputs.items()}
            require_complete(week, window_weeks, window, warehouse.get(), "mmm_posterior")
            values[week], times = _fit_week(context, config, model_cache, candidates, week, window)
            diagnostics[week] = values[week].tables["diagnostics"].iloc[0]
            for timed in times:
                fit_seconds[timed.label] = fit_seconds.get(timed.label, 0.0) + timed.seconds

        results = partition_checks.per_week(context, checks.results(diagnostics, config))
        failed = checks.failed(diagnostics, config.policy())
        if failed and not config.keep_unconverged:
            yield from results
            yield from partition_checks.commit_passing(context, warehouse, values, failed)  # the converged weeks
            raise dg.Failure(
                "mmm_posterior did not converge, so nothing was written for these weeks (their previous posterior "
                "stays; the run's converged weeks were written): "
                + "; ".join(f"{w}: {', '.join(p)}" for w, p in failed.items())
                + ". Sample longer (draws, tune, target_accept) or set keep_unconverged to store it anyway.",
                metadata={"diagnostics": table(pd.DataFrame(diagnostics).T.reset_index(names="week"))},
                allow_retries=False)
        yield from results
        step_seconds = time.perf_counter() - step_started
        if len(values) > 1:
            context.log.info(f"mmm_posterior: {len(values)} weeks, {humanize.duration(step_seconds)} in all")
        yield dg.Output(values if len(values) > 1 else next(iter(values.values())),
                        metadata=_metadata(values, fit_seconds, step_seconds, dash_url))

    return mmm_posterior
