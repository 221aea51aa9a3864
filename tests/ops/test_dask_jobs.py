"""The Dask path's cheap half, run by `make test` (the ops world's model backfill on S3 and Postgres runs with
`make test-ops`): a run sent to an executor names a job its workers can rebuild, and a validation range
runs its steps on a LocalCluster's workers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import dagster as dg
import pytest
from distributed import Client

from tests.conftest import MODEL_CHAIN, ROOT, VALIDATED
from tests.servers import dask_cluster, environment
from umm_assets.defs import runs
from umm_assets.lib.settings import load_settings
from umm_assets.lib.storage import Warehouse

pytestmark = pytest.mark.dask


@pytest.mark.parametrize(("assets", "job"), [
    (VALIDATED, "validated_job"), (MODEL_CHAIN, "model_chain_job"), (["mmm_posterior"], "model_chain_job"),
    (["validated_spend", "mmm_posterior"], runs.SELECTION_JOB)])
def test_a_run_on_an_executor_names_a_job_its_workers_can_rebuild(assets, job):
    # what a worker does with the run's recipe: rebuild the job from its module, function and arguments
    recipe = dg.build_reconstructable_job(runs.__name__, runs.location_job.__name__, reconstructable_args=(assets,),
                                          reconstructable_kwargs=runs.location_fields(load_settings()))
    rebuilt = recipe.get_definition()
    assert rebuilt.name == job
    assert {dg.AssetKey(a) for a in assets} <= rebuilt.asset_layer.selected_asset_keys


def test_a_validation_range_runs_its_steps_on_the_dask_workers(small_world, tmp_path):
    raw, truth = small_world
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    env = {"UMM_RAW_URI": str(raw), "UMM_DATA_DIR": str(tmp_path / "warehouse"), "UMM_FIRST_WEEK": truth["first_week"],
           "DAGSTER_HOME": str(tmp_path), "UMM_LOG_LEVEL": "WARNING"}
    weeks = (truth["last_week"], truth["last_week"])
    with environment(env), dask_cluster(2) as address:
        done = subprocess.run([sys.executable, "-m", "umm_assets.cli", "materialize", "--from", weeks[0], "--to",
                               weeks[1], "--select", "validated_spend,validated_outcomes"], cwd=ROOT,
                              env={**os.environ, "UMM_DASK_ADDRESS": address}, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "on the Dask scheduler" in done.stdout + done.stderr
        with dg.DagsterInstance.get() as instance:
            (run,) = instance.get_runs()
            assert run.job_name == "validated_job" and run.status == dg.DagsterRunStatus.SUCCESS
            pids = {e.dagster_event.pid for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)}
        with Client(address) as client:
            workers = set(client.run(os.getpid).values())
    assert pids and pids <= workers  # every step ran on a worker, none in the `umm materialize` process
    assert Warehouse(tmp_path / "warehouse").partitions("validated_spend") == [truth["last_week"]]
