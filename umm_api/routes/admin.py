"""Admin endpoints: API keys (list, revoke) and the audit log."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from umm_api.deps import Audit, Keys, RequireAdmin
from umm_api.errors import NotFound
from umm_api.schemas import AuditEntry, AuditResponse, KeyInfo, KeysResponse
from umm_assets.lib.serving.keys import UnknownKey

router = APIRouter(prefix="/api/v1/admin", tags=["admin"])


@router.get("/keys", response_model=KeysResponse, summary="List API keys (never their secrets)")
def list_keys(_: RequireAdmin, keys: Keys) -> KeysResponse:
    return KeysResponse(keys=[KeyInfo(**k.public()) for k in keys.list()])


@router.delete("/keys/{key_id}", response_model=KeyInfo, summary="Revoke an API key")
def revoke_key(key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="the key's id (16 hex digits)")],
               _: RequireAdmin, keys: Keys) -> KeyInfo:
    """Revoke a key: it stops working at once (in every API process). Revoking twice is harmless."""
    try:
        return KeyInfo(**keys.revoke(key_id).public())
    except UnknownKey as err:
        raise NotFound(str(err)) from None


@router.get("/audit", response_model=AuditResponse, summary="Read the audit log (newest first)")
def read_audit(
    _: RequireAdmin, audit: Audit,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    key_id: Annotated[str | None, Query(pattern=r"^[0-9a-f]{16}$")] = None,
    key_name: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    path_prefix: Annotated[str | None, Query(max_length=200)] = None,
) -> AuditResponse:
    entries = audit.tail(limit, key_id=key_id, key_name=key_name, status=status, path_prefix=path_prefix)
    return AuditResponse(entries=[AuditEntry(**e) for e in entries])
