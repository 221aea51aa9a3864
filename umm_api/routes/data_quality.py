"""GET /api/v1/data-quality: the contract verdicts of every input partition, failures included."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from umm_api.assets import input_name
from umm_api.deps import AsOf, Reader, RequireViewer
from umm_api.schemas import CheckOutcome, DataQualityResponse, Lineage, QualityRecord, QualitySummary
from umm_api.serving import respond
from umm_assets.lib.serving.reader import CachedReader
from umm_assets.lib.storage import UNPARTITIONED, NotMaterialized
from umm_assets.lib.violations import MAX_MESSAGE_CHARS, shorten

router = APIRouter(prefix="/api/v1", tags=["data quality"])


def _record(r: dict) -> QualityRecord:
    checks = [CheckOutcome(name=str(c.get("name")), passed=bool(c.get("passed")),
                           messages=[shorten(str(m), MAX_MESSAGE_CHARS) for m in c.get("messages", [])])
              for c in r.get("checks", [])]
    return QualityRecord(asset=r["asset"], input=input_name(r["asset"]), partition=r["partition"],
                         run_id=r.get("run_id"), checked_at=r.get("checked_at"), passed=bool(r.get("passed")),
                         rows=r.get("rows"), checks=checks, failed_checks=[c.name for c in checks if not c.passed])


def _quality(reader: CachedReader, as_of: str | None, weeks: int | None, failed_only: bool):
    signature, records = reader.quality()

    def build() -> DataQualityResponse:
        dated = sorted({r["partition"] for r in records if r["partition"] != UNPARTITIONED})
        if as_of is not None and as_of not in dated:
            raise NotMaterialized(f"no data-quality verdict for week {as_of} (checked weeks: "
                                  f"{dated[0] + ' .. ' + dated[-1] if dated else 'none'})")
        end = as_of or (dated[-1] if dated else None)
        window = [w for w in dated if end is not None and w <= end]
        if weeks is not None:
            window = window[-weeks:]
        keep = set(window) | {UNPARTITIONED}
        chosen = [r for r in records if r["partition"] in keep and (not failed_only or not r.get("passed"))]
        chosen.sort(key=lambda r: (r["partition"] == UNPARTITIONED, r["partition"], r["asset"]))
        out = [_record(r) for r in chosen]
        last = max(chosen, key=lambda r: str(r.get("checked_at")), default=None)
        covered: dict[str, list[str]] = {}
        for r in out:
            covered.setdefault(r.asset, []).append(r.partition)
        return DataQualityResponse(
            as_of=end, records=out,
            summary=QualitySummary(records=len(out), passed=sum(r.passed for r in out),
                                   failed=sum(not r.passed for r in out)),
            lineage=Lineage(asset="data_quality", partition=end, run_id=last.get("run_id") if last else None,
                            materialized_at=last.get("checked_at") if last else None,
                            upstream={a: [ps[0], ps[-1]] if len(ps) > 1 else ps for a, ps in covered.items()}),
        )

    return reader.serve_many("data-quality", (signature, as_of, weeks, failed_only), build)


@router.get("/data-quality", response_model=DataQualityResponse, summary="Data-quality verdicts per input partition")
async def get_data_quality(
    request: Request, _: RequireViewer, reader: Reader, as_of: AsOf,
    weeks: Annotated[int | None, Query(ge=1, le=10_000, description="only the last N weeks up to as_of")] = None,
    failed_only: Annotated[bool, Query(description="only failed verdicts")] = False,
) -> Response:
    """Per partition and input: rows, and each check passed or failed with its messages. Covers every checked
    week up to `as_of` (default: the newest checked week), plus the unpartitioned tests."""
    return respond(request, await run_in_threadpool(_quality, reader, as_of, weeks, failed_only))
