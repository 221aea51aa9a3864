"""API settings: the ``api`` section of the platform's settings (``umm_assets.lib.settings``), read when
asked, never at import.

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
| ``UMM_API_MAX_BODY_BYTES`` | ``65536`` | larger request bodies are refused (413) before they are read |
| ``UMM_API_FORWARDED_ALLOW_IPS`` | none | proxy addresses (comma-separated) whose ``X-Forwarded-For`` counts |
"""

from __future__ import annotations

from pathlib import Path

from pydantic import field_validator

from umm_assets.lib.settings import ApiSection, Settings, absolute_uri, load_settings


class ApiSettings(ApiSection):
    """What the API needs: the ``api`` section of the platform's one settings object, and the warehouse.
    Built by :meth:`of` from the settings read at start; tests pass an instance to ``create_app``."""

    data_dir: str = "data/warehouse"

    _absolute_data_dir = field_validator("data_dir", mode="after")(absolute_uri)

    @classmethod
    def of(cls, settings: Settings) -> ApiSettings:
        return cls(data_dir=settings.data_dir, **settings.api.model_dump())

    @property
    def keys_file(self) -> Path:
        return Path(self.state_dir) / "keys.json"

    @property
    def audit_file(self) -> Path:
        return Path(self.state_dir) / "audit.jsonl"


def get_settings() -> ApiSettings:
    """The process's API settings, from the settings it read (and validated) at start."""
    return ApiSettings.of(load_settings())
