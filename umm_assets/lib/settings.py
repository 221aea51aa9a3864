"""Platform settings from the environment (read when asked, never at import)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from umm_assets.lib.weeks import parse_week_key

DEFAULT_FIRST_WEEK = "2023-01-02"


@dataclass(frozen=True)
class Settings:
    raw_uri: str
    data_dir: str
    first_week: dt.date
    model_window_weeks: int

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        first_week = env.get("UMM_FIRST_WEEK") or DEFAULT_FIRST_WEEK
        try:
            first = parse_week_key(first_week)
        except ValueError as err:
            raise ValueError(f"UMM_FIRST_WEEK={first_week!r}: must be an ISO date of a Monday ({err})") from None
        window = env.get("UMM_MODEL_WINDOW_WEEKS") or "156"
        if not window.isdigit() or int(window) < 1:
            raise ValueError(f"UMM_MODEL_WINDOW_WEEKS={window!r}: must be a positive whole number of weeks")
        return cls(
            raw_uri=absolute_uri(env.get("UMM_RAW_URI") or "data/raw"),
            data_dir=absolute_uri(env.get("UMM_DATA_DIR") or "data/warehouse"),
            first_week=first,
            model_window_weeks=int(window),
        )


def absolute_uri(uri: str) -> str:
    """Local paths become absolute (relative to the working directory), so child processes agree."""
    if "://" in uri:
        return uri.rstrip("/")
    return str(Path(uri).expanduser().resolve())
