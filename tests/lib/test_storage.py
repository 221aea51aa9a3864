"""The warehouse: atomic partitions, reads through DuckDB, lineage, versions, the analysts' catalog."""

from __future__ import annotations

import contextlib
import errno
import multiprocessing as mp
import os
import shutil
import time

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.conftest import tree_digest
from umm_assets.lib import storage
from umm_assets.lib.storage import COMMIT_FILE, STALE_AFTER_SECONDS, NotMaterialized, Stored, Warehouse


def frame(value: float, rows: int = 1000) -> pd.DataFrame:
    return pd.DataFrame({"week": pd.Timestamp("2024-01-01"), "value": np.full(rows, value)})


def test_write_read_lineage_and_missing(tmp_path):
    warehouse = Warehouse(tmp_path)
    commit = warehouse.write("a", "2024-01-01", Stored.table(frame(1.0), upstream={"raw": ["x.csv"]}),
                             run_id="run-1", code_version="v1")
    assert warehouse.partitions("a") == ["2024-01-01"] and warehouse.newest("a") == "2024-01-01"
    assert warehouse.read("a", "2024-01-01")["value"].eq(1.0).all()
    lineage = warehouse.commit("a", "2024-01-01").lineage()
    assert lineage == {"asset": "a", "partition": "2024-01-01", "run_id": "run-1",
                       "materialized_at": commit.materialized_at, "code_version": "v1", "upstream": {"raw": ["x.csv"]}}
    with pytest.raises(NotMaterialized, match="a has no materialized partition 2024-01-08"):
        warehouse.read("a", ["2024-01-01", "2024-01-08"])
    assert len(warehouse.read("a", ["2024-01-01", "2024-01-08"], missing="skip")) == 1000


def test_multi_table_partition_with_artifact(tmp_path):
    artifact = tmp_path / "model.nc"
    artifact.write_bytes(b"netcdf bytes")
    warehouse = Warehouse(tmp_path / "wh")
    warehouse.write("m", "2024-01-01", Stored({"roas": frame(2.0, 5), "curves": frame(3.0, 7)},
                                              files={"model.nc": artifact}), run_id="r")
    assert len(warehouse.read("m", "2024-01-01", "curves")) == 7
    assert warehouse.file("m", "2024-01-01", "model.nc").read_bytes() == b"netcdf bytes"
    with pytest.raises(KeyError, match="has no table 'data'"):
        warehouse.read("m", "2024-01-01")


@pytest.mark.parametrize("name", ["../etc", "a/b", "", "x;drop"])
def test_unsafe_names_are_refused(tmp_path, name):
    with pytest.raises(ValueError, match="unsafe"):
        Warehouse(tmp_path).commit("a", name)


def test_old_versions_are_pruned(tmp_path):
    warehouse = Warehouse(tmp_path)
    for i in range(5):
        warehouse.write("a", "2024-01-01", Stored.table(frame(float(i))), run_id=f"r{i}")
    versions = [p for p in (tmp_path / "a" / "2024-01-01").iterdir() if p.is_dir()]
    assert len(versions) == 2 and warehouse.read("a", "2024-01-01")["value"].eq(4.0).all()


def _rewrite_forever(root: str, stop, pause: float = 0.05) -> None:
    """Rewrite the partition 20 times a second. Unthrottled (~80 writes/s here), every version was pruned
    within ~25 ms, faster than a reader reads two tables, so the reader starved on retries (CI: 3 versions
    read in 400 s) and the test measured the scheduler, not the storage."""
    warehouse = Warehouse(root)
    i = 0
    while not stop.wait(pause):
        i += 1
        warehouse.write("m", "2024-01-01", Stored({"x": frame(float(i)), "y": frame(float(i))}), run_id=str(i))


def test_readers_never_see_half_a_partition_while_another_process_writes(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.write("m", "2024-01-01", Stored({"x": frame(0.0), "y": frame(0.0)}), run_id="0")
    stop = mp.get_context("spawn").Event()
    writer = mp.get_context("spawn").Process(target=_rewrite_forever, args=(str(tmp_path), stop))
    writer.start()
    reads, versions = 0, set()
    try:
        # the spawned writer needs a few seconds to start, and each write syncs to disk: on a busy disk
        # wait long enough (a normal run ends in seconds)
        deadline = time.monotonic() + 400
        while (reads < 50 or len(versions) < 6) and time.monotonic() < deadline:
            commit = warehouse.commit("m", "2024-01-01")
            try:  # both tables through one commit
                x = warehouse.read_commit(commit, "x")
                y = warehouse.read_commit(commit, "y")
            except duckdb.IOException:
                continue  # the version we resolved was pruned two writes later: re-resolve
            values = set(x["value"]) | set(y["value"])
            assert len(values) == 1 and len(x) == len(y) == 1000  # one complete version, never mixed
            versions.add(commit.version)
            reads += 1
    finally:
        stop.set()
        writer.join(timeout=30)
    assert reads >= 50 and len(versions) >= 6


def test_catalog_has_a_view_per_table(tmp_path):
    warehouse = Warehouse(tmp_path)
    for week in ("2024-01-01", "2024-01-08"):
        warehouse.write("validated_spend", week, Stored.table(frame(1.0, 3)), run_id="r")
    warehouse.write("mmm_posterior", "2024-01-08", Stored({"roas": frame(2.0, 2)}), run_id="r")
    warehouse.refresh_catalog()
    with contextlib.closing(duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)) as con:
        assert con.execute("select partition, count(*) from validated_spend group by 1 order by 1").fetchall() == [
            ("2024-01-01", 3), ("2024-01-08", 3)]
        assert con.execute("select partition, sum(value) from mmm_posterior__roas group by 1").fetchall() == [
            ("2024-01-08", 4.0)]


# --- the commit protocol (issue 13) ----------------------------------------------------------------

WEEK = "2024-01-01"


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def versions(root, asset: str = "a", partition: str = WEEK) -> set[str]:
    return {p.name for p in (root / asset / partition).iterdir() if p.is_dir()}


def test_commits_are_sequenced_and_name_the_version_they_replaced(tmp_path):
    warehouse = Warehouse(tmp_path)
    commits = [warehouse.write("a", WEEK, Stored.table(frame(float(i))), run_id=f"r{i}") for i in range(3)]
    assert [c.sequence for c in commits] == [1, 2, 3]
    assert [c.previous for c in commits] == [None, commits[0].version, commits[1].version]
    assert warehouse.commit("a", WEEK) == commits[-1]
    assert versions(tmp_path) == {commits[1].version, commits[2].version}


def test_a_multi_partition_write_that_fails_commits_nothing(tmp_path, monkeypatch):
    warehouse = Warehouse(tmp_path)
    weeks = ["2024-01-01", "2024-01-08", "2024-01-15"]
    warehouse.write_many("a", {w: Stored.table(frame(1.0)) for w in weeks}, run_id="good")
    before = tree_digest(tmp_path / "a")
    writes = []
    real = warehouse.fs.pipe_file

    def fill_the_disk_at_the_third(path, value, **kwargs):
        writes.append(path)
        if len(writes) == 3:
            disk_full()
        real(path, value, **kwargs)

    monkeypatch.setattr(warehouse.fs, "pipe_file", fill_the_disk_at_the_third)
    with pytest.raises(OSError, match="No space left on device"):
        warehouse.write_many("a", {w: Stored.table(frame(2.0)) for w in weeks}, run_id="bad")
    assert tree_digest(tmp_path / "a") == before  # no pointer moved, no folder left behind
    assert warehouse.read("a", weeks)["value"].eq(1.0).all()


def test_a_broken_leftover_is_never_kept_as_the_previous_version(tmp_path, monkeypatch):
    warehouse = Warehouse(tmp_path)
    warehouse.write("a", WEEK, Stored.table(frame(1.0)), run_id="r1")
    good = warehouse.write("a", WEEK, Stored.table(frame(2.0)), run_id="r2")
    real = warehouse.fs.pipe_file

    def torn_write(path, value, **kwargs):  # the disk fills up in the middle of the Parquet file
        real(path, b"", **kwargs)
        disk_full()

    monkeypatch.setattr(warehouse.fs, "pipe_file", torn_write)
    with pytest.raises(OSError):
        warehouse.write("a", WEEK, Stored.table(frame(3.0)), run_id="r3")
    monkeypatch.undo()
    # a leftover of a writer killed mid-write (nothing could remove it), named after every other version
    leftover = tmp_path / "a" / WEEK / "99991231T000000000000Z-deadbeef"
    leftover.mkdir()
    (leftover / "data.parquet").write_bytes(b"")
    latest = warehouse.write("a", WEEK, Stored.table(frame(4.0)), run_id="r4")
    assert latest.previous == good.version and latest.sequence == 3
    assert versions(tmp_path) == {good.version, latest.version, leftover.name}  # young leftovers wait an hour
    assert warehouse.read_commit(good)["value"].eq(2.0).all()  # the previous version is the last good one
    old = time.time() - 2 * STALE_AFTER_SECONDS
    os.utime(leftover, (old, old))
    warehouse.write("a", WEEK, Stored.table(frame(5.0)), run_id="r5")
    assert leftover.name not in versions(tmp_path)


@pytest.mark.parametrize("clock", ["steps_back", "two_writers_disagree"])
def test_versions_are_ordered_by_commits_never_by_folder_names(tmp_path, monkeypatch, clock):
    warehouse = Warehouse(tmp_path)
    names = iter(["20240301T000000000000Z-aaaaaaaa", "20240201T000000000000Z-bbbbbbbb",
                  "20240101T000000000000Z-cccccccc"] if clock == "steps_back" else
                 ["20240301T000000000000Z-aaaaaaaa", "20240101T000000000000Z-bbbbbbbb",
                  "20240302T000000000000Z-cccccccc", "20240102T000000000000Z-dddddddd"])
    monkeypatch.setattr(storage, "_new_version", lambda: next(names))
    for i, _ in enumerate(range(3 if clock == "steps_back" else 4)):
        commit = warehouse.write("a", WEEK, Stored.table(frame(float(i))), run_id=f"r{i}")
        assert warehouse.read("a", WEEK)["value"].eq(float(i)).all()  # the pointer's folder is there
    assert versions(tmp_path) == {commit.version, commit.previous}
    warehouse.refresh_catalog()


def test_leftover_pointer_files_are_removed_on_the_next_write(tmp_path):
    warehouse = Warehouse(tmp_path)
    warehouse.write("a", WEEK, Stored.table(frame(1.0)), run_id="r1")
    leftover = tmp_path / "a" / WEEK / f"{COMMIT_FILE}.0123456789abcdef.tmp"  # a writer killed before its rename
    leftover.write_text("{")
    warehouse.write("a", WEEK, Stored.table(frame(2.0)), run_id="r2")
    assert not leftover.exists()
    assert sorted(p.name for p in (tmp_path / "a" / WEEK).iterdir() if not p.is_dir()) == [COMMIT_FILE,
                                                                                          storage.COMMIT_LOCK]


def test_the_catalog_leaves_out_partitions_it_cannot_read_and_says_which(tmp_path):
    warehouse = Warehouse(tmp_path)
    for week in ("2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"):
        warehouse.write("a", week, Stored.table(frame(1.0, 3)), run_id="r")
    gone = warehouse.commit("a", "2024-01-08")
    shutil.rmtree(tmp_path / "a" / "2024-01-08" / gone.version)  # a pointer on a missing folder
    (tmp_path / "a" / "2024-01-15" / COMMIT_FILE).write_text("{not json")
    torn = warehouse.commit("a", "2024-01-22")
    (tmp_path / "a" / "2024-01-22" / torn.version / "data.parquet").write_bytes(b"")
    skipped = warehouse.refresh_catalog()
    assert [s.split(":")[0] for s in skipped] == ["a[2024-01-15]", "a[2024-01-08]", "a[2024-01-22]"]
    with contextlib.closing(duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)) as con:
        assert con.execute("select partition, count(*) from a group by 1").fetchall() == [("2024-01-01", 3)]
