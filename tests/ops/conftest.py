"""The platform past one machine, built once per session and shared by the tests of tests/ops: the landing
zone and the warehouse on an S3 server (moto), the Dagster instance on PostgreSQL, and the model chain fanned
out on a Dask cluster of two workers, all started here on 127.0.0.1 and run through the ``umm`` command:

1. ``umm materialize --from FIRST --to LAST --select validated_*`` (one run, Postgres instance, S3);
2. ``umm materialize --from W-2 --to W --select mmm_posterior,reconciled_lift,allocation`` with
   ``UMM_DASK_ADDRESS``: one run per week, every step on a Dask worker (short chains).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import boto3
import dagster as dg
import pytest

from tests.conftest import MODEL_CHAIN, QUICK_RUN_CONFIG_FILE, ROOT, VALIDATED
from tests.servers import AWS_TEST_ENV, dask_cluster, environment, moto_server, postgres, upload
from umm_assets.lib.storage import Commit, Warehouse

MODEL_WEEKS = 3  # the Dask backfill: three as-of weeks of the model chain
LANDING, LAKE = "s3://landing/raw", "s3://lake/warehouse"


@dataclass
class OpsWorld:
    env: dict[str, str]  # the platform's environment (S3, Postgres, short chains): for `umm` and servers
    truth: dict
    weeks: list[str]
    dask_address: str
    worker_pids: set[int]
    outputs: dict[str, str] = field(default_factory=dict)  # what each `umm` command printed
    seconds: dict[str, float] = field(default_factory=dict)  # how long each took
    commits: dict[tuple[str, str], Commit] = field(default_factory=dict)  # (asset, week) after the Dask backfill

    @property
    def model_weeks(self) -> list[str]:
        return self.weeks[-MODEL_WEEKS:]

    def umm(self, *args: str, name: str | None = None, **env: str) -> subprocess.CompletedProcess:
        """Run ``umm ARGS`` in the world's environment; a failure fails the test with its output."""
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "umm_assets.cli", *args], env={**self.env, **env}, cwd=ROOT,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"umm {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        if name:
            self.outputs[name], self.seconds[name] = done.stdout + done.stderr, time.monotonic() - started
        return done

    def instance(self) -> dg.DagsterInstance:
        """The world's Dagster instance (on Postgres), opened in this process; use inside :meth:`active`."""
        return dg.DagsterInstance.get()

    def active(self):
        """The world's environment in this process (settings, instance, S3 endpoint)."""
        return environment(self.env)


@pytest.fixture(scope="session")
def ops_world(small_world, tmp_path_factory) -> Iterator[OpsWorld]:
    raw, truth = small_world
    first = dt.date.fromisoformat(truth["first_week"])
    weeks = [(first + dt.timedelta(weeks=i)).isoformat() for i in range(truth["weeks"])]
    home = tmp_path_factory.mktemp("ops_dagster_home")
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    with moto_server() as endpoint, postgres() as pg_url, contextlib.ExitStack() as cluster:
        env = {**os.environ, **AWS_TEST_ENV, "AWS_ENDPOINT_URL": endpoint, "UMM_RAW_URI": LANDING,
               "UMM_DATA_DIR": LAKE, "UMM_FIRST_WEEK": truth["first_week"], "UMM_DAGSTER_PG_URL": pg_url,
               "DAGSTER_HOME": str(home), "UMM_RUN_CONFIG": str(QUICK_RUN_CONFIG_FILE), "UMM_LOG_LEVEL": "WARNING"}
        with environment(env):  # only while setting up: later tests (and other folders) keep their own
            for bucket in ("landing", "lake"):
                boto3.client("s3").create_bucket(Bucket=bucket)
            upload(raw, LANDING)
            # workers start here and inherit the world's environment (S3 endpoint, Postgres URL)
            address = cluster.enter_context(dask_cluster(2))
            from distributed import Client

            with Client(address) as client:
                pids = set(client.run(os.getpid).values())
            world = OpsWorld(env, truth, weeks, address, pids)
            world.umm("materialize", "--from", weeks[0], "--to", weeks[-1], "--select", ",".join(VALIDATED),
                      name="validated")
            world.umm("materialize", "--from", world.model_weeks[0], "--to", weeks[-1], "--select",
                      ",".join(MODEL_CHAIN), name="model_chain", UMM_DASK_ADDRESS=address)
            warehouse = Warehouse(LAKE)  # as the backfill left it (later tests rewrite some weeks)
            world.commits = {(a, w): warehouse.commit(a, w) for a in MODEL_CHAIN for w in world.model_weeks}
        yield world
