"""Request bodies: refused before they are read unless the caller holds a valid key, and capped in size.

FastAPI reads (and parses) a body before it resolves the route's dependencies, the key check among
them: a 100 MB POST without a key was read whole before its 401 (20 s, 2 GB for 300 MB), and every
other request on that worker waited behind it. :class:`BodyGuard` answers first: 401 for a body
without a valid key, 413 for a body over ``UMM_API_MAX_BODY_BYTES`` (by its ``Content-Length``
before a byte of it is read, or counted as it streams in), and only then hands the body on.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

from umm_api.deps import authenticate
from umm_api.errors import Unauthorized
from umm_assets.lib.serving.keys import KeyStore


class BodyGuard:
    """Pure ASGI middleware: a request that carries a body needs a valid key, and a body of at most ``max_bytes``."""

    def __init__(self, app, keys: KeyStore, max_bytes: int):
        self.app = app
        self.keys = keys
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
                   if name in (b"content-length", b"transfer-encoding", b"authorization", b"x-api-key")}
        length = headers.get("content-length", "").strip()
        declared = int(length) if length.isdigit() else None
        if not declared and "transfer-encoding" not in headers:  # no body: nothing to guard
            await self.app(scope, receive, send)
            return
        try:
            authenticate(self.keys, headers.get("authorization"), headers.get("x-api-key"),
                         scope.get("query_string", b"").decode("latin-1"), scope.setdefault("state", {}))
        except Unauthorized as err:
            await _refuse(401, err.detail, err.code, err.headers)(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        body = await _read(receive, self.max_bytes)
        if body is None:
            await self._too_large(scope, receive, send)
        elif body is not _DISCONNECTED:
            await self.app(scope, _replay(body, receive), send)

    def _too_large(self, scope, receive, send):
        return _refuse(413, f"request body over {self.max_bytes:,} bytes (UMM_API_MAX_BODY_BYTES)",
                       "payload_too_large")(scope, receive, send)


_DISCONNECTED = object()  # the client went away: nothing to answer


def _refuse(status: int, detail: str, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    # the connection is closed after the answer: the client may still be sending a body nobody reads
    return JSONResponse({"detail": detail, "code": code}, status_code=status,
                        headers={**(headers or {}), "Connection": "close"})


async def _read(receive, limit: int) -> bytes | object | None:
    """The whole body, None as soon as it passes ``limit`` bytes, or ``_DISCONNECTED``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return _DISCONNECTED
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive):
    """A ``receive`` that hands the app the body already read, then waits on the client as usual."""
    pending = True

    async def replay():
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
