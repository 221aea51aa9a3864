"""Serving while another process rewrites the newest partition: every response is one complete,
committed version (the previous or the new one), never an error, never half of each."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.api.rewriter import scale
from tests.api.support import ROOT, auth, serving
from tests.conftest import QUICK_RUN_CONFIG
from umm_assets.lib.serving.keys import KeyStore
from umm_assets.lib.storage import Warehouse

VALIDATED_WEEKLY = ["validated_spend", "validated_outcomes", "validated_controls", "validated_attribution"]


class Writer:
    """The rewriter module in its own process; collects the run ids it reports."""

    def __init__(self, args: list[str], log: Path):
        self.process = subprocess.Popen([sys.executable, "-m", "tests.api.rewriter", *args], cwd=ROOT,
                                        stdout=subprocess.PIPE, stderr=open(log, "w"), text=True)
        self.lines: list[dict] = []
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            record = json.loads(line)
            if record.get("ready"):
                self.ready.set()
            self.lines.append(record)
        self.ready.set()

    def running(self) -> bool:
        return self.process.poll() is None

    def finish(self, timeout: float) -> list[dict]:
        self.process.wait(timeout=timeout)
        self.thread.join(timeout=10)
        return [r for r in self.lines if "run_id" in r]


def hammer(url: str, key: str, writer: Writer, checks: dict[str, Callable[[dict], None]], *, threads: int = 4,
           timeout: float = 600) -> tuple[int, list[str]]:
    """GET every path in ``checks`` in a loop from several threads until the writer exits."""
    problems: list[str] = []
    count = [0]
    lock = threading.Lock()
    assert writer.ready.wait(timeout=120), "the writer did not start"
    deadline = time.monotonic() + timeout

    def loop() -> None:
        with httpx.Client(base_url=url, headers=auth(key), timeout=30) as client:
            while writer.running() and time.monotonic() < deadline:
                for path, check in checks.items():
                    try:
                        response = client.get(path)
                        assert response.status_code == 200, (response.status_code, response.text[:300])
                        check(response.json())
                    except (AssertionError, httpx.HTTPError) as err:
                        with lock:
                            problems.append(f"{path}: {type(err).__name__}: {err}")
                    with lock:
                        count[0] += 1

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return count[0], problems


@pytest.fixture
def world_copy(api_world, tmp_path) -> tuple[Path, Path, str]:
    """A private copy of the session's landing zone and warehouse, and a viewer+analyst key over it."""
    raw, data_dir = tmp_path / "raw", tmp_path / "warehouse"
    shutil.copytree(api_world.raw, raw)
    shutil.copytree(api_world.data_dir, data_dir)
    store = KeyStore(tmp_path / "state" / "keys.json")
    return raw, data_dir, store.create("concurrency", "analyst")[1]


def test_reads_stay_complete_while_dagster_rewrites_validated_partitions(api_world, world_copy, tmp_path):
    raw, data_dir, key = world_copy
    week = api_world.newest
    before = Warehouse(data_dir).commit("validated_spend", week)
    seen_versions, seen_runs = set(), set()

    def partitions(body: dict) -> None:
        for asset in VALIDATED_WEEKLY:
            rows = body["assets"][asset]
            assert [r["partition"] for r in rows] == api_world.weeks, asset
            assert all(r["status"] == "materialized" for r in rows), asset
        newest = body["assets"]["validated_spend"][-1]
        seen_versions.add(newest["version"])
        seen_runs.add(newest["run_id"])

    def quality(body: dict) -> None:
        assert {(r["asset"], r["partition"]) for r in body["records"]} == {
            *((a, week) for a in VALIDATED_WEEKLY), ("validated_tests", "all")}

    with serving(data_dir, tmp_path / "state", tmp_path / "serve.log") as url:
        writer = Writer(["dagster", "--raw", str(raw), "--data-dir", str(data_dir), "--first-week", api_world.weeks[0],
                         "--home", str(tmp_path / "home"), "--select", "validated_spend,validated_outcomes",
                         "--partition", week, "--times", "2"], tmp_path / "writer.log")
        count, problems = hammer(url, key, writer, {"/api/v1/partitions": partitions,
                                                    "/api/v1/data-quality?weeks=1": quality,
                                                    "/health": lambda body: None})
        runs = writer.finish(timeout=300)
    assert not problems, problems[:5]
    assert len(runs) == 2 and all(r["success"] for r in runs), runs
    assert seen_runs <= {before.run_id, *(r["run_id"] for r in runs)}
    assert len(seen_versions) >= 2, "the reads did not overlap the rewrites"
    assert count > 20


def test_reads_stay_complete_while_dagster_rewrites_the_allocation(model_world, world_copy, tmp_path):
    raw, data_dir, key = world_copy
    week = model_world.newest
    before = Warehouse(data_dir).commit("allocation", week)
    channels = sorted(model_world.truth["channels"])
    seen_versions, seen_runs = set(), set()

    def allocation(body: dict) -> None:
        assert [c["channel"] for c in body["channels"]] == channels
        assert sum(c["recommended"] for c in body["channels"]) == pytest.approx(body["budget"], rel=1e-6)
        seen_versions.add(body["lineage"]["version"])
        seen_runs.add(body["lineage"]["run_id"])

    def roas(body: dict) -> None:
        assert [c["channel"] for c in body["channels"]] == channels

    with serving(data_dir, tmp_path / "state", tmp_path / "serve.log") as url:
        writer = Writer(["dagster", "--raw", str(raw), "--data-dir", str(data_dir), "--first-week",
                         model_world.weeks[0], "--home", str(tmp_path / "home"), "--select", "allocation",
                         "--partition", week, "--times", "2", "--op-config", json.dumps(QUICK_RUN_CONFIG)],
                        tmp_path / "writer.log")
        count, problems = hammer(url, key, writer, {"/api/v1/allocation": allocation, "/api/v1/roas": roas})
        runs = writer.finish(timeout=600)
    assert not problems, problems[:5]
    assert len(runs) == 2 and all(r["success"] for r in runs), runs
    assert seen_runs <= {before.run_id, *(r["run_id"] for r in runs)}
    assert len(seen_versions) >= 2, "the reads did not overlap the rewrites"


def test_no_response_ever_mixes_two_versions_under_rapid_rewrites(model_world, world_copy, tmp_path):
    """Each rewrite scales the stored allocation by its own factor and tags the run id with it, so a
    response's numbers must match its own lineage exactly; old versions are pruned under the readers."""
    raw, data_dir, key = world_copy
    week = model_world.newest
    base = Warehouse(data_dir)
    commit = base.commit("allocation", week)
    stored = base.read_commit(commit, "allocation").set_index("channel")["current"]
    budget = float(base.read_commit(commit, "summary")["budget"].iloc[0])
    generations = set()

    def factor(body: dict) -> float:
        run_id = body["lineage"]["run_id"]
        generation = int(run_id.removeprefix("gen-")) if run_id.startswith("gen-") else 0
        generations.add(generation)
        return scale(generation)

    def allocation(body: dict) -> None:
        f = factor(body)
        assert body["budget"] == pytest.approx(budget * f, rel=1e-12)
        for row in body["channels"]:
            assert row["current"] == pytest.approx(stored[row["channel"]] * f, rel=1e-12)
        assert sum(c["recommended"] for c in body["channels"]) == pytest.approx(body["budget"], rel=1e-6)

    def partitions(body: dict) -> None:
        assert body["assets"]["allocation"][-1]["partition"] == week

    with serving(data_dir, tmp_path / "state", tmp_path / "serve.log") as url:
        writer = Writer(["scaled", "--data-dir", str(data_dir), "--partition", week, "--times", "150"],
                        tmp_path / "writer.log")
        count, problems = hammer(url, key, writer, {"/api/v1/allocation": allocation, "/api/v1/partitions": partitions},
                                 threads=6)
        runs = writer.finish(timeout=300)
        with httpx.Client(base_url=url, headers=auth(key)) as client:
            final = client.get("/api/v1/allocation").json()
            scenario = client.post("/api/v1/scenarios", json={"budget": final["budget"]})
    assert not problems, problems[:5]
    assert len(runs) == 150
    assert final["lineage"]["run_id"] == "gen-150"
    assert scenario.status_code == 200 and scenario.json()["lineage"]["run_id"] == "gen-150"
    assert len(generations) >= 10, f"only {len(generations)} versions were read during {count} requests"
