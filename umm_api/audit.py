"""The API's audit middleware: every request goes to the shared audit log (:mod:`umm_assets.lib.serving.audit`,
which documents the format and the rotation)."""

from __future__ import annotations

import logging
import time

from umm_assets.lib.serving.audit import AuditLog, audit_line, redact_query

log = logging.getLogger("umm_api.audit")


class AuditMiddleware:
    """Pure ASGI middleware (no per-request task or body copy): logs every HTTP request."""

    def __init__(self, app, log: AuditLog):
        self.app = app
        self.log = log

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        state = scope.setdefault("state", {})  # the same dict request.state writes to, even if scope is copied

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            key = state.get("api_key")
            client = scope.get("client")
            query = scope.get("query_string", b"")
            line = audit_line(
                key_id=key.id if key else state.get("claimed_key_id"),
                key_name=key.name if key else None,
                role=key.role if key else None,
                method=scope["method"],
                path=scope["path"],
                query=redact_query(query.decode("latin-1")) if query else "",
                status=status,
                latency_ms=(time.perf_counter() - started) * 1000,
                client=client[0] if client else None,
            )
            try:
                self.log.write_line(line)
            except OSError:  # a full disk must not take the API down; say so loudly instead
                log.exception("could not write the audit log %s", self.log.path)
