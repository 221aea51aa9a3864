"""The dashboard's only door to the data: the shared serving reader of the API (never a fit, never a write).

Pages ask for the tables of one asset week (``tables``), the weeks there are, each asset's freshness,
the data-quality ledger, the rolling-origin history and scenarios; a missing asset week raises
:class:`Missing`, which names the ``umm materialize`` line that would make it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import flask
import pandas as pd

from umm_assets.lib.allocate import AllocationResult
from umm_assets.lib.outputs import ALLOCATION, EXPERIMENT_PLAN, MMM_POSTERIOR, RECONCILED_LIFT
from umm_assets.lib.serving import history as history_table
from umm_assets.lib.serving import scenarios
from umm_assets.lib.serving.progress import Lookup, nothing_in_progress
from umm_assets.lib.serving.reader import CachedReader, Snapshot
from umm_assets.lib.storage import UNPARTITIONED, Commit, NotMaterialized

CHAIN = (MMM_POSTERIOR, RECONCILED_LIFT, ALLOCATION, EXPERIMENT_PLAN)  # lib.outputs.MODEL_CHAIN, by name
VALIDATED_WEEKLY = ("validated_spend", "validated_outcomes", "validated_controls", "validated_attribution")
VALIDATED_TESTS = "validated_tests"
EXTENSION = "umm_dash"


class Missing(LookupError):
    """An asset week the page needs is not materialized."""

    def __init__(self, asset: str, week: str | None):
        self.asset, self.week = asset, week
        where = f"for the week of {week}" if week else "yet"
        super().__init__(f"{asset} is not materialized {where}")

    @property
    def command(self) -> str:
        """The command that materializes it (and what depends on it)."""
        if self.week is None:
            return ".venv/bin/umm materialize --latest"
        select = ",".join(CHAIN[CHAIN.index(self.asset):]) if self.asset in CHAIN else self.asset
        return f".venv/bin/umm materialize --partition {self.week} --select {select}"


@dataclass(frozen=True)
class Tables:
    """Tables of one committed asset week (``frames`` by name) and the commit they were read from."""

    frames: Mapping[str, pd.DataFrame]
    commit: Commit

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.frames[name]

    def get(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)

    def require(self, name: str) -> pd.DataFrame:
        """A table this materialization may lack (written by a later code version): Missing if it does."""
        if name not in self.frames:
            raise Missing(self.commit.asset, self.commit.partition)
        return self.frames[name]


class Data:
    def __init__(self, reader: CachedReader, progress: Lookup = nothing_in_progress, dagster_url: str | None = None):
        self.reader = reader
        self.progress = progress  # what is being materialized right now (asset, week) -> InProgress | None
        self.dagster_url = dagster_url  # the Dagster UI, for links to a running run

    # --- weeks -------------------------------------------------------------------------------

    def weeks(self) -> list[str]:
        """As-of weeks with any stage of the model chain materialized, oldest first."""
        return sorted({c.partition for asset in CHAIN for c in self.reader.partitions(asset)})

    def week(self, asked: str | None) -> str | None:
        """The week a page shows: the one asked for if it has a model, else the newest one."""
        weeks = self.weeks()
        if asked in weeks:
            return asked
        return weeks[-1] if weeks else None

    # --- tables ------------------------------------------------------------------------------

    def tables(self, asset: str, week: str | None, *names: str) -> Tables:
        """The named tables of ``asset`` for ``week`` (absent ones left out), all from one commit."""
        if week is None:
            raise Missing(asset, None)

        def build(snapshot: Snapshot) -> Tables:
            return Tables({n: snapshot.table(n) for n in names if snapshot.has(n)}, snapshot.commit)

        try:
            return self.reader.view("dash-tables", asset, week, names, build)
        except NotMaterialized:
            raise Missing(asset, week) from None

    def optional(self, asset: str, week: str | None, *names: str) -> Tables | None:
        try:
            return self.tables(asset, week, *names)
        except Missing:
            return None

    # --- freshness and quality -----------------------------------------------------------------

    def freshness(self, week: str) -> pd.DataFrame:
        """Per asset, the partition this week's view reads: when and by which run it was materialized, its code
        version, and whether it is stale (an input it was built from was rewritten after it)."""
        rows = []
        for asset in (*VALIDATED_WEEKLY, VALIDATED_TESTS, *CHAIN):
            partition = UNPARTITIONED if asset == VALIDATED_TESTS else week
            commit = self.reader.commit(asset, partition)
            rows.append({"asset": asset, "partition": partition,
                         "materialized_at": commit.materialized_at if commit else None,
                         "run_id": commit.run_id if commit else None,
                         "code_version": commit.code_version if commit else None,
                         "status": self._status(commit)})
        return pd.DataFrame(rows)

    def _status(self, commit: Commit | None) -> str:
        if commit is None:
            return "missing"
        for asset, source in (commit.upstream or {}).items():
            if not isinstance(source, Mapping):
                continue
            if "version" in source:  # built from one exact version: stale if that partition was rewritten
                current = self.reader.commit(asset, str(source.get("partition")))
                if current is not None and current.version != source["version"]:
                    return "stale"
            elif "first" in source and "last" in source:  # built from a window: stale if any week of it changed
                if any(c.materialized_at > commit.materialized_at for c in self.reader.partitions(asset)
                       if source["first"] <= c.partition <= source["last"]):
                    return "stale"
        return "fresh"

    def quality(self, week: str, weeks: int = 13) -> pd.DataFrame:
        """The data-quality verdicts of the last ``weeks`` input weeks up to ``week`` (and of the tests), one row
        per partition and input: rows, checks passed and failed, and the failures' messages."""
        _, records = self.reader.quality()
        dated = sorted({r["partition"] for r in records if r["partition"] != UNPARTITIONED and r["partition"] <= week})
        keep = set(dated[-weeks:]) | {UNPARTITIONED}
        rows = [_quality_row(r) for r in records if r["partition"] in keep]
        frame = pd.DataFrame(rows, columns=["partition", "input", "rows", "passed", "checks_passed", "checks_failed",
                                            "messages", "checked_at"])
        return frame.sort_values(["passed", "partition", "input"], ascending=[True, False, True], ignore_index=True)

    # --- history and scenarios ---------------------------------------------------------------

    def history(self) -> pd.DataFrame:
        """Every as-of week's ROAS and split (the table ``GET /api/v1/history`` serves)."""
        return history_table.history(self.reader).frame

    def scenario(self, week: str, budget: float, bounds: Mapping[str, tuple[float | None, float | None]],
                 locked: Sequence[str]) -> AllocationResult:
        """A custom split of ``budget`` solved by the API's scenario solver on the stored week."""
        try:
            result, _ = scenarios.solve(self.reader, week, budget, bounds, list(locked))
        except NotMaterialized:
            raise Missing(ALLOCATION, week) from None
        return result


def _quality_row(record: dict) -> dict:
    checks = record.get("checks", [])
    failed = [c for c in checks if not c.get("passed", True)]
    return {"partition": record["partition"], "input": str(record["asset"]).removeprefix("validated_"),
            "rows": record.get("rows"), "passed": bool(record.get("passed", True)),
            "checks_passed": ", ".join(c["name"] for c in checks if c.get("passed", True)),
            "checks_failed": ", ".join(c["name"] for c in failed),
            "messages": " | ".join(str(m) for c in failed for m in c.get("messages", [])),
            "checked_at": record.get("checked_at")}


def current() -> Data:
    """The data of the app serving this request."""
    return flask.current_app.extensions[EXTENSION]
