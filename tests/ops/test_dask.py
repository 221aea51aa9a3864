"""Part 3: a backfill of the model chain fanned out on Dask (dagster-dask, UMM_DASK_ADDRESS). The session's
world ran `umm materialize --from W-2 --to W` of mmm_posterior, reconciled_lift and allocation (short chains)
against a LocalCluster of two workers on 127.0.0.1, with the warehouse on S3 and the instance on Postgres, so
nothing is shared between workers but those two servers."""

from __future__ import annotations

import dagster as dg
import pytest
from distributed import Client

from tests.conftest import MODEL_CHAIN

pytestmark = [pytest.mark.ops, pytest.mark.dask, pytest.mark.s3, pytest.mark.postgres]


def test_every_week_lands_once_with_lineage_naming_its_run(ops_world):
    with ops_world.active():
        instance = ops_world.instance()
        runs = {r.tags["dagster/partition"]: r for r in instance.get_runs()
                if {k.to_user_string() for k in r.asset_selection or []} == set(MODEL_CHAIN)}
        assert sorted(runs) == ops_world.model_weeks  # one run per week
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs.values())
        for week, run in runs.items():
            landed = [e.dagster_event.event_specific_data.materialization
                      for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)]
            assert sorted((m.asset_key.to_user_string(), m.partition) for m in landed) == sorted(
                (asset, week) for asset in MODEL_CHAIN)  # each asset's week, once
            for asset in MODEL_CHAIN:
                commit = ops_world.commits[asset, week]
                assert commit.run_id == run.run_id and commit.partition == week


def test_steps_ran_on_the_dask_workers(ops_world):
    with ops_world.active():
        instance = ops_world.instance()
        chain = [r for r in instance.get_runs() if r.tags.get("dagster/partition") in ops_world.model_weeks]
        pids = {event.dagster_event.pid for run in chain
                for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)}
    assert pids and pids <= ops_world.worker_pids  # not the `umm materialize` process
    assert "on the Dask scheduler" in ops_world.outputs["model_chain"]
    print(f"\nops world: validation {ops_world.seconds['validated']:.0f} s, 3-week model chain on 2 Dask workers "
          f"{ops_world.seconds['model_chain']:.0f} s")


def test_each_worker_compiles_into_its_own_directory(ops_world):
    with Client(ops_world.dask_address) as client:
        flags = client.run(lambda: __import__("os").environ["PYTENSOR_FLAGS"])
    directories = {flag.split("base_compiledir=")[1] for flag in flags.values()}
    assert len(directories) == len(flags) == 2
    assert all("/worker-" in directory for directory in directories)  # inside each worker's scratch folder
