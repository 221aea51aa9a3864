"""GET /api/v1/contributions: the weekly decomposition of revenue into baseline and channels."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from umm_api.deps import AsOf, Channels, Reader, RequireViewer
from umm_api.schemas import ContributionsResponse, ContributionWeek, Interval, clean
from umm_api.serving import check_channels, serve, text
from umm_assets.lib.contracts import NATIONAL
from umm_assets.lib.outputs import MMM_POSTERIOR
from umm_assets.lib.serving.reader import Snapshot

router = APIRouter(prefix="/api/v1", tags=["mmm"])
BASELINE = "baseline"


def build(snapshot: Snapshot, geo: str, wanted: tuple[str, ...] = ()) -> ContributionsResponse:
    frame = snapshot.table("contributions")
    geos = sorted(frame["geo"].astype(str).unique())
    check_channels([geo], geos, "geo")
    frame = frame[frame["geo"] == geo]
    channels = sorted(c for c in frame["component"].astype(str).unique() if c != BASELINE)
    if wanted:
        channels = check_channels(wanted, channels)
    fit = {}
    if snapshot.has("fit"):
        fits = snapshot.table("fit")
        fit = {text(r["week"]): r for r in fits[fits["geo"] == geo].to_dict("records")}
    weeks = []
    for week, group in frame.groupby("week", sort=True):
        parts = {r["component"]: Interval.of(r["mean"], r["lower"], r["upper"]) for r in group.to_dict("records")}
        key = text(week)
        observed = fit.get(key)
        weeks.append(ContributionWeek(
            week=key,
            baseline=parts.get(BASELINE, Interval.of(None, None, None)),
            channels={c: parts[c] for c in channels if c in parts},
            actual=clean(observed["actual"]) if observed else None,
            predicted=Interval.of(observed["predicted_mean"], observed["predicted_lower"], observed["predicted_upper"])
            if observed else None,
        ))
    return ContributionsResponse(as_of=snapshot.commit.partition, geo=geo, geos=geos, channels=channels,
                                 weeks=weeks, lineage=snapshot.lineage())


@router.get("/contributions", response_model=ContributionsResponse, summary="Weekly contributions (MMM)")
async def get_contributions(
    request: Request, _: RequireViewer, reader: Reader, as_of: AsOf, channels: Channels,
    geo: Annotated[str, Query(max_length=100, description="a geo of the model, or the national total")] = NATIONAL,
) -> Response:
    """Per week of the model window: the baseline and each channel's contribution `{mean, lower, upper}`
    (weekly revenue), with the observed and predicted revenue."""
    return await serve(request, reader, "contributions", MMM_POSTERIOR, as_of, (geo, channels),
                       lambda snapshot: build(snapshot, geo, channels))
