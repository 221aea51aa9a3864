"""GET /health: liveness and the newest partition of every asset (public)."""

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from umm_api.assets import KNOWN
from umm_api.deps import AsOf, Reader
from umm_api.schemas import AssetStatus, HealthResponse, Lineage
from umm_api.serving import respond
from umm_assets.lib.serving.reader import CachedReader

router = APIRouter(tags=["health"])


def _health(reader: CachedReader, as_of: str | None):
    assets = reader.assets(KNOWN)
    commits = {a: [c for c in reader.partitions(a) if as_of is None or c.partition <= as_of] for a in assets}
    newest = {a: (cs[-1] if cs else None) for a, cs in commits.items()}
    signature = tuple((a, c.version if c else None, len(commits[a])) for a, c in newest.items())

    def build() -> HealthResponse:
        present = [c for c in newest.values() if c is not None]
        last = max(present, key=lambda c: c.materialized_at, default=None)
        return HealthResponse(
            status="ok",
            newest={a: c.partition if c else None for a, c in newest.items()},
            assets={a: AssetStatus(newest=c.partition if c else None, materialized_at=c.materialized_at if c else None,
                                   run_id=c.run_id if c else None, partitions=len(commits[a]))
                    for a, c in newest.items()},
            lineage=Lineage(asset="health", partition=as_of, run_id=last.run_id if last else None,
                            materialized_at=last.materialized_at if last else None,
                            upstream={a: c.partition for a, c in newest.items() if c is not None}),
        )

    return reader.serve_many("health", (as_of, signature), build)


@router.get("/health", response_model=HealthResponse, summary="Liveness and newest partitions (no key needed)")
async def health(request: Request, reader: Reader, as_of: AsOf) -> Response:
    """`status` and the newest materialized partition per asset (as of `as_of`, if given)."""
    return respond(request, await run_in_threadpool(_health, reader, as_of))
