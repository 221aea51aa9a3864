"""`make run` on a fresh landing zone: demo data, materialization, and a running Dagster UI that shows
the validated assets materialized for every demo week (asked over the webserver's GraphQL API)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from tests.conftest import ROOT

QUERY = """{ assetNodes { assetKey { path } partitionStats { numMaterialized numPartitions }
             assetMaterializations(limit: 1) { runId } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def test_make_run_brings_up_dagster_with_the_demo_weeks_materialized(tmp_path):
    port = _free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster_home" / "dagster.yaml").read_text())
    env = {**os.environ, "UMM_RAW_URI": str(tmp_path / "raw"), "UMM_DATA_DIR": str(tmp_path / "warehouse"),
           "DAGSTER_HOME": str(home), "UMM_DAGSTER_PORT": str(port), "UMM_LOG_LEVEL": "WARNING"}
    log = open(tmp_path / "make-run.log", "w")
    process = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while "Unified-M is up" not in (tmp_path / "make-run.log").read_text():
            assert process.poll() is None, (tmp_path / "make-run.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "make run did not come up in time"
            time.sleep(1)
        output = (tmp_path / "make-run.log").read_text()
        assert f"Dagster UI (webserver + daemon)  {url}" in output
        truth = json.loads((tmp_path / "raw" / "truth.json").read_text())

        nodes = {tuple(n["assetKey"]["path"]): n for n in _graphql(url, QUERY)["assetNodes"]}
        for asset in ("validated_spend", "validated_outcomes", "validated_controls", "validated_attribution"):
            assert nodes[(asset,)]["partitionStats"]["numMaterialized"] == truth["weeks"], asset
        assert nodes[("validated_tests",)]["assetMaterializations"]
        health = _graphql(url, "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }")
        statuses = {d["daemonType"]: d["healthy"] for d in health["instance"]["daemonHealth"]["allDaemonStatuses"]}
        assert statuses["SCHEDULER"] and statuses["SENSOR"] and statuses["BACKFILL"]
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
        log.close()
    assert b"dagster" not in subprocess.run(["pgrep", "-f", f"--port {port}"], capture_output=True).stdout
