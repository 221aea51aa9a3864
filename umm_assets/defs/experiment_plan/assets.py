"""experiment_plan: which incrementality test to run next, priced in revenue (a preposterior analysis of the
week's allocation posterior: see :mod:`umm_assets.lib.experiment_plan`)."""

import time

import dagster as dg
import pandas as pd

from umm_assets import __version__
from umm_assets.defs import partition_checks
from umm_assets.defs.experiment_plan import checks
from umm_assets.defs.experiment_plan.config import ExperimentPlanRunConfig
from umm_assets.defs.metadata import dashboard_link, fields, figures, table
from umm_assets.defs.mmm_posterior.assets import MODEL_CHAIN_BACKFILL
from umm_assets.defs.windows import ending_at, known_by, span, window_ins
from umm_assets.lib import allocate, humanize
from umm_assets.lib import experiment_plan as preposterior
from umm_assets.lib.outputs import EXPERIMENT_PLAN, validate_outputs
from umm_assets.lib.storage import Stored

CODE_VERSION = f"{__version__}-experiment_plan.1"
DASH_PAGE = "/roas"  # the ROAS page shows the plan under the channels' intervals (umm_dash/pages/roas.py)
SHOWN = ["rank", "channel", "kind", "weeks", "spend_level", "roas_halfwidth_today", "roas_halfwidth_after",
         "value_per_week", "cost", "net_value", "worth_it"]


def planned(allocation_view) -> tuple[allocate.ScenarioSolver, float]:
    """The stored allocation partition as its scenarios are solved (its posterior, held channels from the plain
    MMM, bounds, locks, objective and the plain MMM every plan is held to), and its budget."""
    solver = allocate.ScenarioSolver({name: allocation_view.table(name) for name in allocation_view.commit.tables})
    return solver, float(allocation_view.table("summary")["budget"].iloc[0])


def assess(config: ExperimentPlanRunConfig, solver: allocate.ScenarioSolver, budget: float, tests: pd.DataFrame,
           spend: pd.DataFrame, *, seed: int, channels=None) -> preposterior.ExperimentPlan:
    """The tests' plan on the stored allocation partition (``solver`` and ``budget``: :func:`planned`)."""
    result = preposterior.plan(
        solver.model, spend, solver.problem(budget), tests, dict(zip(solver.model.channels, solver.recommended)),
        objective=solver.objective, alpha=solver.alpha, shares=solver.shares, reference=solver.reference,
        channels=channels, durations=config.durations, noise_cv=config.noise_cv, n_outcomes=config.n_outcomes,
        max_draws=config.max_draws, min_ess=config.min_ess, horizon_weeks=config.horizon_weeks, seed=seed)
    # a test of a held channel would lift its hold, which the re-planning here does not: its value is a floor
    result.notes += [f"{c} is held at its current spend ({reason}): a test of it is valued as if the hold stayed, "
                     "so its value is a lower bound" for c, reason in solver.holds.items()]
    return result


def tables_of(result: preposterior.ExperimentPlan) -> dict[str, pd.DataFrame]:
    """The stored tables: every design with its sentence, and one summary row (settings, verdicts, notes)."""
    designs = result.designs.assign(sentence=preposterior.sentences(result))
    best = designs[designs["best"]]  # ranked: the first is the test to run next
    settings = {k: v for k, v in result.settings.items() if k != "today_plan"}
    summary = {**settings, "top_channel": best["channel"].iloc[0] if len(best) else "",
               "top_sentence": best["sentence"].iloc[0] if len(best) else "",
               "worth_testing": ",".join(best.loc[best["worth_it"], "channel"]),
               "not_worth_testing": ",".join(result.not_worth_testing), "notes": "\n".join(result.notes)}
    return validate_outputs(EXPERIMENT_PLAN, {"designs": designs, "summary": pd.DataFrame([summary])})


def _week(context, config: ExperimentPlanRunConfig, week: str, allocation_view, validated_tests: pd.DataFrame,
          validated_spend: pd.DataFrame, window_weeks: int) -> tuple[Stored, pd.DataFrame]:
    """The week's plan, and the check's re-assessment of its two leading channels with another seed."""
    started = time.perf_counter()
    spend, tests = ending_at(validated_spend, week, window_weeks), known_by(validated_tests, week)
    solver, budget = planned(allocation_view)  # once: the check's re-run plans on the same partition
    result = assess(config, solver, budget, tests, spend, seed=config.seed)
    leaders = list(result.best["channel"].head(2))
    rerun = (assess(config, solver, budget, tests, spend, seed=config.check_seed, channels=leaders).designs
             if len(leaders) > 1 else None)
    for note in result.notes:
        context.log.info(f"experiment_plan[{week}]: {note}")
    context.log.info(f"experiment_plan[{week}]: {len(result.designs)} designs in "
                     f"{humanize.duration(time.perf_counter() - started)}")
    upstream = {"allocation": {"partition": week, "version": allocation_view.commit.version},
                "validated_spend": span(spend), "validated_tests": [str(t) for t in tests["test_id"]]}
    return Stored(tables_of(result), upstream=upstream), rerun


def headline(summary: pd.Series) -> dict[str, object]:
    """The figures shown inline on the asset's page: the test to run next (in words), and the channels no test
    is worth its cost for."""
    return {"top_channel": str(summary["top_channel"]) or None, "next_test": str(summary["top_sentence"]) or None,
            "not_worth_testing": str(summary["not_worth_testing"]) or None}


def build_experiment_plan_asset(partitions: dg.PartitionsDefinition, window_weeks: int,
                                dash_url: str | None = None) -> dg.AssetsDefinition:
    """``dash_url``: the dashboard's address (``Settings.dash_url``), linked from each materialization."""
    @dg.asset(
        name=checks.ASSET,
        description="Which incrementality test to run next: for each channel and design (holdout or +50 % spend, "
                    "2/4/6 weeks, at the usual and the recommended spend), the ROAS interval after it, the "
                    "revenue a better split would gain per week, and what the test costs; ranked.",
        partitions_def=partitions,
        ins={"allocation": dg.AssetIn(), "validated_tests": dg.AssetIn(),
             **window_ins(window_weeks, ["validated_spend"])},
        backfill_policy=MODEL_CHAIN_BACKFILL,  # mmm_posterior's: the chain's weeks run together
        check_specs=checks.check_specs(partitions),
        group_name=checks.ASSET,  # the stage: asset, folder and group share its name
        code_version=CODE_VERSION,
        kinds={"scipy", "parquet"},
        io_manager_key="warehouse_io_manager",
    )
    def experiment_plan(context: dg.AssetExecutionContext, config: ExperimentPlanRunConfig, allocation,
                        validated_tests: pd.DataFrame, validated_spend: pd.DataFrame):
        views = allocation if isinstance(allocation, dict) else {context.partition_keys[0]: allocation}
        weeks = {week: _week(context, config, week, views[week], validated_tests, validated_spend, window_weeks)
                 for week in context.partition_keys}
        values = {week: stored for week, (stored, _) in weeks.items()}
        yield from partition_checks.per_week(context, {
            week: checks.results(stored.tables["designs"], rerun) for week, (stored, rerun) in weeks.items()})
        last_week = next(reversed(values))
        last = values[last_week].tables
        yield dg.Output(values if len(values) > 1 else next(iter(values.values())), metadata={
            **figures(headline(last["summary"].iloc[0])),
            **dashboard_link(dash_url, DASH_PAGE, last_week),
            "best_per_channel": table(last["designs"][last["designs"]["best"]][SHOWN]),
            "summary": fields(last["summary"].iloc[0].drop(["notes", "top_sentence"])),
        })

    return experiment_plan
