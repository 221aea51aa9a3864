"""POST /api/v1/scenarios: a custom weekly budget solved from the stored response model of a week."""

import asyncio
import weakref
from collections.abc import Mapping

import anyio
from fastapi import APIRouter, Response

from umm_api.deps import AsOf, Reader, RequireAnalyst
from umm_api.errors import InfeasibleBudget, UnknownChannel
from umm_api.routes.allocation import payload
from umm_api.schemas import ErrorResponse, ScenarioRequest, ScenarioResponse
from umm_api.serving import JSON, check_channels
from umm_assets.lib import allocate
from umm_assets.lib.outputs import ALLOCATION
from umm_assets.lib.serving import scenarios
from umm_assets.lib.serving.reader import Snapshot

router = APIRouter(prefix="/api/v1", tags=["allocation"])
TOLERANCE = 1e-9


def _precheck(request: ScenarioRequest, current: Mapping[str, float]) -> None:
    """Reject what no solver could satisfy, naming the problem (the solver checks the rest, e.g. against
    the stored default bounds). A lock given in the request replaces that channel's bounds."""
    known = sorted(current)
    bounds = request.bounds or {}
    locked = request.locked or {}
    check_channels(bounds, known)
    check_channels(locked, known)
    fixed = dict(locked) if isinstance(locked, dict) else {c: current[c] for c in locked}
    floor = sum(fixed.values()) + sum(b.lower or 0.0 for c, b in bounds.items() if c not in fixed)
    if floor > request.budget * (1 + TOLERANCE) + TOLERANCE:
        raise InfeasibleBudget(f"budget {request.budget:,.2f} is below the sum of locked spend and lower bounds "
                               f"({floor:,.2f})")
    free = [bounds.get(c) for c in known if c not in fixed]
    if all(b is not None and b.upper is not None for b in free):
        ceiling = sum(fixed.values()) + sum(b.upper for b in free)
        if ceiling < request.budget * (1 - TOLERANCE) - TOLERANCE:
            raise InfeasibleBudget(f"budget {request.budget:,.2f} is above the sum of locked spend and upper bounds "
                                   f"({ceiling:,.2f})")


def solve(reader, snapshot: Snapshot, request: ScenarioRequest) -> ScenarioResponse:
    solver = scenarios.solver(reader, snapshot)
    _precheck(request, solver.current)
    try:
        result = solver.solve(request.budget, request.bounds_tuples(), request.locked)
    except allocate.UnknownChannel as err:
        raise UnknownChannel(str(getattr(err, "channel", err)), sorted(solver.current)) from err
    except allocate.InfeasibleBudget as err:
        raise InfeasibleBudget(str(err)) from err
    body = payload(result.allocation, result.summary, None, snapshot.commit.partition, snapshot.lineage())
    return ScenarioResponse(**body, scenario=request)


# Solves are CPU-bound and hold the GIL most of the time: run them one at a time in a worker thread.
# Ten solves in ten threads thrash the GIL (bench/api.py, 10 connections, one worker: 120 solves/s
# and p99 122 ms with ten threads, 177/s and 61 ms one at a time). The event loop stays free either
# way; `umm serve --workers N` adds cores.
_SOLVER_LIMITERS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter]" = (
    weakref.WeakKeyDictionary())


def _solver_limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()  # anyio primitives belong to one event loop
    if loop not in _SOLVER_LIMITERS:
        _SOLVER_LIMITERS[loop] = anyio.CapacityLimiter(1)
    return _SOLVER_LIMITERS[loop]


@router.post("/scenarios", response_model=ScenarioResponse, summary="Solve a custom budget scenario",
             responses={422: {"model": ErrorResponse,
                              "description": "bad budget, unknown channel or infeasible bounds"}})
async def post_scenario(body: ScenarioRequest, _: RequireAnalyst, reader: Reader,
                        as_of: AsOf) -> Response:
    """Allocate a weekly `budget` (with optional per-channel `bounds` and `locked` channels) using the stored
    response model of the `allocation` partition of the week. Returns the allocation shape."""
    request = body.model_dump_json()
    cached = reader.lookup("scenario", ALLOCATION, as_of, request)  # a repeated scenario never queues
    if cached is None:
        cached = await anyio.to_thread.run_sync(
            reader.serve, "scenario", ALLOCATION, as_of, request, lambda snapshot: solve(reader, snapshot, body),
            limiter=_solver_limiter())
    return Response(cached.body, media_type=JSON, headers={"Cache-Control": "no-store"})
