"""Part 5: stopping a run during a model fit. SIGTERM (a supervisor, `kill`) or Ctrl-C (SIGINT) to
`umm materialize` while nutpie samples stops it within seconds; nothing is written and the previous
partition stays served. (Terminating from the UI is tested against `umm up` in test_ui_backfill.py.)"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.ops.conftest import LAKE
from umm_assets.lib.storage import Warehouse, s3_filesystem

pytestmark = [pytest.mark.ops, pytest.mark.s3, pytest.mark.postgres]

# long enough that the fit is still sampling when the signal comes (minutes on two cores)
LONG_FIT = {"saturation": "logistic", "adstock": "geometric", "chains": 2, "tune": 20000, "draws": 20000,
            "escalate": False}
STOP_WITHIN_S = 15


def start_fit(ops_world, week: str, tmp_path) -> subprocess.Popen:
    config = tmp_path / "long.yaml"
    config.write_text(f"mmm_posterior: {LONG_FIT}\n".replace("'", ""))
    return subprocess.Popen([sys.executable, "-m", "umm_assets.cli", "materialize", "--partition", week,
                             "--select", "mmm_posterior", "--config", str(config)], cwd=ROOT,
                            env={**ops_world.env, "UMM_LOG_LEVEL": "INFO"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for(process: subprocess.Popen, *texts: str, timeout: float = 300) -> str:
    """The process's output up to the first line containing every one of ``texts``."""
    seen, deadline = [], time.monotonic() + timeout
    for line in process.stdout:
        seen.append(line)
        if all(text in line for text in texts):
            return "".join(seen)
        assert time.monotonic() < deadline, "".join(seen)
    raise AssertionError(f"the process ended before {texts}:\n{''.join(seen)}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_during_sampling_stops_the_fit_and_writes_nothing(ops_world, tmp_path, signum):
    week = ops_world.model_weeks[-1]
    with ops_world.active():
        before = Warehouse(LAKE).commit("mmm_posterior", week)
        folders = set(s3_filesystem().ls(f"{LAKE[5:]}/mmm_posterior/{week}"))
    process = start_fit(ops_world, week, tmp_path)
    try:
        wait_for(process, f"mmm_posterior[{week}]", " sampling: draws_done=")
        sent = time.monotonic()
        process.send_signal(signum)
        output, _ = process.communicate(timeout=120)
        stopped = time.monotonic() - sent
    finally:
        process.kill()
    assert process.returncode != 0, output
    assert stopped < STOP_WITHIN_S, f"took {stopped:.1f} s to stop:\n{output}"
    with ops_world.active():
        assert Warehouse(LAKE).commit("mmm_posterior", week) == before  # the previous posterior is still served
        assert set(s3_filesystem().ls(f"{LAKE[5:]}/mmm_posterior/{week}")) == folders  # no version was left behind
