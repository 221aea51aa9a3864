"""The dashboard over the session's served world (``api_world``, shared with the API tests): one app in this
process for the callbacks' unit tests, and ``umm dash`` in its own process for the browser tests, driven by
Playwright through Debian's Chromium (installed here when missing: Playwright cannot download its own)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, ApiWorld
from umm_assets.lib.servers import ensure_chromium, free_port, wait_until_up
from umm_assets.lib.serving.keys import KeyStore

ARTIFACTS = ROOT / "tests" / "artifacts"  # git-ignored: screenshots of every page


@dataclass
class DashWorld:
    world: ApiWorld
    state_dir: Path
    keys: dict[str, str]  # role (or "spare") -> the full key

    def settings(self):
        from umm_dash.settings import DashSettings

        return DashSettings(data_dir=str(self.world.data_dir), state_dir=str(self.state_dir))

    @property
    def store(self) -> KeyStore:
        return KeyStore(self.state_dir / "keys.json")


@pytest.fixture(scope="session")
def dash_world(api_world, tmp_path_factory) -> DashWorld:
    state = tmp_path_factory.mktemp("dash_state")
    store = KeyStore(state / "keys.json")
    keys = {role: store.create(f"dash {role}", role)[1] for role in ("viewer", "analyst")}
    keys["spare"] = store.create("dash spare analyst", "analyst")[1]  # revoked by a test
    return DashWorld(api_world, state, keys)


@pytest.fixture(scope="session")
def dash_app(dash_world):
    """The dashboard app of this process (Dash's page registry is process-wide: there is only one)."""
    from umm_dash.app import create_app

    return create_app(dash_world.settings())


@pytest.fixture
def request_context(dash_app):
    """A request context of the app as an analyst, for calling pages and callbacks directly."""
    import flask

    from umm_dash import access

    with dash_app.server.test_request_context("/"):
        flask.g.visitor = access.Visitor(None)
        yield dash_app


# --- the browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch options, pointed at the system Chromium."""
    return {**browser_type_launch_args, "executable_path": ensure_chromium(),
            "args": ["--no-sandbox", "--disable-dev-shm-usage"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}}


@pytest.fixture(scope="session")
def live_dash(dash_world, tmp_path_factory) -> Iterator[str]:
    """``umm dash`` (waitress) in its own process on a free port, over the session's warehouse."""
    port = free_port()
    log = tmp_path_factory.mktemp("live_dash") / "dash.log"
    env = {**os.environ, "UMM_DATA_DIR": str(dash_world.world.data_dir), "UMM_API_STATE_DIR": str(dash_world.state_dir),
           "PYTHONPATH": str(ROOT)}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "umm_assets.cli", "dash", "--port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/login", process, timeout=120)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert "dashboard error" not in log.read_text(), log.read_text()[-3000:]  # no callback or page raised
