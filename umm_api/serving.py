"""Turning cached responses into HTTP responses, and helpers shared by the routes.

Data routes are ``async`` and answer a repeated GET on the event loop: the reader's cache lookup
costs two ``stat`` calls and a dict access. Anything that reads tables through DuckDB (a cache miss,
a scenario solve) runs in the thread pool, so it never blocks the event loop.

**The cache lane.** FastAPI's dependency resolution alone costs several times what a cached
response does (tens of microseconds per dependency). So :class:`CacheLane`, a plain ASGI
middleware, answers a GET whose exact path and query string a route has already served: it runs
the same :func:`~umm_api.deps.authenticate` and role check, asks the reader whether the cached
response is still the current version of its partition, and sends the stored bytes. Anything else
(a new query, a wrong key, a newer materialization, an error) goes through the route as usual;
routes teach the lane by recording what they served in the request state. The audit and CORS
middlewares sit outside the lane, so lane answers are audited and carry CORS headers like any
other.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from umm_api.deps import authenticate
from umm_api.errors import Unauthorized, UnknownChannel
from umm_api.schemas import Interval, clean
from umm_assets.lib.serving.keys import KeyStore, Role
from umm_assets.lib.serving.reader import LRU, Cached, CachedReader, Snapshot
from umm_assets.lib.storage import NotMaterialized

JSON = "application/json"
HEADERS = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}


def respond(request: Request, cached: Cached) -> Response:
    headers = {**HEADERS, "ETag": cached.etag}
    if request.headers.get("if-none-match") == cached.etag:
        return Response(status_code=304, headers=headers)
    return Response(cached.body, media_type=JSON, headers=headers)


async def serve(request: Request, reader: CachedReader, view: str, asset: str, as_of: str | None,
                params: Hashable, build: Callable[[Snapshot], Any], *, role: Role = Role.viewer) -> Response:
    """The response of ``view`` for ``asset`` as of a week: from the cache, else built in the thread pool."""
    hit = None if reader.remote else reader.lookup(view, asset, as_of, params)
    if hit is None:
        hit = await run_in_threadpool(reader.serve, view, asset, as_of, params, build)
    request.scope.setdefault("state", {})[LANE_ENTRY] = LaneEntry(view, asset, as_of, params, role)
    return respond(request, hit)


LANE_ENTRY = "umm_cache_lane"


@dataclass(frozen=True)
class LaneEntry:
    """What a route served for one (path, query string): enough to look the response up again."""

    view: str
    asset: str
    as_of: str | None
    params: Hashable
    role: Role


class CacheLane:
    """Answers repeated GETs from the reader's response cache without entering FastAPI (module docstring)."""

    def __init__(self, app, reader: CachedReader, keys: KeyStore, entries: int = 1024):
        self.app = app
        self.reader = reader
        self.keys = keys
        self.entries = LRU(entries)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or self.reader.remote:
            await self.app(scope, receive, send)
            return
        lane_key = (scope["path"], scope["query_string"])
        entry = self.entries.get(lane_key)
        if entry is not None:
            answer = self._answer(scope, entry)
            if answer is not None:
                status, headers, body = answer
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
        learned = scope.get("state", {}).get(LANE_ENTRY)
        if learned is not None:
            self.entries.put(lane_key, learned)

    def _answer(self, scope, entry: LaneEntry) -> tuple[int, list, bytes] | None:
        authorization = x_api_key = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-api-key":
                x_api_key = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        state = scope.setdefault("state", {})
        try:
            key = authenticate(self.keys, authorization, x_api_key, scope["query_string"].decode("latin-1"), state)
        except Unauthorized:
            return None  # the route answers with the same error
        if key.level < entry.role:
            return None
        try:
            cached = self.reader.lookup(entry.view, entry.asset, entry.as_of, entry.params)
        except NotMaterialized:
            return None
        if cached is None:
            return None
        headers = [(b"etag", cached.etag.encode()), *_STATIC_HEADERS]
        if if_none_match == cached.etag:
            return 304, headers, b""
        return 200, [(b"content-type", b"application/json"), (b"content-length", str(len(cached.body)).encode()),
                     *headers], cached.body


_STATIC_HEADERS = [(k.lower().encode(), v.encode()) for k, v in HEADERS.items()]


def interval(row: Any, prefix: str, lower: str = "lower", upper: str = "upper") -> Interval:
    return Interval.of(row[f"{prefix}_mean"], row[f"{prefix}_{lower}"], row[f"{prefix}_{upper}"])


def text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return str(value)


def integer(value: Any) -> int | None:
    number = clean(value)
    return None if number is None else int(number)


def check_channels(requested: Iterable[str], known: Sequence[str], what: str = "channel") -> list[str]:
    """Requested channels, each one a known channel of the partition (422 otherwise)."""
    known_set = set(known)
    out = []
    for channel in requested:
        if channel not in known_set:
            raise UnknownChannel(channel[:100], list(known), what)
        out.append(channel)
    return out
