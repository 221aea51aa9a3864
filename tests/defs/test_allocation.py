"""allocation through real Dagster runs: a feasible plan whose scenarios solve from the stored partition, a
channel the guard rail held, and moves to spend levels nothing measured."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pytest

from tests.defs.conftest import OP_CONFIG
from umm_assets.defs.runs import failure_messages, materialize_range
from umm_assets.lib import allocate
from umm_assets.lib.storage import Stored


def test_allocation_is_feasible_and_scenarios_solve_from_the_stored_partition(modelled):
    platform, _ = modelled
    week = platform.truth["last_week"]
    commit = platform.warehouse.require("allocation", week)
    tables = {name: platform.warehouse.read_commit(commit, name) for name in commit.tables}
    stored = tables["allocation"]
    summary = tables["summary"].iloc[0]
    assert stored["recommended"].sum() == pytest.approx(summary["budget"])
    assert (stored["recommended"] >= stored["lower_bound"] - 1e-6).all()
    assert summary["budget"] == pytest.approx(stored["current"].sum())  # default: the last 13 weeks' mean
    frontier = tables["frontier"]
    assert frontier["budget_ratio"].min() == 0.5 and frontier["budget_ratio"].max() == 1.5
    solved = allocate.solve_scenario(tables, float(summary["budget"]))
    assert np.allclose(solved.allocation["recommended"], stored["recommended"], rtol=1e-3, atol=1.0)


def test_a_held_channel_stays_at_its_current_spend_and_every_plan_is_held_to_the_mmm(scratch):
    """A reconciled partition whose guard rail held an untested channel: the allocation locks it at its
    current spend, says why in its table, summary and metadata, and checks the plan against the plain MMM."""
    platform, _ = scratch
    week = platform.truth["last_week"]
    warehouse = platform.warehouse
    commit = warehouse.require("reconciled_lift", week)
    tables = {name: warehouse.read_commit(commit, name) for name in commit.tables}
    untested = tables["reconciled"].query("n_tests == 0")["channel"].iloc[0]
    held = tables["reconciled"]["channel"] == untested
    tables["reconciled"].loc[held, ["hold_in_allocation", "guard_note"]] = [True, f"{untested} (untested): held"]
    warehouse.write("reconciled_lift", week, Stored(tables, upstream=commit.upstream), run_id="test",
                    code_version=commit.code_version)
    result = materialize_range(platform.defs, platform.instance, ["allocation"], week, log_level="WARNING",
                               op_config=OP_CONFIG)
    assert result.success, failure_messages(result)
    allocation = warehouse.read("allocation", week, "allocation").set_index("channel")
    summary = warehouse.read("allocation", week, "summary").iloc[0]
    assert allocation.loc[untested, "locked"] and allocation.loc[untested, "hold_reason"] == f"{untested} (untested): held"
    assert allocation.loc[untested, "recommended"] == pytest.approx(allocation.loc[untested, "current"])
    assert summary["held_channels"] == untested and summary["uplift_mmm_mean"] >= 0
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["not_worse_than_current_under_mmm"].passed
    event = next(iter(result.get_asset_materialization_events()))
    assert any("held" in record.data["hold_reason"] for record in event.materialization.metadata["allocation"].records)


def test_a_move_to_a_spend_level_nothing_measured_is_flagged_in_the_table_check_and_metadata(scratch):
    """A posterior whose window saw no spend at all (its measured levels rewritten to zero, no test levels):
    every channel the plan raises goes where nothing measured its curve, and says so."""
    platform, _ = scratch
    week = platform.truth["last_week"]
    warehouse = platform.warehouse
    for asset, table, columns in (("mmm_posterior", "roas", ["weekly_spend_p05", "weekly_spend_p95"]),
                                  ("reconciled_lift", "test_coverage", ["weekly_spend"])):
        commit = warehouse.require(asset, week)
        tables = {name: warehouse.read_commit(commit, name) for name in commit.tables}
        tables[table][columns] = 0.0 if asset == "mmm_posterior" else np.nan
        warehouse.write(asset, week, Stored(tables, upstream=commit.upstream), run_id="test",
                        code_version=commit.code_version)
    result = materialize_range(platform.defs, platform.instance, ["allocation"], week, log_level="WARNING",
                               op_config=OP_CONFIG)
    assert result.success, failure_messages(result)  # a warning, not a blocked plan
    allocation = warehouse.read("allocation", week, "allocation").set_index("channel")
    raised = sorted(allocation.index[allocation["recommended"] > allocation["current"] * (1 + 1e-9)])
    assert raised, "the plan moves no channel"
    assert sorted(allocation.index[allocation["support"] == "above data"]) == raised
    assert (allocation.loc[raised, "support_note"].str.contains("above what was measured")).all()
    summary = warehouse.read("allocation", week, "summary").iloc[0]
    assert sorted(summary["outside_data"].split(",")) == raised
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "plan_within_measured_spend")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert all(channel in check.description for channel in raised)
    event = next(iter(result.get_asset_materialization_events()))
    shown = {r.data["channel"]: r.data["support"] for r in event.materialization.metadata["allocation"].records}
    assert {c for c, v in shown.items() if v == "above data"} == set(raised)

