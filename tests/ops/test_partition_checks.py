"""Part 4: asset checks per weekly partition. A run over several weeks reports every week's checks; a week that
fails a blocking check is not written while the passing weeks of the same run are (mmm_posterior's
convergence, allocation's budget, bounds and uplift), and the run fails naming the weeks it left out."""

from __future__ import annotations

import dagster as dg
import pytest

from tests.conftest import QUICK_RUN_CONFIG
from tests.ops.conftest import LAKE
from umm_assets.definitions import build_defs
from umm_assets.defs.runs import failure_messages, materialize_range
from umm_assets.lib.storage import Warehouse

pytestmark = [pytest.mark.ops, pytest.mark.s3, pytest.mark.postgres]


def _evaluations(instance, run_id: str, asset: str, check: str) -> dict[str, bool]:
    """Partition -> passed, for one check's evaluations in one run."""
    events = [e.dagster_event.event_specific_data
              for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
    return {e.partition: e.passed for e in events if (e.asset_key.to_user_string(), e.check_name) == (asset, check)}


def test_a_run_over_many_weeks_reports_every_weeks_checks(ops_world):
    with ops_world.active():
        instance = ops_world.instance()
        run = next(r for r in instance.get_runs() if dg.AssetKey("validated_spend") in (r.asset_selection or []))
        assert _evaluations(instance, run.run_id, "validated_spend", "contract") == {week: True for week in ops_world.weeks}
        assert set(_evaluations(instance, run.run_id, "validated_spend", "completeness")) == set(ops_world.weeks)


def _rerun(ops_world, asset: str, weeks: list[str], **config):
    with ops_world.active():
        instance = ops_world.instance()
        before = {w: Warehouse(LAKE).commit(asset, w) for w in weeks}
        op_config = {**QUICK_RUN_CONFIG, asset: {**QUICK_RUN_CONFIG.get(asset, {}), **config}}
        result = materialize_range(build_defs(), instance, [asset], weeks[0], weeks[-1], log_level="ERROR",
                                   op_config=op_config)
        after = {w: Warehouse(LAKE).commit(asset, w) for w in weeks}
        return instance, result, before, after


def test_an_unconverged_week_keeps_the_converged_weeks_of_its_run(ops_world, monkeypatch):
    from umm_assets.defs.mmm_posterior import checks

    weeks, bad = ops_world.model_weeks[:2], ops_world.model_weeks[0]
    real = checks.convergence_problems
    monkeypatch.setattr(checks, "convergence_problems", lambda d, c: (
        ["R-hat 1.5 > 1.01 (forced)"] if str(d["window_end"])[:10] == bad else real(d, c)))
    instance, result, before, after = _rerun(ops_world, "mmm_posterior", weeks, escalate=False)
    assert not result.success
    assert f"{bad}: R-hat 1.5" in "\n".join(failure_messages(result))
    assert after[bad] == before[bad]  # not written: the previous posterior is still what readers get
    good = weeks[1]
    assert after[good].run_id == result.run_id and after[good].sequence == before[good].sequence + 1
    assert _evaluations(instance, result.run_id, "mmm_posterior", "convergence") == {bad: False, good: True}
    materialized = {r.partition_key for r in instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("mmm_posterior"), asset_partitions=weeks), limit=10).records
        if r.run_id == result.run_id}
    assert materialized == {good}


def test_a_plan_failing_a_blocking_check_is_not_committed(ops_world, monkeypatch):
    from umm_assets.defs.allocation import assets

    weeks, bad = ops_world.model_weeks[1:], ops_world.model_weeks[1]
    real = assets._plan

    def plan(week, *args):
        tables, spend = real(week, *args)
        if week == bad:  # twice the budget, past every upper bound
            tables["allocation"] = tables["allocation"].assign(recommended=tables["allocation"]["upper_bound"] * 2)
        return tables, spend

    monkeypatch.setattr(assets, "_plan", plan)
    instance, result, before, after = _rerun(ops_world, "allocation", weeks)
    assert not result.success
    assert f"{bad}: budget_sums_to_total, bounds_respected" in "\n".join(failure_messages(result))
    assert after[bad] == before[bad]  # the failed plan was never committed, so never served
    assert after[weeks[1]].run_id == result.run_id
    assert _evaluations(instance, result.run_id, "allocation", "bounds_respected") == {bad: False, weeks[1]: True}
