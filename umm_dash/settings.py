"""Dashboard settings: the ``dash`` section of the platform's settings (``umm_assets.lib.settings``), read
when asked, never at import.

The dashboard shares the warehouse with the API (``UMM_DATA_DIR``) and also its key store and audit
log (``UMM_API_STATE_DIR``), so the keys of ``umm keys create`` log in here and every page view lands
in the API's audit log.

| variable | default | meaning |
|---|---|---|
| ``UMM_DATA_DIR`` | ``data/warehouse`` | the warehouse to show (read-only) |
| ``UMM_API_STATE_DIR`` | ``data/api`` | API keys and the audit log, shared with the API |
| ``UMM_DASH_PORT`` | ``8050`` | where ``umm dash`` listens (``UMM_HOST``: ``127.0.0.1``) |
| ``UMM_DASH_SECRET_KEY`` | generated | signs the session cookie; default: a random key kept in the state folder |
| ``UMM_DASH_SESSION_HOURS`` | ``12`` | a login lasts this long |
| ``UMM_DASH_SECURE_COOKIES`` | ``false`` | send the session cookie over HTTPS only (set it behind TLS) |
| ``UMM_DASH_THREADS`` | ``8`` | WSGI worker threads (they share one reader cache) |
| ``UMM_DASH_TABLE_CACHE_ENTRIES`` | ``256`` | tables and built frames kept in memory (LRU) |
| ``UMM_DASH_PUBLIC_URL`` | ``http://UMM_HOST:UMM_DASH_PORT`` | the address users reach (linked from Dagster's asset pages) |
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import Field, field_validator

from umm_assets.lib.settings import DashSection, Settings, absolute_uri, load_settings

SECRET_FILE = "dash_secret"


class DashSettings(DashSection):
    """What the dashboard needs: the ``dash`` section of the platform's one settings object, and what it shares
    with the API (warehouse, state folder, pointer TTL, audit log rotation). Built by :meth:`of` from the
    settings read at start; tests pass an instance to ``create_app``."""

    data_dir: str = "data/warehouse"
    state_dir: str = "data/api"
    remote_ttl_seconds: float = Field(2.0, ge=0)
    audit_max_bytes: int = Field(64 * 1024 * 1024, ge=1024)
    audit_keep: int = Field(20, ge=0)
    dagster_url: str | None = None  # the Dagster UI (UMM_HOST, UMM_DAGSTER_PORT), linked from a running run's notice

    _absolute_paths = field_validator("data_dir", "state_dir", mode="after")(absolute_uri)

    @classmethod
    def of(cls, settings: Settings) -> DashSettings:
        api = settings.api
        return cls(data_dir=settings.data_dir, state_dir=api.state_dir, remote_ttl_seconds=api.remote_ttl_seconds,
                   audit_max_bytes=api.audit_max_bytes, audit_keep=api.audit_keep,
                   dagster_url=f"http://{settings.host}:{settings.dagster_port}", **settings.dash.model_dump())

    def state_file(self, name: str) -> Path:
        """A file of the API's state folder (``keys.json``, ``audit.jsonl``)."""
        return Path(self.state_dir) / name

    def session_secret(self) -> str:
        """``UMM_DASH_SECRET_KEY``, else a random secret kept (mode 0600) in the state folder, so sessions
        survive a restart and every dashboard process on this state folder accepts the same cookies."""
        if self.secret_key:
            return self.secret_key
        path = Path(self.state_dir) / SECRET_FILE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{SECRET_FILE}.{secrets.token_hex(4)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            try:  # a hard link appears whole and never replaces: of two processes starting together, one wins
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip()


def get_settings() -> DashSettings:
    """The process's dashboard settings, from the settings it read (and validated) at start."""
    return DashSettings.of(load_settings())
