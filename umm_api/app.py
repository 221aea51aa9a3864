"""The REST API: ``create_app(settings)`` builds it; ``umm serve`` runs it under uvicorn."""

from __future__ import annotations

import gc
from collections import Counter
from contextlib import asynccontextmanager
from importlib.resources import files
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi._compat import is_scalar_field
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.openapi.utils import get_openapi
from fastapi.requests import Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from umm_api import errors
from umm_api.audit import AuditLog, AuditMiddleware
from umm_api.deps import SECURITY_SCHEMES, key_in_url
from umm_api.limits import BodyGuard
from umm_api.routes import ROUTERS
from umm_api.schemas import ErrorResponse
from umm_api.serving import CacheLane
from umm_api.settings import ApiSettings, get_settings
from umm_assets import __version__
from umm_assets.lib.serving.keys import KeyStore
from umm_assets.lib.serving.progress import Lookup, dagster_lookup
from umm_assets.lib.serving.reader import open_reader

DESCRIPTION = """
Serves what the Unified-M pipeline materialized: ROAS, contributions, response curves, the
reconciliation of MMM, experiments and attribution, the recommended budget split and custom
scenarios, model diagnostics and data quality. Nothing is fitted at request time.

* Every GET takes `as_of=YYYY-MM-DD` (a Monday; default: the newest materialized week) and every
  response carries the `lineage` of the materialization it was read from.
* Money is in the units of the input; spend, budgets and revenue are **per week**. Intervals
  `{mean, lower, upper}` are 90 % credible intervals.
* Authenticate with `Authorization: Bearer <key>` or `X-API-Key: <key>` (never in the URL).
  Roles: **viewer** reads, **analyst** also runs scenarios, **admin** also manages keys and reads
  the audit log. Keys come from `umm keys create --role ROLE --name NAME`.
"""


@asynccontextmanager
async def _lifespan(app: FastAPI):
    # everything loaded at start-up (pandas, duckdb, ...) leaves the collector's working set, so
    # full collections under load stay short
    gc.collect()
    gc.freeze()
    yield
    app.state.audit.close()


def create_app(settings: ApiSettings | None = None, progress: Lookup | None = None) -> FastAPI:
    """The API over ``settings.data_dir`` (default: the process's settings, read once and validated at start);
    ``progress`` says what is being materialized (default: ask the Dagster instance of ``DAGSTER_HOME``)."""
    settings = settings or get_settings()
    app = FastAPI(
        lifespan=_lifespan,
        title="Unified-M API",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "health", "description": "liveness (public)"},
            {"name": "partitions", "description": "what is materialized"},
            {"name": "mmm", "description": "the marketing-mix model"},
            {"name": "reconciliation", "description": "MMM fused with experiments and attribution"},
            {"name": "allocation", "description": "budget recommendations and scenarios"},
            {"name": "experiment plan", "description": "which incrementality test to run next, priced in revenue"},
            {"name": "data quality", "description": "input contract verdicts"},
            {"name": "admin", "description": "keys and audit log (admin role)"},
        ],
        docs_url=None,  # FastAPI's pages load their assets from a CDN: _docs serves them from this process
        redoc_url=None,
    )
    _docs(app)
    app.state.settings = settings
    app.state.reader = open_reader(settings.data_dir, cache_entries=settings.cache_entries,
                                   table_cache_entries=settings.table_cache_entries,
                                   remote_ttl_seconds=settings.remote_ttl_seconds)
    app.state.keys = KeyStore(settings.keys_file)
    app.state.progress = progress or dagster_lookup()  # "being materialized — run ..." instead of a bare 404
    app.state.audit = AuditLog(settings.audit_file, max_bytes=settings.audit_max_bytes, keep=settings.audit_keep)
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi = lambda: _openapi(app)
    # innermost first: unknown parameters refused, cache lane, body guard, CORS (so lane answers and
    # refusals get CORS headers), then the audit log
    app.add_middleware(StrictQuery, allowed=_query_parameters(ROUTERS))
    app.add_middleware(CacheLane, reader=app.state.reader, keys=app.state.keys,
                       entries=max(4 * settings.cache_entries, 64))
    # a body is read only for a valid key, and only up to its cap (FastAPI would read it before the key check)
    app.add_middleware(BodyGuard, keys=app.state.keys, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "If-None-Match"],
            expose_headers=["ETag"],
            allow_credentials=False,
            max_age=600,
        )
    # outermost: every request is audited, CORS preflights and errors included
    app.add_middleware(AuditMiddleware, log=app.state.audit)
    return app


# The docs pages' JavaScript, CSS and favicon, served by the API itself so that /docs and /redoc work without
# internet (FastAPI's own pages load them from cdn.jsdelivr.net and stay blank offline). They come from the
# fastapi-offline package: swagger-ui-dist's swagger-ui-bundle.js and swagger-ui.css, ReDoc's
# redoc.standalone.js and FastAPI's favicon, refreshed from upstream at each of its releases (MIT, no dependency
# but FastAPI, released regularly since 2021). Preferred to fastapi-swagger (a bot republishes it days after each
# Swagger UI release, but it has no ReDoc, so /redoc would have to go) and to swagger-ui-bundle (Swagger UI 4,
# last release 2023).
DOCS_ASSETS = "/docs-assets"
DOCS_FILES = files("fastapi_offline") / "static"


def _docs(app: FastAPI) -> None:
    """/docs (with its OAuth2 redirect page) and /redoc as FastAPI's defaults serve them, but on assets under
    ``DOCS_ASSETS``. Public like /openapi.json: no route here has a key dependency, and the middlewares pass
    bodiless requests outside the /api routes through untouched."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(DOCS_FILES)), name="docs-assets")

    def root(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    async def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=base + app.openapi_url,
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=base + app.swagger_ui_oauth2_redirect_url,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
            swagger_js_url=f"{base}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{base}{DOCS_ASSETS}/favicon.png",
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        page = get_redoc_html(openapi_url=base + app.openapi_url, title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{base}{DOCS_ASSETS}/redoc.standalone.js",
                              redoc_favicon_url=f"{base}{DOCS_ASSETS}/favicon.png",
                              with_google_fonts=False)  # the fonts would come from fonts.googleapis.com
        # ReDoc's sidebar shows Redocly's logo from cdn.redoc.ly (hard-coded; hidden when it does not load): the
        # browser is told not to ask for images off this host
        page.headers["Content-Security-Policy"] = "img-src 'self' data: blob:"
        return page

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route(app.swagger_ui_oauth2_redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def _query_parameters(routers) -> dict[str, dict[str, bool]]:
    """The query parameters each route (without path parameters) declares, its dependencies' included, each
    with whether it may be repeated (a list, e.g. ``channel``)."""

    def names(dependant) -> dict[str, bool]:
        found = {q.alias: not is_scalar_field(q) for q in dependant.query_params}
        for sub in dependant.dependencies:
            found |= names(sub)
        return found

    allowed: dict[str, dict[str, bool]] = {}
    for route in (r for router in routers for r in router.routes):
        if isinstance(route, APIRoute) and "{" not in route.path:
            allowed[route.path] = allowed.get(route.path, {}) | names(route.dependant)
    return allowed


class StrictQuery:
    """Refuses query parameters an endpoint does not take (422), instead of silently ignoring them:
    a misspelt ``as_of`` would otherwise return the newest week, and probes get no data back. A
    parameter that takes one value given twice (``as_of=A&as_of=B``) is refused too: FastAPI would
    silently keep the last one."""

    def __init__(self, app, allowed: dict[str, dict[str, bool]]):
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["query_string"]:
            allowed = self.allowed.get(scope["path"])
            query = scope["query_string"].decode("latin-1")
            if allowed is not None and not key_in_url(query):  # a key in the URL gets its 401 from the route
                problem = _query_problem(Counter(name for name, _ in parse_qsl(query, keep_blank_values=True)),
                                         allowed)
                if problem:
                    response = JSONResponse({"detail": problem, "code": "invalid_parameter"}, status_code=422)
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def _query_problem(given: Counter, allowed: dict[str, bool]) -> str | None:
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        return f"unknown query parameter(s) {', '.join(map(repr, unknown))[:200]} (this endpoint takes: {takes})"
    repeated = sorted(name for name, count in given.items() if count > 1 and not allowed[name])
    if repeated:
        return f"query parameter(s) {', '.join(map(repr, repeated))} given more than once (each takes one value)"
    return None


# What the validators in deps.py accept, stated in the schema so that clients and fuzzers know (the validators
# stay the authority and word the 422). Channel and geo names are the data's: text without control characters
# or surrounding blanks (ingest refuses the former and strips the latter); the schema cannot list them.
_NAME = r"^[^\u0000-\u0020\u007f](?:[^\u0000-\u001f\u007f]*[^\u0000-\u0020\u007f])?$"
PARAMETER_TEXT = {
    "as_of": {"format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "minLength": 10, "maxLength": 10},
    "channel": {"pattern": _NAME, "minLength": 1},
    "geo": {"pattern": _NAME, "minLength": 1},
}


def _constrain(schema: dict, text: dict) -> None:
    """Add ``text``'s constraints to every string in a parameter's schema (inside anyOf and array items too)."""
    if not text:
        return
    if schema.get("type") == "string":
        schema.update(text)
    for inner in [*schema.get("anyOf", []), *filter(None, [schema.get("items")])]:
        _constrain(inner, text)


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema plus the two key schemes on every /api route (auth is read without FastAPI's
    security classes, which cost a dependency each per request)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes,
                             tags=app.openapi_tags)
        schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        schema["components"].setdefault("schemas", {})["ErrorResponse"] = ErrorResponse.model_json_schema()
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                if path.startswith("/api/"):
                    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
                    responses.setdefault("401", {"description": "missing, invalid or revoked key", **error})
                    responses.setdefault("403", {"description": "the key's role is too low", **error})
                if any(p.get("name") == "as_of" for p in operation.get("parameters", [])):
                    responses.setdefault("404", {"description": "the asset is not materialized for that week", **error})
                if "422" in responses or operation.get("parameters") or "requestBody" in operation:
                    responses["422"] = {"description": "a bad parameter (the message names it)", **error}
                if "requestBody" in operation:
                    responses.setdefault("413", {"description": "request body over UMM_API_MAX_BODY_BYTES", **error})
                for parameter in operation.get("parameters", []):
                    _constrain(parameter.get("schema", {}), PARAMETER_TEXT.get(parameter.get("name"), {}))
        for unused in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(unused, None)
        app.openapi_schema = schema
    return app.openapi_schema
