"""API settings from the environment (read when asked, never at import).

| variable | default | meaning |
|---|---|---|
| ``UMM_DATA_DIR`` | ``data/warehouse`` | the warehouse to serve (read-only; a folder or ``s3://...``) |
| ``UMM_API_STATE_DIR`` | ``data/api`` | API keys (``keys.json``, salted hashes only) and the audit log |
| ``UMM_API_CORS_ORIGINS`` | none | comma-separated origins allowed to call the API from a browser |
| ``UMM_API_CACHE_ENTRIES`` | ``256`` | serialized responses kept in memory (LRU) |
| ``UMM_API_TABLE_CACHE_ENTRIES`` | ``64`` | asset tables kept in memory (LRU) |
| ``UMM_API_REMOTE_TTL_SECONDS`` | ``2`` | on S3, how long a partition pointer is trusted before it is re-read |
| ``UMM_API_AUDIT_MAX_BYTES`` | ``67108864`` | the audit log is rotated past this size |
| ``UMM_API_AUDIT_KEEP`` | ``20`` | rotated audit files kept (0 = keep all) |
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from umm_assets.lib.settings import absolute_uri


class ApiSettings(BaseSettings):
    """Everything the API reads from the environment; pass an instance to ``create_app`` in tests."""

    model_config = SettingsConfigDict(env_prefix="UMM_API_", extra="ignore", populate_by_name=True, frozen=True)

    data_dir: str = Field("data/warehouse", validation_alias=AliasChoices("data_dir", "UMM_DATA_DIR"))
    state_dir: str = "data/api"
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    cache_entries: int = Field(256, ge=0)
    table_cache_entries: int = Field(64, ge=0)
    remote_ttl_seconds: float = Field(2.0, ge=0)
    audit_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    audit_keep: int = Field(20, ge=0)

    @field_validator("data_dir", "state_dir", mode="after")
    @classmethod
    def _absolute_paths(cls, value: str) -> str:
        return absolute_uri(str(value))

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
        return value

    @property
    def keys_file(self) -> Path:
        return Path(self.state_dir) / "keys.json"

    @property
    def audit_file(self) -> Path:
        return Path(self.state_dir) / "audit.jsonl"


@lru_cache
def get_settings() -> ApiSettings:
    """The process's settings, read from the environment on first use (the CLI's; ``create_app()``
    without arguments reads the environment afresh, so tests can change it between apps)."""
    return ApiSettings()
