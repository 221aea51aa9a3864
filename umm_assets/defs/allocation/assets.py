"""allocation: the recommended split of next week's budget, on the reconciled response curves."""

import dagster as dg
import pandas as pd

from umm_assets import __version__
from umm_assets.defs import partition_checks
from umm_assets.defs.allocation import checks
from umm_assets.defs.allocation.config import AllocationRunConfig
from umm_assets.defs.metadata import dashboard_link, fields, figures, line_plot_md, table
from umm_assets.defs.mmm_posterior.assets import MODEL_CHAIN_BACKFILL
from umm_assets.defs.reconciled_lift.assets import posterior_of
from umm_assets.defs.resources import WarehouseResource
from umm_assets.defs.windows import ending_at, span, window_ins
from umm_assets.lib import allocate, support
from umm_assets.lib.mmm.response import geo_shares_array
from umm_assets.lib.outputs import ALLOCATION, validate_outputs
from umm_assets.lib.storage import Stored
from umm_assets.lib.weeks import CURRENT_WEEKS

CODE_VERSION = f"{__version__}-allocate.4"


def _holds(reconciled_view) -> dict[str, str]:
    """Channels the reconciliation's guard rail holds at their current spend, with the reason."""
    table = reconciled_view.table("reconciled")
    if "hold_in_allocation" not in table:  # stored before the guard rail existed
        return {}
    held = table[table["hold_in_allocation"].astype(bool)]
    return dict(zip(held["channel"], held["guard_note"]))


def _plan(week: str, config: AllocationRunConfig, reconciled_view, mmm_view, validated_spend: pd.DataFrame):
    """The week's allocation tables: held channels locked at their current spend (their curves from the MMM),
    every plan also held to the plain MMM (see :func:`allocate.guarded`)."""
    holds = _holds(reconciled_view)
    mmm = posterior_of(mmm_view)
    posterior = posterior_of(reconciled_view).with_channels_from(mmm, list(holds))
    model = posterior.model()
    reference = allocate.Reference(mmm.model(), geo_shares_array(mmm.spec))
    shares = geo_shares_array(posterior.spec)
    spend = ending_at(validated_spend, week, CURRENT_WEEKS)
    try:
        problem = allocate.build_problem(model.channels, allocate.current_spend(spend), config.budget,
                                         bounds=config.bounds(), locked=[*config.locked, *holds],
                                         max_change=config.max_change)
    except (allocate.InfeasibleBudget, allocate.UnknownChannel) as err:
        raise dg.Failure(f"allocation[{week}]: {err}", allow_retries=False) from None
    objective = allocate.Objective(config.objective)
    result = allocate.with_holds(allocate.allocate(model, problem, objective=objective, alpha=config.cvar_alpha,
                                                   shares=shares, reference=reference), holds)
    frontier, frontier_allocations = allocate.frontier(model, problem, objective=objective, alpha=config.cvar_alpha,
                                                       shares=shares)
    coverage = reconciled_view.table("test_coverage") if reconciled_view.has("test_coverage") else None
    result.allocation = support.with_support(result.allocation,
                                             support.measured_ranges(mmm_view.table("roas"), coverage))
    summary = pd.DataFrame([{**result.summary, "max_change": config.max_change, "source": "reconciled_lift",
                             "held_channels": ",".join(holds),
                             "outside_data": ",".join(support.outside(result.allocation))}])
    tables = validate_outputs(ALLOCATION, {
        "allocation": result.allocation, "summary": summary, "frontier": frontier,
        "frontier_allocations": frontier_allocations, "parameter_draws": posterior.parameter_draws,
        "spec": reconciled_view.table("spec"),
        # the plain MMM every plan is held to, for scenarios solved later from this partition
        "mmm_parameter_draws": mmm.parameter_draws, "mmm_spec": mmm_view.table("spec")})
    return tables, spend


DASH_PAGE = "/planner"  # the dashboard's "Budget planner" page (umm_dash/pages/planner.py)


def headline(summary: pd.Series) -> dict[str, object]:
    """The figures shown inline on the asset's page: the decision, the budget, the expected uplift (mean and
    90 % interval, per week, and as a share of the current plan's revenue), the channels held."""
    current = float(summary["expected_revenue_current"])
    return {"decision": str(summary["decision"]), "budget": round(float(summary["budget"])),
            "uplift": round(float(summary["uplift_mean"])), "uplift_lower": round(float(summary["uplift_lower"])),
            "uplift_upper": round(float(summary["uplift_upper"])),
            "uplift_percent": round(100 * float(summary["uplift_mean"]) / current, 2) if current > 0 else None,
            "held_channels": str(summary["held_channels"]) or None,
            "outside_data": str(summary.get("outside_data", "")) or None}


def build_allocation_asset(partitions: dg.PartitionsDefinition, dash_url: str | None = None) -> dg.AssetsDefinition:
    """``dash_url``: the dashboard's address (``Settings.dash_url``), linked from each materialization."""
    @dg.asset(
        name=checks.ASSET,
        description="Recommended weekly budget split over channels (expected revenue and its uplift with 90 % "
                    "intervals), plus an efficiency frontier from 50 % to 150 % of the current budget.",
        partitions_def=partitions,
        ins={"reconciled_lift": dg.AssetIn(), "mmm_posterior": dg.AssetIn(),
             **window_ins(CURRENT_WEEKS, ["validated_spend"])},
        backfill_policy=MODEL_CHAIN_BACKFILL,  # mmm_posterior's: the chain's weeks run together
        check_specs=checks.check_specs(partitions),
        group_name=checks.ASSET,  # the stage: asset, folder and group share its name
        code_version=CODE_VERSION,
        kinds={"scipy", "parquet"},
        io_manager_key="warehouse_io_manager",
    )
    def allocation(context: dg.AssetExecutionContext, config: AllocationRunConfig, warehouse: WarehouseResource,
                   reconciled_lift, mmm_posterior, validated_spend: pd.DataFrame):
        single = context.partition_keys[0]
        reconciled = reconciled_lift if isinstance(reconciled_lift, dict) else {single: reconciled_lift}
        mmm = mmm_posterior if isinstance(mmm_posterior, dict) else {single: mmm_posterior}
        values, last = {}, None
        for week in context.partition_keys:
            last, spend = _plan(week, config, reconciled[week], mmm[week], validated_spend)
            values[week] = Stored(last, upstream={
                "reconciled_lift": {"partition": week, "version": reconciled[week].commit.version},
                "mmm_posterior": {"partition": week, "version": mmm[week].commit.version},
                "validated_spend": span(spend)})
            summary = last["summary"].iloc[0]
            if summary["status"] != "optimal":
                context.log.warning(f"allocation[{week}]: optimizer failed: {summary['message']}")
            for reason in [summary["decision_reason"], *last["allocation"]["hold_reason"],
                           *last["allocation"]["support_note"]]:
                if reason:
                    context.log.warning(f"allocation[{week}]: {reason}")

        results = {week: checks.results(v.tables["allocation"], v.tables["summary"].iloc[0])
                   for week, v in values.items()}
        failed = partition_checks.failing(context, results)
        yield from partition_checks.per_week(context, results)
        if failed:  # a plan that breaks the budget, a bound or loses revenue is never committed nor served
            yield from partition_checks.commit_passing(context, warehouse, values, failed)
            raise dg.Failure("allocation failed a blocking check, so these weeks' plans were not written (their "
                             "previous plan stays served): " + "; ".join(f"{w}: {', '.join(c)}" for w, c in failed.items()),
                             allow_retries=False)
        last_week = next(reversed(values))
        yield dg.Output(values if len(values) > 1 else next(iter(values.values())), metadata={
            **figures(headline(last["summary"].iloc[0])),
            **dashboard_link(dash_url, DASH_PAGE, last_week),
            "allocation": table(last["allocation"][["channel", "current", "recommended", "lower_bound",
                                                    "upper_bound", "marginal_roas_recommended", "hold_reason",
                                                    "support"]]),
            "summary": fields(last["summary"].iloc[0]),
            "frontier": line_plot_md(last["frontier"], "budget", {"expected_revenue_mean": "optimal revenue"},
                                     band=("expected_revenue_lower", "expected_revenue_upper"),
                                     title="efficiency frontier: weekly revenue vs weekly budget"),
        })

    return allocation
