"""The API over a warehouse materialized by the real pipeline: a small demo world, validated_* for
every week and the model chain (short chains) for the newest week, through Dagster with a
temporary instance. Built once per session; tests that change data work on copies."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from tests.api.support import MODEL_CHAIN, auth, serving
from tests.conftest import INSTANCE_CONFIG, QUICK_RUN_CONFIG, VALIDATED
from umm_api.app import create_app
from umm_api.keys import KeyStore
from umm_api.settings import ApiSettings
from umm_assets.definitions import build_defs
from umm_assets.defs.runs import failure_messages, materialize_range
from umm_assets.lib.settings import Settings


@dataclass
class ApiWorld:
    """A materialized warehouse, its settings and the outcome of the model-chain run."""

    root: Path
    raw: Path
    data_dir: Path
    settings: Settings
    truth: dict
    weeks: list[str]

    @property
    def newest(self) -> str:
        return self.weeks[-1]

    def api_settings(self, state_dir: Path, **overrides) -> ApiSettings:
        return ApiSettings(data_dir=str(self.data_dir), state_dir=str(state_dir), **overrides)


@pytest.fixture(scope="session")
def api_world(tmp_path_factory, small_world) -> Iterator[ApiWorld]:
    raw_src, truth = small_world
    root = tmp_path_factory.mktemp("api_world")
    raw = root / "raw"
    shutil.copytree(raw_src, raw)
    settings = Settings.from_env({"UMM_RAW_URI": str(raw), "UMM_DATA_DIR": str(root / "warehouse"),
                                  "UMM_FIRST_WEEK": truth["first_week"]})
    first = dt.date.fromisoformat(truth["first_week"])
    weeks = [(first + dt.timedelta(weeks=i)).isoformat() for i in range(truth["weeks"])]
    defs = build_defs(settings)
    home = root / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=INSTANCE_CONFIG) as instance:
        result = materialize_range(defs, instance, VALIDATED, weeks[0], weeks[-1], log_level="WARNING")
        assert result.success, "\n".join(failure_messages(result))
        chain = materialize_range(defs, instance, MODEL_CHAIN, weeks[-1], log_level="WARNING",
                                  op_config=QUICK_RUN_CONFIG)
        assert chain.success, "\n".join(failure_messages(chain))
    yield ApiWorld(root, raw, root / "warehouse", settings, truth, weeks)


@pytest.fixture
def model_world(api_world) -> ApiWorld:
    """The world, for tests of model endpoints (the session fixture materialized the chain)."""
    return api_world


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api_state")


@pytest.fixture(scope="session")
def keys(state_dir) -> dict[str, str]:
    """One key per role (plus a spare viewer), created through the key store."""
    store = KeyStore(ApiSettings(data_dir="unused", state_dir=str(state_dir)).keys_file)
    return {role: store.create(f"test {role}", role)[1] for role in ("viewer", "analyst", "admin")} | {
        "spare": store.create("test spare viewer", "viewer")[1]}


@pytest.fixture(scope="session")
def app(api_world, state_dir, keys):
    return create_app(api_world.api_settings(state_dir, cors_origins=("https://dash.example.com",)))


@pytest.fixture(scope="session")
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="session")
def viewer(client, keys):
    """A client that sends the viewer key."""
    return lambda path, **kw: client.get(path, headers={**auth(keys["viewer"]), **kw.pop("headers", {})}, **kw)


@pytest.fixture(scope="session")
def live_api(api_world, state_dir, keys, tmp_path_factory) -> Iterator[str]:
    """``umm serve`` in its own process on a free port, over the session's warehouse."""
    with serving(api_world.data_dir, state_dir, tmp_path_factory.mktemp("live_api") / "serve.log") as url:
        yield url
