"""The rolling-origin history: how each channel's ROAS and the recommended split moved across as-of weeks.

A backfill of the model chain over many weeks leaves one ``mmm_posterior`` / ``reconciled_lift`` /
``allocation`` partition per as-of week; this module lines them up in one table, which the REST API
(``GET /api/v1/history``) and the dashboard's History page both read, so they always agree.

Columns of :func:`history`'s frame (one row per as-of week and channel; NaN where that week's stage
is not materialized): ``as_of``, ``channel``, ``mmm_roas_mean|lower|upper`` (the MMM's ROAS, 90 %
interval), ``roas_mean|lower|upper`` (reconciled ROAS), ``current`` and ``recommended`` (weekly spend,
input currency), ``held`` (the reconciliation's guard rail held the channel at its current spend).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import pandas as pd

from umm_assets.lib.outputs import ALLOCATION, MMM_POSTERIOR, RECONCILED_LIFT
from umm_assets.lib.serving.reader import ATTEMPTS, CachedReader, VersionGone
from umm_assets.lib.storage import Commit

ASSETS = (MMM_POSTERIOR, RECONCILED_LIFT, ALLOCATION)
INTERVAL = ("mean", "lower", "upper")
COLUMNS = ["as_of", "channel", *(f"mmm_roas_{k}" for k in INTERVAL), *(f"roas_{k}" for k in INTERVAL),
           "current", "recommended", "held"]
# (asset, table, {stored column: history column})
SOURCES = (
    (MMM_POSTERIOR, "roas", {"roas_mean": "mmm_roas_mean", "roas_p05": "mmm_roas_lower",
                             "roas_p95": "mmm_roas_upper"}),
    (RECONCILED_LIFT, "reconciled", {"roas_mean": "roas_mean", "roas_lower": "roas_lower",
                                     "roas_upper": "roas_upper", "hold_in_allocation": "held"}),
    (ALLOCATION, "allocation", {"current": "current", "recommended": "recommended"}),
)


@dataclass(frozen=True)
class History:
    """The history frame and the commits it was read from (per asset, oldest first)."""

    frame: pd.DataFrame
    commits: dict[str, list[Commit]]

    @property
    def signature(self) -> Hashable:
        return signature(self.commits)


def commits(reader: CachedReader, start: str | None = None, end: str | None = None) -> dict[str, list[Commit]]:
    """The committed partitions of the model chain whose week lies in [start, end] (either end open)."""
    return {asset: [c for c in reader.partitions(asset)
                    if (start is None or c.partition >= start) and (end is None or c.partition <= end)]
            for asset in ASSETS}


def signature(found: dict[str, list[Commit]]) -> Hashable:
    return tuple((asset, tuple((c.partition, c.version) for c in cs)) for asset, cs in found.items())


def history(reader: CachedReader, start: str | None = None, end: str | None = None) -> History:
    """The history between two as-of weeks (inclusive; default: every materialized week), cached per set of
    stored versions: a new materialization in the range makes a new table."""
    for attempt in range(ATTEMPTS):
        found = commits(reader, start, end)
        try:
            frame = reader.view_many("history", signature(found), lambda: _frame(reader, found))
        except VersionGone:  # a week rewritten while we read it: list again
            if attempt == ATTEMPTS - 1:
                raise
            for asset, cs in found.items():
                for commit in cs:
                    reader.forget(asset, commit.partition)
            continue
        return History(frame, found)
    raise AssertionError("unreachable")


def _frame(reader: CachedReader, found: dict[str, list[Commit]]) -> pd.DataFrame:
    merged = pd.DataFrame(columns=["as_of", "channel"])
    for asset, table, columns in SOURCES:
        parts = []
        for commit in found[asset]:
            stored = reader.table(commit, table)
            present = {k: v for k, v in columns.items() if k in stored.columns}  # older versions lack new columns
            parts.append(stored[["channel", *present]].rename(columns=present).assign(as_of=commit.partition))
        if parts:
            merged = merged.merge(pd.concat(parts, ignore_index=True), on=["as_of", "channel"], how="outer")
    for column in COLUMNS:
        if column not in merged:
            merged[column] = False if column == "held" else float("nan")
    merged["held"] = merged["held"].fillna(False).astype(bool)
    merged["channel"] = merged["channel"].astype(str)
    return merged[COLUMNS].sort_values(["as_of", "channel"], ignore_index=True)
