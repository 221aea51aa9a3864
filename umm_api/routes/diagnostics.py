"""GET /api/v1/diagnostics: convergence and fit of the MMM."""

from fastapi import APIRouter, Request, Response

from umm_api.deps import AsOf, Reader, RequireViewer
from umm_api.routes.roas import window
from umm_api.schemas import DiagnosticsResponse, clean
from umm_api.serving import integer, serve, text
from umm_assets.lib.outputs import MMM_POSTERIOR
from umm_assets.lib.serving.reader import Snapshot

router = APIRouter(prefix="/api/v1", tags=["mmm"])
NAMED = ("rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "mape", "r2", "holdout_mape", "holdout_weeks",
         "holdout_coverage_90", "ppc_coverage_90", "n_weeks", "window_start", "window_end")


def _plain(value):
    if isinstance(value, bool | str) or value is None:
        return value
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return clean(value)
    return text(value)


def build(snapshot: Snapshot) -> DiagnosticsResponse:
    row = snapshot.table("diagnostics").iloc[0].to_dict()
    bulk, tail = clean(row.get("ess_bulk_min")), clean(row.get("ess_tail_min"))
    coverage = clean(row.get("ppc_coverage_90"))
    return DiagnosticsResponse(
        as_of=snapshot.commit.partition,
        rhat_max=clean(row.get("rhat_max")),
        ess_bulk_min=bulk,
        ess_tail_min=tail,
        ess_min=min((v for v in (bulk, tail) if v is not None), default=None),
        divergences=integer(row.get("divergences")),
        mape=clean(row.get("mape")),
        r2=clean(row.get("r2")),
        holdout_mape=clean(row.get("holdout_mape")),
        holdout_weeks=integer(row.get("holdout_weeks")),
        holdout_coverage_90=clean(row.get("holdout_coverage_90")),
        ppc_coverage_90=coverage,
        interval_coverage=coverage,
        window=window(snapshot),
        details={k: _plain(v) for k, v in row.items() if k not in NAMED},
        lineage=snapshot.lineage(),
    )


@router.get("/diagnostics", response_model=DiagnosticsResponse, summary="MMM convergence and fit diagnostics")
async def get_diagnostics(request: Request, _: RequireViewer, reader: Reader, as_of: AsOf) -> Response:
    """R-hat max, ESS min, divergences, in-sample and holdout error, and 90 % interval coverage."""
    return await serve(request, reader, "diagnostics", MMM_POSTERIOR, as_of, (), build)
