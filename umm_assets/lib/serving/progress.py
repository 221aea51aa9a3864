"""What is being materialized right now, so that readers (the API, the dashboard) can say "being materialized —
run <id>, started <time>" for an asset week that has no committed version yet, instead of a bare "not found".

The lookup itself asks the Dagster instance (``umm_assets.defs.progress``); this module holds what the readers
see of it, and never imports Dagster.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from threading import Lock

from cachetools import TTLCache

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InProgress:
    """A run (or a queued backfill whose run has not started) that will materialize ``asset`` for ``week``."""

    asset: str
    week: str | None
    state: str  # "queued", "running", or "waiting for its upstream assets" (a backfill's later step)
    since: float  # epoch seconds: when the run started (or was queued, or the backfill was launched)
    run_id: str | None = None
    backfill_id: str | None = None

    @property
    def started_at(self) -> str:
        return dt.datetime.fromtimestamp(self.since, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    @property
    def message(self) -> str:
        """E.g. ``being materialized — run 1a2b3c4d, started 2026-12-03 06:41:07 UTC``."""
        verb = "started" if self.state == "running" else "queued"
        by = f"run {self.run_id[:8]}" if self.run_id else f"backfill {self.backfill_id}"
        waiting = "" if self.state in ("running", "queued") else f" ({self.state})"
        return f"being materialized — {by}, {verb} {self.started_at}{waiting}"

    def ui_path(self) -> str:
        """Its page in the Dagster UI (relative to the webserver's address)."""
        return f"/runs/{self.run_id}" if self.run_id else f"/runs/b/{self.backfill_id}"


Lookup = Callable[[str, "str | None"], "InProgress | None"]


def nothing_in_progress(asset: str, week: str | None) -> InProgress | None:
    """The lookup of a reader with no Dagster instance to ask."""
    return None


class CachedLookup:
    """A lookup asked at most every ``ttl`` seconds per (asset, week), that never fails its caller: a reader
    answering "not materialized" must not turn into a server error because the instance cannot be read."""

    def __init__(self, lookup: Lookup, ttl: float = 2.0):
        self._lookup, self._cache, self._lock = lookup, TTLCache(maxsize=256, ttl=ttl), Lock()

    def __call__(self, asset: str, week: str | None) -> InProgress | None:
        key = (asset, week)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        try:
            found = self._lookup(asset, week)
        except Exception:  # the instance is down or being migrated: answer without it
            log.warning("could not ask the Dagster instance what is running", exc_info=True)
            found = None
        with self._lock:
            self._cache[key] = found
        return found


class LazyLookup:
    """A lookup built on its first use: a serving process imports Dagster (seconds, ~100 MB) only when it
    first answers "not materialized", never at start."""

    def __init__(self, factory: Callable[[], Lookup]):
        self._factory, self._lookup, self._lock = factory, None, Lock()

    def __call__(self, asset: str, week: str | None) -> InProgress | None:
        with self._lock:
            if self._lookup is None:
                self._lookup = self._factory()
        return self._lookup(asset, week)


def _from_dagster() -> Lookup:
    from umm_assets.defs.progress import dagster_progress  # Dagster wiring, imported only when asked

    return dagster_progress()


def dagster_lookup() -> Lookup:
    """What the API and the dashboard ask: the Dagster instance of ``DAGSTER_HOME``, opened on first use."""
    return LazyLookup(_from_dagster)
