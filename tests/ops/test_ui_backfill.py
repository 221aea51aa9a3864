"""Part 4 and 5 as a data engineer meets them in the UI: `umm up` (webserver + daemon, on the session's Postgres
instance; landing zone and warehouse in local folders, as `make run` has them), a backfill launched the way the
UI launches it (GraphQL `launchPartitionBackfill`), run by the daemon; and a run terminated from the UI during a
model fit."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import dagster as dg
import pytest

from tests.conftest import MODEL_CHAIN, QUICK_RUN_CONFIG, ROOT, VALIDATED_WEEKLY
from tests.ops.test_stop import LONG_FIT, STOP_WITHIN_S
from umm_assets.lib.servers import free_port
from umm_assets.lib.storage import Warehouse
from umm_assets.webserver import Webserver

pytestmark = [pytest.mark.ops, pytest.mark.postgres, pytest.mark.s3]

@dataclass(frozen=True)
class Dagster(Webserver):
    """The webserver of the test's `umm up`, and the warehouse it writes."""

    warehouse: Warehouse | None = None


@pytest.fixture(scope="module")
def dagster(ops_world, small_world, tmp_path_factory) -> Iterator[Dagster]:
    """`umm up` on a copy of the small world and the session's Postgres; stopped (Ctrl-C, as a person would)
    at the end."""
    ports = {name: str(free_port()) for name in ("UMM_DAGSTER_PORT", "UMM_API_PORT", "UMM_DASH_PORT")}
    root = tmp_path_factory.mktemp("umm_up")
    shutil.copytree(small_world[0], root / "raw")
    log = root / "up.log"
    env = {**ops_world.env, **ports, "UMM_HOST": "127.0.0.1", "UMM_API_STATE_DIR": str(root / "api"),
           "UMM_RAW_URI": str(root / "raw"), "UMM_DATA_DIR": str(root / "warehouse")}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "umm_assets.cli", "up"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while "Unified-M is up" not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        yield Dagster(f"http://127.0.0.1:{ports['UMM_DAGSTER_PORT']}", Warehouse(root / "warehouse"))
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _materializations(instance, run_ids: list[str]) -> list[tuple[str, str]]:
    return sorted((e.dagster_event.event_specific_data.materialization.asset_key.to_user_string(),
                   e.dagster_event.event_specific_data.materialization.partition)
                  for run_id in run_ids for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION))


def _pool_steps(instance, run_ids: list[str]) -> list[tuple[float, float]]:
    """(start, end) of every step in the model_fit pool (mmm_posterior, reconciled_lift) of these runs."""
    spans = {}
    for run_id in run_ids:
        for e in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}):
            if e.step_key in ("mmm_posterior", "reconciled_lift"):
                spans.setdefault((run_id, e.step_key), []).append(e.timestamp)
    return sorted(tuple(sorted(t)) for t in spans.values())


def test_a_ui_backfill_materializes_every_partition_once(ops_world, dagster):
    validated, model = ops_world.weeks[-10:-6], ops_world.weeks[-5:-3]  # not the Dask backfill's weeks
    partitions = {**{a: validated for a in VALIDATED_WEEKLY}, **{a: model for a in MODEL_CHAIN}}
    backfill_id = dagster.launch_backfill(partitions, QUICK_RUN_CONFIG, "ops test: 4 validated weeks, 2 model weeks")
    state = dagster.wait(backfill_id, lambda s: s["status"] not in ("REQUESTED",))
    assert state["status"] == "COMPLETED_SUCCESS", state
    run_ids = [r["runId"] for r in state["runs"]]
    assert all(r["status"] == "SUCCESS" for r in state["runs"])
    expected = sorted((a, w) for a, weeks in partitions.items() for w in weeks)
    with ops_world.active():
        instance = ops_world.instance()
        assert _materializations(instance, run_ids) == expected  # every partition, exactly once
        for asset, week in expected:
            assert dagster.warehouse.commit(asset, week).run_id in run_ids
        spans = _pool_steps(instance, run_ids)  # the model_fit pool (limit 1) held on Postgres too
        assert len(spans) >= 2 and all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
        # the landing-zone sensor recorded what each raw folder holds
        observed = instance.fetch_observations(dg.AssetKey(["raw", "media_spend"]), limit=1).records
        assert observed and observed[0].event_log_entry.asset_observation.metadata["file_count"].value > 0


def test_terminating_a_run_from_the_ui_stops_the_fit_and_writes_nothing(ops_world, dagster):
    week = ops_world.weeks[-5]  # its posterior came from the backfill above
    before = dagster.warehouse.commit("mmm_posterior", week)
    backfill_id = dagster.launch_backfill({"mmm_posterior": [week]}, {"mmm_posterior": LONG_FIT}, "ops test: terminate")
    run_id = dagster.wait(backfill_id, lambda s: s["runs"], timeout=300)["runs"][0]["runId"]
    with ops_world.active():
        instance = ops_world.instance()
        deadline = time.monotonic() + 300
        while not any("sampling" in (e.user_message or "") for e in instance.all_logs(run_id)):
            assert time.monotonic() < deadline and not instance.get_run_by_id(run_id).is_finished
            time.sleep(1)
        sent = time.monotonic()
        assert dagster.terminate(run_id)["__typename"] == "TerminateRunSuccess"
        while not instance.get_run_by_id(run_id).is_finished:
            assert time.monotonic() - sent < 60
            time.sleep(0.5)
        stopped = time.monotonic() - sent
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.CANCELED
        assert stopped < STOP_WITHIN_S, f"took {stopped:.1f} s"
        assert dagster.warehouse.commit("mmm_posterior", week) == before
