"""The API over the session's served world (``api_world`` in tests/conftest.py: a warehouse materialized by
the real pipeline, shared with the dashboard's tests). Tests that change data work on copies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.support import auth, serving
from tests.conftest import ApiWorld
from umm_api.app import create_app
from umm_api.settings import ApiSettings
from umm_assets.lib.serving.keys import KeyStore


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
