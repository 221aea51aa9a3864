"""GET /api/v1/experiment-plan: which incrementality test to run next, priced in revenue."""

from fastapi import APIRouter, Query, Request, Response

from umm_api.deps import AsOf, Channels, Reader, RequireViewer
from umm_api.schemas import ExperimentDesign, ExperimentPlanResponse, ExperimentPlanSummary, Interval, clean
from umm_api.serving import check_channels, integer, serve, text
from umm_assets.lib.outputs import EXPERIMENT_PLAN
from umm_assets.lib.serving.reader import Snapshot

router = APIRouter(prefix="/api/v1", tags=["experiment plan"])


def _list(value) -> list[str]:
    value = text(value)
    return [v for v in value.split(",") if v] if value else []


def _design(row: dict) -> ExperimentDesign:
    return ExperimentDesign(
        rank=int(row["rank"]), channel=str(row["channel"]), kind=row["kind"], weeks=int(row["weeks"]),
        spend_level=row["spend_level"], weekly_spend=clean(row["weekly_spend"]),
        test_weekly_spend=clean(row["test_weekly_spend"]), roas_halfwidth_today=clean(row["roas_halfwidth_today"]),
        roas_halfwidth_after=clean(row["roas_halfwidth_after"]),
        value_per_week=Interval.of(row["value_per_week"], row["value_per_week_lower"], row["value_per_week_upper"]),
        revenue_forgone=clean(row["revenue_forgone"]), spend_saved=clean(row["spend_saved"]), cost=clean(row["cost"]),
        net_value=clean(row["net_value"]), worth_it=bool(row["worth_it"]), best=bool(row["best"]),
        reliable=bool(row["reweighting_reliable"]), sentence=str(row["sentence"]))


def build(snapshot: Snapshot, wanted: tuple[str, ...] = (), best_only: bool = False) -> ExperimentPlanResponse:
    designs = snapshot.table("designs")
    if wanted:
        check_channels(wanted, sorted(designs["channel"].astype(str).unique()))
        designs = designs[designs["channel"].isin(wanted)]
    if best_only:
        designs = designs[designs["best"]]
    row = snapshot.table("summary").iloc[0].to_dict()
    summary = ExperimentPlanSummary(
        top_channel=text(row["top_channel"]), next_test=text(row["top_sentence"]),
        worth_testing=_list(row["worth_testing"]), not_worth_testing=_list(row["not_worth_testing"]),
        horizon_weeks=integer(row["horizon_weeks"]) or 0, noise_cv=clean(row["noise_cv"]),
        noise_source=str(row["noise_source"]), budget_marginal_roas=clean(row["budget_marginal_roas"]),
        notes=[n for n in str(row["notes"]).split("\n") if n])
    return ExperimentPlanResponse(as_of=snapshot.commit.partition, summary=summary, lineage=snapshot.lineage(),
                                  designs=[_design(r) for r in designs.sort_values("rank").to_dict("records")])


@router.get("/experiment-plan", response_model=ExperimentPlanResponse, summary="Which test to run next")
async def get_experiment_plan(request: Request, _: RequireViewer, reader: Reader, as_of: AsOf, channels: Channels,
                              best: bool = Query(False, description="only each channel's best design")) -> Response:
    """Each candidate test (holdout or +50 % spend; 2, 4 or 6 weeks; at the usual or the recommended spend),
    ranked by its net value: the ROAS interval today and expected after it, the revenue per week a better split
    would gain from what it teaches (`value_per_week`, with its Monte-Carlo interval), and what it costs."""
    return await serve(request, reader, "experiment_plan", EXPERIMENT_PLAN, as_of, (channels, best),
                       lambda snapshot: build(snapshot, channels, best))
