"""GET /api/v1/response-curves: weekly revenue as a function of weekly spend, per channel."""

from enum import StrEnum
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Request, Response

from umm_api.deps import AsOf, Channels, Reader, RequireViewer
from umm_api.schemas import Interval, IntervalSeries, ResponseCurve, ResponseCurvesResponse, clean
from umm_api.serving import check_channels, serve
from umm_assets.lib.outputs import MMM_POSTERIOR, RECONCILED_LIFT
from umm_assets.lib.serving.reader import Snapshot

router = APIRouter(prefix="/api/v1", tags=["mmm"])


class Source(StrEnum):
    mmm = "mmm"
    reconciled = "reconciled"


ASSETS = {Source.mmm: MMM_POSTERIOR, Source.reconciled: RECONCILED_LIFT}


def _series(frame, prefix: str) -> IntervalSeries:
    return IntervalSeries(**{k: [clean(v) for v in frame[f"{prefix}_{k}"]] for k in ("mean", "lower", "upper")})


def _at(frame, prefix: str, spend: float | None) -> Interval:
    if spend is None or frame.empty:
        return Interval.of(None, None, None)
    grid = frame["spend"].to_numpy(dtype=float)
    return Interval.of(*(np.interp(spend, grid, frame[f"{prefix}_{k}"].to_numpy(dtype=float))
                         for k in ("mean", "lower", "upper")))


def build(snapshot: Snapshot, source: Source, channels: tuple[str, ...]) -> ResponseCurvesResponse:
    frame = snapshot.table("response_curves")
    known = sorted(frame["channel"].astype(str).unique())
    wanted = check_channels(channels, known) if channels else known
    curves = []
    for channel in wanted:
        rows = frame[frame["channel"] == channel].sort_values("spend")
        current = clean(rows["current_spend"].iloc[0]) if not rows.empty else None
        curves.append(ResponseCurve(
            channel=channel,
            spend=[float(s) for s in rows["spend"]],
            response=_series(rows, "response"),
            marginal_roas=_series(rows, "marginal_roas"),
            current_spend=current,
            current_response=_at(rows, "response", current),
            current_marginal_roas=_at(rows, "marginal_roas", current),
        ))
    return ResponseCurvesResponse(as_of=snapshot.commit.partition, source=source.value, channels=curves,
                                  lineage=snapshot.lineage())


@router.get("/response-curves", response_model=ResponseCurvesResponse, summary="Response curves per channel")
async def get_response_curves(
    request: Request, _: RequireViewer, reader: Reader, as_of: AsOf, channels: Channels,
    source: Annotated[Source, Query(description="mmm: the MMM's curves; reconciled: calibrated by experiments")]
    = Source.mmm,
) -> Response:
    """Per channel: a weekly-spend grid, the steady-state weekly `response` `{mean, lower, upper}` and the
    marginal ROAS along it, the current weekly spend, and the response and marginal ROAS at that spend."""
    return await serve(request, reader, "response-curves", ASSETS[source], as_of, (source.value, channels),
                       lambda snapshot: build(snapshot, source, channels))
