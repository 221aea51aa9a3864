"""The reader's caches: repeated GETs cost no reads, a new materialization is served at once, and a
version pruned under a slow request is replaced by the newer one."""

from __future__ import annotations

import shutil

import pytest
from fastapi.testclient import TestClient

from tests.api.support import auth
from umm_api.app import create_app
from umm_api.settings import ApiSettings
from umm_assets.lib.serving.keys import KeyStore
from umm_assets.lib.storage import Stored, Warehouse


@pytest.fixture
def fresh(api_world, tmp_path):
    """A new app (empty caches) over a private copy of the session's warehouse, with a viewer key."""
    data_dir = tmp_path / "warehouse"
    shutil.copytree(api_world.data_dir, data_dir)
    settings = ApiSettings(data_dir=str(data_dir), state_dir=str(tmp_path / "state"))
    key = KeyStore(settings.keys_file).create("reader test", "viewer")[1]
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield app, client, auth(key), Warehouse(data_dir)


def test_repeated_gets_read_nothing_again(fresh, model_world):
    app, client, headers, _ = fresh
    reader = app.state.reader
    first = client.get("/api/v1/roas", headers=headers)
    assert first.status_code == 200
    reads = reader.table_reads
    assert reads >= 1
    for _ in range(20):
        assert client.get("/api/v1/roas", headers=headers).content == first.content
    assert reader.table_reads == reads


def test_the_quality_ledger_is_read_once_until_it_changes(fresh, api_world, monkeypatch):
    app, client, headers, warehouse = fresh
    reader = app.state.reader
    calls = []
    real = reader.warehouse.quality
    monkeypatch.setattr(reader.warehouse, "quality", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = client.get("/api/v1/data-quality", headers=headers).json()
    for _ in range(5):
        client.get("/api/v1/data-quality", headers=headers)
    assert len(calls) == 1
    record = warehouse.quality("validated_spend")[-1]
    warehouse.record_quality("validated_spend", record["partition"], {**record, "run_id": "a-new-check"})
    again = client.get("/api/v1/data-quality", headers=headers).json()
    assert len(calls) == 2 and again != first
    assert any(r["run_id"] == "a-new-check" for r in again["records"])


def test_a_new_materialization_is_served_at_once(fresh, api_world):
    app, client, headers, warehouse = fresh
    week = api_world.newest
    before = client.get("/api/v1/partitions", headers=headers).json()["assets"]["validated_spend"][-1]
    for _ in range(3):  # cached, and answered by the cache lane
        client.get("/api/v1/partitions", headers=headers)
    commit = warehouse.require("validated_spend", week)
    rewritten = warehouse.write("validated_spend", week, Stored.table(warehouse.read_commit(commit)),
                                run_id="rewrite-1")
    after = client.get("/api/v1/partitions", headers=headers).json()["assets"]["validated_spend"][-1]
    assert before["version"] == commit.version and after["version"] == rewritten.version
    assert after["run_id"] == "rewrite-1"


def test_a_new_model_version_replaces_the_cached_response(fresh, model_world):
    app, client, headers, warehouse = fresh
    week = model_world.newest
    first = client.get("/api/v1/allocation", headers=headers).json()
    client.get("/api/v1/allocation", headers=headers)
    commit = warehouse.require("allocation", week)
    tables = {name: warehouse.read_commit(commit, name) for name in commit.tables}
    tables["summary"] = tables["summary"].assign(message="rewritten")
    warehouse.write("allocation", week, Stored(tables, upstream=commit.upstream), run_id="rewrite-2")
    second = client.get("/api/v1/allocation", headers=headers).json()
    assert second["message"] == "rewritten" and second["lineage"]["run_id"] == "rewrite-2"
    assert first["lineage"]["version"] != second["lineage"]["version"]


def test_a_version_pruned_while_it_is_read_is_replaced_by_the_newer_one(fresh, api_world):
    """Writers keep two versions: a request that resolved the oldest and reads slowly finds its files
    gone, re-resolves the pointer once and answers from the newest version."""
    app, client, headers, warehouse = fresh
    reader = app.state.reader
    week = api_world.newest
    commit = warehouse.require("validated_spend", week)
    frame = warehouse.read_commit(commit)
    built = []

    def build(snapshot):
        if not built:  # two writes while this request is under way: its version is pruned
            for i in range(2):
                warehouse.write("validated_spend", week, Stored.table(frame), run_id=f"meanwhile-{i}")
        built.append(snapshot.commit.version)
        return {"rows": len(snapshot.table("data")), "run_id": snapshot.commit.run_id}

    cached = reader.serve("test-view", "validated_spend", week, (), build)
    assert len(built) == 2 and built[0] == commit.version and built[1] != commit.version
    assert b'"run_id":"meanwhile-1"' in cached.body
