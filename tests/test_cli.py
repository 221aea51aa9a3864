"""The ``umm`` command line as a user runs it: real processes, a real DAGSTER_HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.conftest import INSTANCE_CONFIG, QUICK_RUN_CONFIG_FILE, ROOT

UMM = str(Path(sys.executable).with_name("umm"))


def umm(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([UMM, *args], env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def cli_env(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(json.dumps(INSTANCE_CONFIG))
    return {"UMM_RAW_URI": str(tmp_path / "raw"), "UMM_DATA_DIR": str(tmp_path / "warehouse"),
            "DAGSTER_HOME": str(home), "UMM_LOG_LEVEL": "WARNING", "UMM_RUN_CONFIG": str(QUICK_RUN_CONFIG_FILE)}


def test_help_lists_the_contract_commands():
    out = subprocess.run([UMM, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("demo", "materialize", "serve", "dash", "keys"):
        assert command in out


def test_demo_then_materialize_latest_is_recorded_in_dagster_home(cli_env, small_world, monkeypatch):
    _, truth = small_world
    env = {**cli_env, "UMM_FIRST_WEEK": truth["first_week"]}
    demo = umm("demo", "--seed", "11", "--weeks", "64", env=env)
    assert demo.returncode == 0, demo.stderr
    raw = Path(env["UMM_RAW_URI"])
    written = json.loads((raw / "truth.json").read_text())
    assert len(written["channels"]) >= 5 and len(written["tests"]) >= 3
    assert {p.suffix for p in (raw / "media_spend").iterdir()} >= {".csv", ".gz", ".parquet"}

    done = umm("materialize", "--latest", env=env)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    # validated_* for every week with rows, then the model chain for the newest week
    assert f"for {written['first_week']} .. {written['last_week']}" in done.stdout
    assert f"mmm_posterior, reconciled_lift, allocation, experiment_plan for {written['last_week']}" in done.stdout

    monkeypatch.setenv("DAGSTER_HOME", env["DAGSTER_HOME"])  # dagster.yaml refers to it
    with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        weeks = instance.get_materialized_partitions(dg.AssetKey("validated_spend"))
        assert len(weeks) == 64 and max(weeks) == written["last_week"]
        assert instance.get_materialized_partitions(dg.AssetKey("allocation")) == {written["last_week"]}
        assert instance.get_runs()[0].status == dg.DagsterRunStatus.SUCCESS

    # bad input: non-zero exit, the reason names file, row and rule
    (raw / "outcomes" / "late.csv").write_text(f"date,revenue\n{written['last_week']},-10\n")
    failed = umm("materialize", "--partition", written["last_week"], "--select", "validated_outcomes", env=env)
    assert failed.returncode == 1
    assert "outcomes/late.csv, row 1 (line 2), column 'revenue': must be non-negative" in failed.stderr


def test_materialize_refuses_bad_arguments(cli_env, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("nope: {draws: 1}\n")
    bad_config = umm("materialize", "--latest", "--config", str(config), env=cli_env)
    assert bad_config.returncode == 1 and "unknown asset(s) nope" in bad_config.stderr
    not_monday = umm("materialize", "--partition", "2024-01-03", env=cli_env)
    assert not_monday.returncode == 2 and "Wednesday" in not_monday.stderr
    unknown = umm("materialize", "--partition", "2024-01-01", "--select", "nope", env=cli_env)
    assert unknown.returncode == 1 and "unknown asset(s) nope" in unknown.stderr
    no_data = umm("materialize", "--latest", env=cli_env)
    assert no_data.returncode == 1 and "no spend or outcome rows" in no_data.stderr


def test_a_rejection_prints_its_reason_without_stack_traces_and_a_crash_names_its_cause(cli_env, small_world):
    raw_src, truth = small_world
    env = {**cli_env, "UMM_FIRST_WEEK": truth["first_week"], "UMM_LOG_LEVEL": "INFO"}
    shutil.copytree(raw_src, env["UMM_RAW_URI"])
    week = truth["last_week"]
    (Path(env["UMM_RAW_URI"]) / "outcomes" / "late.csv").write_text(f"date,revenue\n{week},-10\n")
    rejected = umm("materialize", "--partition", week, "--select", "validated_outcomes", env=env)
    assert rejected.returncode == 1
    assert "outcomes/late.csv, row 1 (line 2), column 'revenue': must be non-negative" in rejected.stderr
    assert "Stack Trace" not in rejected.stderr and "Traceback" not in rejected.stderr, rejected.stderr

    # the warehouse cannot take the partition (here a file where its folder must go; a full disk or a
    # read-only file system fail the same way): the summary names the operating system's reason
    (Path(env["UMM_RAW_URI"]) / "outcomes" / "late.csv").unlink()
    blocked = Path(env["UMM_DATA_DIR"]) / "validated_outcomes"
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("not a folder")
    crashed = umm("materialize", "--partition", week, "--select", "validated_outcomes", env=env)
    assert crashed.returncode == 1
    summary = crashed.stderr[crashed.stderr.index("umm materialize: run"):]
    assert "caused by NotADirectoryError: [Errno 20] Not a directory" in summary, crashed.stderr
