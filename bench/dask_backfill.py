"""Wall time of a 3-week backfill of the model chain on Dask with 1 and with 2 workers.

The same set-up as tests/ops: the landing zone and the warehouse on an S3 server (moto), the Dagster
instance on a throwaway PostgreSQL, a LocalCluster on 127.0.0.1 (one thread per worker), a 64-week demo
world validated once, then ``umm materialize --from W-2 --to W --select mmm_posterior,reconciled_lift,
allocation`` with ``UMM_DASK_ADDRESS`` (one run per week, short chains: tests/quick_run_config.yaml),
timed from the command's start to its end, per cluster size. Workers are started before the clock starts;
their imports and their first compile are inside it.

    .venv/bin/python bench/dask_backfill.py [--workers 1 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' server helpers

from tests.servers import AWS_TEST_ENV, dask_cluster, environment, moto_server, postgres, upload  # noqa: E402

CHAIN = "mmm_posterior,reconciled_lift,allocation"
VALIDATED = "validated_spend,validated_outcomes,validated_controls,validated_attribution,validated_tests"


def umm(env: dict[str, str], *args: str) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "umm_assets.cli", *args], env=env, cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    import boto3

    from umm_assets.lib import demo
    from umm_assets.lib.weeks import last_complete_week

    work = Path(tempfile.mkdtemp(prefix="umm-bench-dask-"))
    truth = demo.generate(work / "raw", seed=11, weeks=64, end_week=last_complete_week())
    last = dt.date.fromisoformat(truth["last_week"])
    start = (last - dt.timedelta(weeks=2)).isoformat()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", work / "dagster.yaml")
    os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / '.cache' / 'pytensor'}")
    with moto_server() as endpoint, postgres() as pg_url:
        env = {**os.environ, **AWS_TEST_ENV, "AWS_ENDPOINT_URL": endpoint, "UMM_RAW_URI": "s3://landing/raw",
               "UMM_DATA_DIR": "s3://lake/warehouse", "UMM_FIRST_WEEK": truth["first_week"],
               "UMM_DAGSTER_PG_URL": pg_url, "DAGSTER_HOME": str(work), "UMM_LOG_LEVEL": "WARNING",
               "UMM_RUN_CONFIG": str(ROOT / "tests" / "quick_run_config.yaml")}
        with environment(env):
            for bucket in ("landing", "lake"):
                boto3.client("s3").create_bucket(Bucket=bucket)
            upload(work / "raw", "s3://landing/raw")
            print(f"validated 64 weeks in {umm(env, 'materialize', '--from', truth['first_week'], '--to', str(last), '--select', VALIDATED):.1f} s", flush=True)
            times = {}
            for workers in args.workers:
                with dask_cluster(workers) as address:
                    times[workers] = umm({**env, "UMM_DASK_ADDRESS": address}, "materialize", "--from", start,
                                         "--to", str(last), "--select", CHAIN)
                print(f"{workers} worker(s): 3-week model-chain backfill in {times[workers]:.1f} s", flush=True)
    if len(times) > 1:
        one, most = times[min(times)], times[max(times)]
        print(f"speed-up {min(times)} -> {max(times)} workers: {one / most:.2f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
