"""Helpers shared by the API tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from umm_assets.lib.servers import free_port, wait_until_up

ROOT = Path(__file__).resolve().parents[2]

LINEAGE_FIELDS = {"asset", "partition", "run_id", "materialized_at", "code_version", "upstream"}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def check_interval(value: dict, *, name: str = "interval") -> None:
    assert set(value) >= {"mean", "lower", "upper"}, name
    assert value["lower"] <= value["mean"] + 1e-9 and value["mean"] <= value["upper"] + 1e-9, (name, value)


@contextlib.contextmanager
def serving(data_dir: Path, state_dir: Path, log_path: Path, **settings: str) -> Iterator[str]:
    """``umm serve`` in its own process on a free port (``settings``: more environment, e.g. UMM_API_*); yields
    its URL and stops it afterwards."""
    port = free_port()
    env = {**os.environ, "UMM_DATA_DIR": str(data_dir), "UMM_API_STATE_DIR": str(state_dir), **settings}
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "umm_assets.cli", "serve", "--port", str(port)], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{url}/health", process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
