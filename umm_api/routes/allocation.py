"""GET /api/v1/allocation: the recommended weekly budget split as of a week."""

from collections.abc import Mapping
from typing import Any

import pandas as pd
from fastapi import APIRouter, Request, Response

from umm_api.deps import AsOf, Channels, Reader, RequireViewer
from umm_api.schemas import (
    AllocationChannel,
    AllocationResponse,
    Bounds,
    CurrentRecommended,
    ExpectedRevenue,
    FrontierPoint,
    MeasuredSpend,
    clean,
)
from umm_api.serving import check_channels, integer, interval, serve
from umm_assets.lib.outputs import ALLOCATION
from umm_assets.lib.serving.reader import Snapshot

router = APIRouter(prefix="/api/v1", tags=["allocation"])


def _measured(row: Mapping[str, Any]) -> MeasuredSpend | None:
    if clean(row.get("weekly_spend_p05")) is None:  # a plan stored before the ranges were recorded
        return None
    return MeasuredSpend(p05=clean(row["weekly_spend_p05"]), p95=clean(row["weekly_spend_p95"]),
                         tested=clean(row.get("tested_weekly_spend")))


def _channel(row: Mapping[str, Any]) -> AllocationChannel:
    current, recommended = clean(row["current"]), clean(row["recommended"])
    return AllocationChannel(
        channel=str(row["channel"]),
        current=current,
        recommended=recommended,
        change=None if current is None or recommended is None else recommended - current,
        bounds=Bounds(lower=clean(row["lower_bound"]), upper=clean(row["upper_bound"])),
        locked=bool(row["locked"]),
        hold_reason=str(row.get("hold_reason") or ""),
        measured_spend=_measured(row),
        support=str(row.get("support") or "unknown"),
        support_note=str(row.get("support_note") or ""),
        marginal_roas=CurrentRecommended(current=clean(row["marginal_roas_current"]),
                                         recommended=clean(row["marginal_roas_recommended"])),
        expected_revenue=CurrentRecommended(current=clean(row["expected_revenue_current"]),
                                            recommended=clean(row["expected_revenue_recommended"])),
    )


def payload(allocation: pd.DataFrame, summary: Mapping[str, Any], frontier: pd.DataFrame | None,
            as_of: str, lineage: dict) -> dict[str, Any]:
    """The allocation shape (shared with scenarios) from the stage's tables."""
    return {
        "as_of": as_of,
        "budget": clean(summary["budget"]),
        "current_total": clean(summary.get("current_total")),
        "objective": str(summary.get("objective", "")),
        "status": str(summary.get("status", "")),
        "message": str(summary.get("message", "") or ""),
        "iterations": integer(summary.get("iterations")),
        "decision": str(summary.get("decision") or "recommended"),
        "decision_reason": str(summary.get("decision_reason") or ""),
        "expected_revenue": ExpectedRevenue(
            current=clean(summary["expected_revenue_current"]),
            recommended=clean(summary["expected_revenue_recommended"]),
            uplift=interval(summary, "uplift"),
            uplift_under_mmm=interval(summary, "uplift_mmm") if "uplift_mmm_mean" in summary else None,
        ),
        "channels": [_channel(r) for r in allocation.sort_values("channel").to_dict("records")],
        "frontier": [] if frontier is None else [
            FrontierPoint(budget=clean(r["budget"]), budget_ratio=clean(r["budget_ratio"]),
                          expected_revenue=interval(r, "expected_revenue"), uplift=interval(r, "uplift"))
            for r in frontier.sort_values("budget").to_dict("records")],
        "lineage": lineage,
    }


def build(snapshot: Snapshot, channels: tuple[str, ...] = ()) -> AllocationResponse:
    summary = snapshot.table("summary").iloc[0].to_dict()
    frontier = snapshot.table("frontier") if snapshot.has("frontier") else None
    allocation = snapshot.table("allocation")
    if channels:  # only these channels' rows; the budget and totals stay those of the whole split
        check_channels(channels, sorted(allocation["channel"].astype(str)))
        allocation = allocation[allocation["channel"].isin(channels)]
    return AllocationResponse(**payload(allocation, summary, frontier, snapshot.commit.partition, snapshot.lineage()))


@router.get("/allocation", response_model=AllocationResponse, summary="Recommended weekly budget split")
async def get_allocation(request: Request, _: RequireViewer, reader: Reader, as_of: AsOf,
                         channels: Channels) -> Response:
    """The weekly `budget`; per channel its `current` and `recommended` weekly spend, bounds and marginal ROAS;
    `expected_revenue` `{current, recommended, uplift {mean, lower, upper}}`; and the budget frontier."""
    return await serve(request, reader, "allocation", ALLOCATION, as_of, channels,
                       lambda snapshot: build(snapshot, channels))


