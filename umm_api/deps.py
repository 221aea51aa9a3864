"""Dependencies as ``Annotated`` aliases: the reader, the caller's key and role, validated parameters."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from fastapi import Depends, Query, Request

from umm_api.errors import Forbidden, InvalidParameter, Unauthorized
from umm_assets.lib.serving.audit import AuditLog, key_in_url
from umm_assets.lib.serving.keys import ApiKey, KeyStore, Role
from umm_assets.lib.serving.reader import CachedReader

_WEEK = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only; used with fullmatch
_KEY_ID = re.compile(r"^umm_([0-9a-f]{16})_")

# Documented in OpenAPI by create_app (see app.py); read here directly, without FastAPI's security
# classes: every dependency node costs tens of microseconds per request.
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>` "
               "(keys: `umm keys create --role viewer|analyst|admin --name NAME`)"},
    "api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "`X-API-Key: <key>`"},
}


async def get_reader(request: Request) -> CachedReader:
    return request.app.state.reader


async def get_keys(request: Request) -> KeyStore:
    return request.app.state.keys


async def get_audit(request: Request) -> AuditLog:
    return request.app.state.audit


Reader = Annotated[CachedReader, Depends(get_reader)]
Keys = Annotated[KeyStore, Depends(get_keys)]
Audit = Annotated[AuditLog, Depends(get_audit)]


def authenticate(keys: KeyStore, authorization: str | None, x_api_key: str | None, query_string: str,
                 state: dict | None = None) -> ApiKey:
    """The caller's valid, unrevoked key, else :class:`Unauthorized` saying what to do.

    ``state`` (the request's ASGI state) receives ``claimed_key_id`` (for the audit log, even when
    the key is wrong) and ``api_key``. Shared by the ``current_key`` dependency and the cache lane.
    """
    if query_string and key_in_url(query_string):
        raise Unauthorized("API keys are not accepted in the URL (they end up in logs and browser history): "
                           "send the key in the Authorization: Bearer <key> or X-API-Key: <key> header, and "
                           "consider revoking this one")
    presented = None
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("the Authorization header must read 'Bearer <key>'")
        presented = credentials.strip()
    elif x_api_key:
        presented = x_api_key.strip()
    if not presented:
        raise Unauthorized("missing API key: send Authorization: Bearer <key> or X-API-Key: <key>")
    claimed = _KEY_ID.match(presented)
    if claimed and state is not None:
        state["claimed_key_id"] = claimed.group(1)
    key = keys.verify(presented)
    if key is None:
        raise Unauthorized("invalid or revoked API key")
    if state is not None:
        state["api_key"] = key
    return key


async def current_key(request: Request) -> ApiKey:
    """The caller's valid, unrevoked key (from ``Authorization: Bearer`` or ``X-API-Key``), else 401."""
    headers = request.headers
    return authenticate(request.app.state.keys, headers.get("authorization"), headers.get("x-api-key"),
                        request.scope.get("query_string", b"").decode("latin-1"),
                        request.scope.setdefault("state", {}))


CurrentKey = Annotated[ApiKey, Depends(current_key)]


def with_article(noun: str) -> str:
    """``a viewer``, ``an analyst``, ``an admin`` (role names: the article follows the first letter)."""
    return f"{'an' if noun[:1].lower() in ('a', 'e', 'i', 'o', 'u') else 'a'} {noun}"


def require_role(role: Role):
    """A dependency admitting keys of ``role`` or above (403 for lower roles)."""

    async def dependency(key: CurrentKey) -> ApiKey:
        if key.level < role:
            raise Forbidden(f"this endpoint needs the {role.name} role (or above); key {key.name!r} is "
                            f"{with_article(key.role)}")
        return key

    dependency.__name__ = f"require_{role.name}"
    return dependency


RequireViewer = Annotated[ApiKey, Depends(require_role(Role.viewer))]
RequireAnalyst = Annotated[ApiKey, Depends(require_role(Role.analyst))]
RequireAdmin = Annotated[ApiKey, Depends(require_role(Role.admin))]


def parse_week(value: str, name: str = "as_of") -> str:
    """A partition key from the client: strictly ``YYYY-MM-DD``, a real date, a Monday."""
    if not _WEEK.fullmatch(value):
        raise InvalidParameter(f"{name} must be a date written YYYY-MM-DD (got {value[:40]!r})")
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidParameter(f"{name}={value} is not a calendar date") from None
    if day.weekday() != 0:
        monday = day - dt.timedelta(days=day.weekday())
        raise InvalidParameter(f"{name}={value} is a {day:%A}: weeks are keyed by their Monday (e.g. {monday})")
    return value


async def as_of_param(
    as_of: Annotated[str | None, Query(
        description="the week (its Monday, YYYY-MM-DD) to read; default: the newest materialized week",
        max_length=64, examples=["2026-11-16"])] = None,
) -> str | None:
    return None if as_of is None else parse_week(as_of)


AsOf = Annotated[str | None, Depends(as_of_param)]


async def channel_param(
    channel: Annotated[list[str] | None, Query(
        description="only these channels (repeat the parameter for several); each must be a channel of the "
                    "partition (422 otherwise)")] = None,
) -> tuple[str, ...]:
    return tuple(dict.fromkeys(channel or ()))


Channels = Annotated[tuple[str, ...], Depends(channel_param)]
