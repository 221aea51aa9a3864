"""Domain errors and their HTTP status codes, in one place.

Every error body is ``{"detail": "<what went wrong>", "code": "<kind>"}``; bad user input is a
4xx with a message naming the parameter, never a 500.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from umm_assets.lib.serving.reader import VersionGone
from umm_assets.lib.storage import NotMaterialized

log = logging.getLogger("umm_api")


class ApiError(Exception):
    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidParameter(ApiError, ValueError):
    """A request parameter that cannot be served (bad date, unknown channel, infeasible bounds, ...)."""

    status = 422
    code = "invalid_parameter"


class UnknownChannel(InvalidParameter):
    code = "unknown_channel"

    def __init__(self, channel: str, known: list[str], what: str = "channel"):
        super().__init__(f"unknown {what} {channel!r}: this partition has {', '.join(known) or 'none'}")
        self.channel = channel


class InfeasibleBudget(InvalidParameter):
    code = "infeasible_budget"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="umm"'}


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


def _body(status: int, detail: str, code: str, errors: list | None = None, headers: dict | None = None,
          **extra) -> JSONResponse:
    content = {"detail": detail, "code": code, **extra}
    if errors is not None:
        content["errors"] = errors
    return JSONResponse(content, status_code=status, headers=headers)


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header") and not isinstance(p, int)]
    return ".".join(parts) or ("body" if loc and loc[0] == "body" else "request")


def install(app: FastAPI) -> None:
    """Register the mappings on ``app``."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        return _body(err.status, err.detail, err.code, headers=err.headers)

    @app.exception_handler(NotMaterialized)
    async def _not_materialized(request: Request, err: NotMaterialized) -> JSONResponse:
        # in a worker thread: the first lookup imports Dagster and opens the instance (seconds), later ones may
        # read its database; neither may stall the event loop that serves every other request
        running = await run_in_threadpool(request.app.state.progress, err.asset, err.week) if err.asset else None
        if running is None:
            return _body(404, str(err), "not_materialized")
        # still a 404 (there is nothing to serve yet), but one that says which run makes it and when to ask again
        return _body(404, f"{err}: {running.message}", "being_materialized", headers={"Retry-After": "30"},
                     run_id=running.run_id, backfill_id=running.backfill_id, started_at=running.started_at)

    @app.exception_handler(VersionGone)
    async def _gone(request: Request, err: VersionGone) -> JSONResponse:
        return _body(503, "the partition was rewritten several times while it was being read; retry", "busy",
                     headers={"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "type": e.get("type", "")}
                  for e in err.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
        return _body(422, detail, "invalid_parameter", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException) -> JSONResponse:
        if err.status_code == 400:  # FastAPI could not decode the body (not UTF-8, nested too deep): a bad body
            return _body(422, "body: not a JSON document that can be decoded", "invalid_parameter",
                         errors=[{"field": "body", "message": str(err.detail), "type": "json_invalid"}])
        return _body(err.status_code, str(err.detail), {404: "not_found", 405: "method_not_allowed"}.get(
            err.status_code, "http_error"), headers=getattr(err, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _body(500, "internal error (logged on the server)", "internal_error")
