"""GET /api/v1/reconciliation: the MMM fused with experiments and attribution, per channel."""

from fastapi import APIRouter, Request, Response

from umm_api.deps import AsOf, Channels, Reader, RequireViewer
from umm_api.schemas import (
    AttributionEstimate,
    ExperimentCoverage,
    Guard,
    Interval,
    ReconciledChannel,
    ReconciliationResponse,
    ReconciliationSummary,
    Shifts,
    Weights,
    clean,
)
from umm_api.serving import check_channels, integer, interval, serve, text
from umm_assets.lib.outputs import RECONCILED_LIFT
from umm_assets.lib.serving.reader import Snapshot

router = APIRouter(prefix="/api/v1", tags=["reconciliation"])


def _split(value) -> list[str]:
    value = text(value)
    return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()] if value else []


def _channel(row: dict) -> ReconciledChannel:
    tests = interval(row, "tests_roas")
    attribution = None
    if clean(row.get("attribution_roas")) is not None or clean(row.get("attribution_roas_calibrated_mean")) is not None:
        attribution = AttributionEstimate(roas=clean(row.get("attribution_roas")),
                                          bias=clean(row.get("attribution_bias")),
                                          bias_log_sd=clean(row.get("attribution_bias_log_sd")),
                                          bias_source=text(row.get("attribution_bias_source")),
                                          calibrated=interval(row, "attribution_roas_calibrated"))
    return ReconciledChannel(
        channel=row["channel"],
        method=str(row["method"]),
        spend_total=clean(row["spend"]),
        roas=interval(row, "roas"),
        incremental_revenue_total=interval(row, "incremental_revenue"),
        mmm=interval(row, "mmm_roas"),
        tests=tests if tests.mean is not None else None,
        attribution=attribution,
        weights=Weights(mmm=clean(row["weight_mmm"]), tests=clean(row["weight_tests"]),
                        attribution=clean(row["weight_attribution"])),
        shifts=Shifts(tests=clean(row.get("shift_tests")), attribution=clean(row.get("shift_attribution"))),
        guard=Guard(held=bool(row.get("hold_in_allocation", False)), note=text(row.get("guard_note")) or ""),
        n_tests=integer(row["n_tests"]) or 0,
        tests_used=_split(row.get("tests_used")),
    )


def _test(row: dict) -> ExperimentCoverage:
    return ExperimentCoverage(
        test_id=str(row["test_id"]), channel=str(row["channel"]), start_date=text(row["start_date"]),
        end_date=text(row["end_date"]), lift=Interval.of(row["lift"], row["lift_lower"], row["lift_upper"]),
        predicted=interval(row, "predicted"), covered=bool(row["covered"]), source=str(row["source"]),
    )


def build(snapshot: Snapshot, wanted: tuple[str, ...] = ()) -> ReconciliationResponse:
    frame = snapshot.table("reconciled")
    if wanted:
        check_channels(wanted, sorted(frame["channel"].astype(str)))
        frame = frame[frame["channel"].isin(wanted)]
    channels = [_channel(r) for r in frame.sort_values("channel").to_dict("records")]
    summary_row = snapshot.table("summary").iloc[0].to_dict()
    summary = ReconciliationSummary(
        method=str(summary_row["method"]), n_tests=integer(summary_row["n_tests"]) or 0,
        signals=_split(summary_row.get("signals")), coverage_mmm=clean(summary_row.get("coverage_mmm")),
        coverage_reconciled=clean(summary_row.get("coverage_reconciled")),
        disagreements=integer(summary_row.get("disagreements")) or 0,
        held_channels=_split(summary_row.get("held_channels")),
    )
    tests = ([_test(r) for r in snapshot.table("test_coverage").to_dict("records")]
             if snapshot.has("test_coverage") else [])
    return ReconciliationResponse(as_of=snapshot.commit.partition, method=summary.method, summary=summary,
                                  channels=channels, tests=tests, lineage=snapshot.lineage())


@router.get("/reconciliation", response_model=ReconciliationResponse, summary="Reconciled ROAS per channel")
async def get_reconciliation(request: Request, _: RequireViewer, reader: Reader, as_of: AsOf,
                             channels: Channels) -> Response:
    """Per channel: the reconciled `roas` `{mean, lower, upper}`, each source's estimate (`mmm`, `tests`,
    `attribution`), the `weights` given to them and the fusion `method`; plus how well each test is covered."""
    return await serve(request, reader, "reconciliation", RECONCILED_LIFT, as_of, channels,
                       lambda snapshot: build(snapshot, channels))
