"""The serving layer the API and the dashboard share: the LRU, snapshots of one commit, built objects kept per
stored version, and the scenario solver cache."""

from __future__ import annotations

import pandas as pd
import pytest

from umm_assets.lib.serving import scenarios
from umm_assets.lib.serving.reader import LRU, open_reader
from umm_assets.lib.storage import Stored, Warehouse


def test_the_lru_forgets_the_least_recently_used_and_size_zero_keeps_nothing():
    cache = LRU(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and cache.get("c") == 3
    off = LRU(0)
    off.put("a", 1)
    assert off.get("a") is None and len(off) == 0


def test_a_snapshot_is_a_mapping_of_one_commits_tables_and_views_follow_new_versions(tmp_path):
    warehouse = Warehouse(tmp_path / "warehouse")
    warehouse.write("stage", "2026-01-05", Stored({"x": pd.DataFrame({"v": [1]}), "y": pd.DataFrame({"v": [2]})}),
                    run_id="r1")
    reader = open_reader(str(tmp_path / "warehouse"))
    built = []

    def build(snapshot):
        built.append(snapshot.commit.version)
        assert set(snapshot) == {"x", "y"} and len(snapshot) == 2 and "z" not in snapshot
        return int(snapshot["x"]["v"].iloc[0]) + int(snapshot["y"]["v"].iloc[0])

    assert reader.view("sum", "stage", None, (), build) == 3
    assert reader.view("sum", "stage", "2026-01-05", (), build) == 3 and len(built) == 1  # kept
    warehouse.write("stage", "2026-01-05", Stored({"x": pd.DataFrame({"v": [10]}), "y": pd.DataFrame({"v": [2]})}),
                    run_id="r2")
    reader.forget("stage", "2026-01-05")  # (the pointer's stat signature would say so after the racy window)
    assert reader.view("sum", "stage", None, (), build) == 12 and len(built) == 2


def test_one_scenario_solver_per_stored_version(api_world):
    reader = open_reader(str(api_world.data_dir))
    first = reader.view("probe", "allocation", None, (), lambda snapshot: scenarios.solver(reader, snapshot))
    again = reader.view("probe2", "allocation", None, (), lambda snapshot: scenarios.solver(reader, snapshot))
    assert first is again
    result, snapshot = scenarios.solve(reader, None, sum(first.current.values()))
    assert snapshot.commit.partition == api_world.newest
    assert result.allocation["recommended"].sum() == pytest.approx(sum(first.current.values()))
