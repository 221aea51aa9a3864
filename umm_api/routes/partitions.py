"""GET /api/v1/partitions: the materialized weeks of every asset, with status and time."""

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from umm_api.assets import KNOWN
from umm_api.deps import AsOf, Reader, RequireViewer
from umm_api.schemas import Lineage, PartitionInfo, PartitionsResponse
from umm_api.serving import respond
from umm_assets.lib.serving.reader import CachedReader

router = APIRouter(prefix="/api/v1", tags=["partitions"])


def _failed_messages(record: dict) -> list[str]:
    return [m for c in record.get("checks", []) if not c.get("passed") for m in c.get("messages", [])]


def _partitions(reader: CachedReader, as_of: str | None):
    assets = reader.assets(KNOWN)
    quality_signature, records = reader.quality()
    signature = (as_of, reader.commits_signature(assets), quality_signature)

    def build() -> PartitionsResponse:
        ledger = {(r["asset"], r["partition"]): r for r in records}
        out: dict[str, list[PartitionInfo]] = {}
        for asset in assets:
            commits = {c.partition: c for c in reader.partitions(asset)}
            keys = sorted(set(commits) | {p for a, p in ledger if a == asset})
            rows = []
            for key in keys:
                if as_of is not None and key != "all" and key > as_of:
                    continue
                commit, record = commits.get(key), ledger.get((asset, key))
                passed = record is None or record.get("passed", True)
                contract_failed = record is not None and not all(
                    c.get("passed", True) for c in record.get("checks", []) if c.get("name") == "contract")
                if commit is not None:
                    status = "stale" if contract_failed and record.get("run_id") != commit.run_id else "materialized"
                else:
                    status = "failed" if not passed else "pending"
                rows.append(PartitionInfo(
                    partition=key, status=status,
                    materialized_at=commit.materialized_at if commit else None,
                    run_id=commit.run_id if commit else (record or {}).get("run_id"),
                    version=commit.version if commit else None,
                    code_version=commit.code_version if commit else None,
                    checked_at=(record or {}).get("checked_at"),
                    messages=_failed_messages(record) if record else [],
                ))
            out[asset] = rows
        committed = [r for rows in out.values() for r in rows if r.materialized_at]
        last = max(committed, key=lambda r: r.materialized_at, default=None)
        return PartitionsResponse(
            as_of=as_of, assets=out,
            lineage=Lineage(asset="partitions", partition=as_of, run_id=last.run_id if last else None,
                            materialized_at=last.materialized_at if last else None,
                            upstream={a: [r.partition for r in rows if r.version] for a, rows in out.items()}),
        )

    return reader.serve_many("partitions", signature, build)


@router.get("/partitions", response_model=PartitionsResponse, summary="Materialized weeks per asset")
async def get_partitions(request: Request, _: RequireViewer, reader: Reader, as_of: AsOf) -> Response:
    """Per asset, its partitions (up to `as_of`, if given) with `status`, materialization time, run and version;
    validated inputs also show their newest data-quality verdict."""
    return respond(request, await run_in_threadpool(_partitions, reader, as_of))
