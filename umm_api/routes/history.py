"""GET /api/v1/history: each channel's ROAS and recommended spend across the materialized as-of weeks."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from umm_api.deps import Reader, RequireViewer, parse_week
from umm_api.errors import InvalidParameter
from umm_api.schemas import HistoryChannel, HistoryResponse, HistoryWeek, Interval, Lineage, clean
from umm_api.serving import respond
from umm_assets.lib.serving import history as history_table
from umm_assets.lib.serving.reader import CachedReader

router = APIRouter(prefix="/api/v1", tags=["reconciliation"])


def _channel(row: dict) -> HistoryChannel:
    return HistoryChannel(channel=row["channel"],
                          roas=Interval.of(row["roas_mean"], row["roas_lower"], row["roas_upper"]),
                          mmm_roas=Interval.of(row["mmm_roas_mean"], row["mmm_roas_lower"], row["mmm_roas_upper"]),
                          current=clean(row["current"]), recommended=clean(row["recommended"]),
                          held=bool(row["held"]))


def _history(reader: CachedReader, start: str | None, end: str | None):
    found = history_table.history(reader, start, end)

    def build() -> HistoryResponse:
        weeks = [HistoryWeek(as_of=week, channels=[_channel(r) for r in group.to_dict("records")])
                 for week, group in found.frame.groupby("as_of", sort=True)]
        newest = max((c for cs in found.commits.values() for c in cs), key=lambda c: c.materialized_at, default=None)
        return HistoryResponse(
            start=start, end=end, weeks=weeks,
            lineage=Lineage(asset="history", partition=weeks[-1].as_of if weeks else None,
                            run_id=newest.run_id if newest else None,
                            materialized_at=newest.materialized_at if newest else None,
                            upstream={a: [c.partition for c in cs] for a, cs in found.commits.items()}))

    return reader.serve_many("history", (start, end, found.signature), build)


@router.get("/history", response_model=HistoryResponse, summary="ROAS and recommended split across as-of weeks")
async def get_history(
    request: Request, _: RequireViewer, reader: Reader,
    start: Annotated[str | None, Query(alias="from", max_length=64, description="first as-of week (a Monday)",
                                       examples=["2026-01-05"])] = None,
    end: Annotated[str | None, Query(alias="to", max_length=64, description="last as-of week (a Monday)")] = None,
) -> Response:
    """Per materialized as-of week in the range (default: all), oldest first: per channel the reconciled `roas`
    and the MMM's `mmm_roas` `{mean, lower, upper}`, and the `current` and `recommended` weekly spend: the
    rolling-origin history a backfill of the model chain makes."""
    start = None if start is None else parse_week(start, "from")
    end = None if end is None else parse_week(end, "to")
    if start and end and end < start:
        raise InvalidParameter(f"to={end} is before from={start}")
    return respond(request, await run_in_threadpool(_history, reader, start, end))
