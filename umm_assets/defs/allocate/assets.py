"""allocation: the recommended split of next week's budget, on the reconciled response curves."""

import dagster as dg
import pandas as pd

from umm_assets import __version__
from umm_assets.defs.allocate import checks
from umm_assets.defs.allocate.config import AllocationRunConfig
from umm_assets.defs.metadata import line_plot_md, table_md
from umm_assets.defs.reconcile.assets import posterior_of
from umm_assets.defs.windows import ending_at, span, window_ins
from umm_assets.lib import allocate
from umm_assets.lib.mmm.response import geo_shares_array
from umm_assets.lib.outputs import ALLOCATION, validate_outputs
from umm_assets.lib.storage import Stored
from umm_assets.lib.weeks import CURRENT_WEEKS

CODE_VERSION = f"{__version__}-allocate.2"


def build_allocation_asset(partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name=checks.ASSET,
        description="Recommended weekly budget split over channels (expected revenue and its uplift with 90 % "
                    "intervals), plus an efficiency frontier from 50 % to 150 % of the current budget.",
        partitions_def=partitions,
        ins={"reconciled_lift": dg.AssetIn(), **window_ins(CURRENT_WEEKS, ["validated_spend"])},
        check_specs=checks.check_specs(),
        group_name="model",
        code_version=CODE_VERSION,
        kinds={"scipy", "parquet"},
        io_manager_key="warehouse_io_manager",
    )
    def allocation(context: dg.AssetExecutionContext, config: AllocationRunConfig, reconciled_lift,
                   validated_spend: pd.DataFrame):
        views = reconciled_lift if isinstance(reconciled_lift, dict) else {context.partition_keys[0]: reconciled_lift}
        values, last = {}, None
        for week in context.partition_keys:
            view = views[week]
            posterior = posterior_of(view)
            model = posterior.model()
            shares = geo_shares_array(posterior.spec)
            spend = ending_at(validated_spend, week, CURRENT_WEEKS)
            try:
                problem = allocate.build_problem(model.channels, allocate.current_spend(spend), config.budget,
                                                 bounds=config.bounds(), locked=config.locked,
                                                 max_change=config.max_change)
            except (allocate.InfeasibleBudget, allocate.UnknownChannel) as err:
                raise dg.Failure(f"allocation[{week}]: {err}", allow_retries=False) from None
            objective = allocate.Objective(config.objective)
            result = allocate.allocate(model, problem, objective=objective, alpha=config.cvar_alpha, shares=shares)
            frontier, frontier_allocations = allocate.frontier(model, problem, objective=objective,
                                                               alpha=config.cvar_alpha, shares=shares)
            summary = pd.DataFrame([{**result.summary, "max_change": config.max_change,
                                     "source": "reconciled_lift"}])
            tables = validate_outputs(ALLOCATION, {
                "allocation": result.allocation, "summary": summary, "frontier": frontier,
                "frontier_allocations": frontier_allocations,
                "parameter_draws": posterior.parameter_draws, "spec": view.table("spec")})
            values[week] = Stored(tables, upstream={"reconciled_lift": {"partition": week,
                                                                         "version": view.commit.version},
                                                    "validated_spend": span(spend)})
            last = tables
            if result.summary["status"] != "optimal":
                context.log.warning(f"allocation[{week}]: optimizer failed: {result.summary['message']}")

        yield from checks.results(last["allocation"], last["summary"].iloc[0])
        yield dg.Output(values if len(values) > 1 else next(iter(values.values())), metadata={
            "allocation": table_md(last["allocation"][["channel", "current", "recommended", "lower_bound",
                                                       "upper_bound", "marginal_roas_recommended"]], digits=2),
            "summary": table_md(last["summary"], digits=2),
            "frontier": line_plot_md(last["frontier"], "budget", {"expected_revenue_mean": "optimal revenue"},
                                     band=("expected_revenue_lower", "expected_revenue_upper"),
                                     title="efficiency frontier: weekly revenue vs weekly budget"),
        })

    return allocation
