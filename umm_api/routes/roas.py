"""GET /api/v1/roas: each channel's return on ad spend from the MMM."""

from fastapi import APIRouter, Request, Response

from umm_api.deps import AsOf, Channels, Reader, RequireViewer
from umm_api.schemas import Interval, RoasResponse, RoasRow, Window, clean
from umm_api.serving import check_channels, serve, text
from umm_assets.lib.outputs import MMM_POSTERIOR
from umm_assets.lib.serving.reader import Snapshot

router = APIRouter(prefix="/api/v1", tags=["mmm"])


def window(snapshot: Snapshot) -> Window:
    """The model window, from the diagnostics table."""
    if not snapshot.has("diagnostics"):
        return Window(start=None, end=None, weeks=None)
    row = snapshot.table("diagnostics").iloc[0]
    weeks = row.get("n_weeks")
    return Window(start=text(row.get("window_start")), end=text(row.get("window_end")),
                  weeks=int(weeks) if clean(weeks) is not None else None)


def build(snapshot: Snapshot, channels: tuple[str, ...] = ()) -> RoasResponse:
    frame = snapshot.table("roas")
    if channels:
        check_channels(channels, sorted(frame["channel"].astype(str)))
        frame = frame[frame["channel"].isin(channels)]
    span = window(snapshot)
    weeks = span.weeks or 1
    rows = []
    for row in frame.sort_values("channel").to_dict("records"):
        spend = clean(row["spend"])
        rows.append(RoasRow(
            channel=row["channel"],
            spend=None if spend is None else spend / weeks,
            contribution=None if clean(row["contribution_mean"]) is None else row["contribution_mean"] / weeks,
            roas=Interval.of(row["roas_mean"], row["roas_p05"], row["roas_p95"]),
            roas_median=clean(row["roas_p50"]),
            contribution_interval=Interval.of(row["contribution_mean"] / weeks, row["contribution_p05"] / weeks,
                                              row["contribution_p95"] / weeks),
            spend_total=spend,
            contribution_total=Interval.of(row["contribution_mean"], row["contribution_p05"], row["contribution_p95"]),
        ))
    return RoasResponse(as_of=snapshot.commit.partition, window=span, channels=rows, lineage=snapshot.lineage())


@router.get("/roas", response_model=RoasResponse, summary="ROAS per channel (MMM)")
async def get_roas(request: Request, _: RequireViewer, reader: Reader, as_of: AsOf, channels: Channels) -> Response:
    """Per channel: mean weekly `spend` and `contribution` over the model window, and `roas`
    (contribution / spend) with its 90 % credible interval, from `mmm_posterior`."""
    return await serve(request, reader, "roas", MMM_POSTERIOR, as_of, channels,
                       lambda snapshot: build(snapshot, channels))
