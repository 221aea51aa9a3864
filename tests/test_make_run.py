"""`make run` on a fresh landing zone: demo data, materialization, a running Dagster UI that shows the
validated assets materialized for every demo week (asked over its GraphQL API), and the REST API
answering with the printed viewer key."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request

from umm_assets.lib.servers import free_port
from tests.conftest import QUICK_RUN_CONFIG_FILE, ROOT

QUERY = """{ assetNodes { assetKey { path } partitionStats { numMaterialized numPartitions }
             assetMaterializations(limit: 1) { runId } } }"""


def _graphql(url: str, query: str) -> dict:
    request = urllib.request.Request(f"{url}/graphql", data=json.dumps({"query": query}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def test_make_run_brings_up_dagster_with_the_demo_weeks_materialized(tmp_path):
    port, api_port, dash_port = free_port(), free_port(), free_port()
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster_home" / "dagster.yaml").read_text())
    env = {**os.environ, "UMM_RAW_URI": str(tmp_path / "raw"), "UMM_DATA_DIR": str(tmp_path / "warehouse"),
           "DAGSTER_HOME": str(home), "UMM_DAGSTER_PORT": str(port), "UMM_LOG_LEVEL": "WARNING",
           "UMM_API_PORT": str(api_port), "UMM_API_STATE_DIR": str(tmp_path / "api"), "UMM_DASH_PORT": str(dash_port),
           "UMM_RUN_CONFIG": str(QUICK_RUN_CONFIG_FILE)}  # short chains: this tests bring-up, not accuracy
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

        # the REST API is up with the printed viewer key, serving the model chain of the newest week
        api = f"http://127.0.0.1:{api_port}"
        assert f"REST API                         {api}" in output
        key = re.search(r"API viewer key\s+(\S+)", output).group(1)
        request = urllib.request.Request(f"{api}/api/v1/roas", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            roas = json.loads(response.read())
        assert roas["lineage"]["partition"] == truth["last_week"]
        assert sorted(c["channel"] for c in roas["channels"]) == sorted(truth["channels"])

        # the dashboard is up too, and asks for a key (one exists: the printed viewer key)
        assert f"Dashboard                        http://127.0.0.1:{dash_port}" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{dash_port}/login", timeout=30) as response:
            assert b'name="key"' in response.read()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=60)
        log.close()
    for listening in (port, api_port, dash_port):
        assert not subprocess.run(["pgrep", "-f", f"--port {listening}"], capture_output=True).stdout
