"""Part 2: the whole chain with the landing zone and the warehouse on S3 (moto), served from there: every
API GET and a scenario, the model file download, the DuckDB catalog, and a partition rewritten while the
API reads it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import duckdb
import pytest
from fastapi.testclient import TestClient

from tests.ops.conftest import LAKE
from umm_api.app import create_app
from umm_api.settings import ApiSettings
from umm_assets.lib.serving.keys import KeyStore
from umm_assets.lib.storage import Stored, Warehouse, s3_filesystem

pytestmark = [pytest.mark.ops, pytest.mark.s3]

GETS = ["/health", "/api/v1/partitions", "/api/v1/roas", "/api/v1/contributions", "/api/v1/response-curves",
        "/api/v1/reconciliation", "/api/v1/allocation", "/api/v1/diagnostics", "/api/v1/data-quality",
        "/api/v1/history"]


@pytest.fixture
def client(ops_world, tmp_path) -> Iterator[TestClient]:
    with ops_world.active():
        settings = ApiSettings(data_dir=LAKE, state_dir=str(tmp_path / "state"), remote_ttl_seconds=0.2)
        key = KeyStore(settings.keys_file).create("ops", "analyst")[1]
        with TestClient(create_app(settings)) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            yield client


def test_every_get_and_a_scenario_are_served_from_s3(ops_world, client):
    for path in GETS:
        response = client.get(path)
        assert response.status_code == 200, (path, response.text)
    history = client.get("/api/v1/history").json()
    assert sorted({row["as_of"] for row in history["weeks"]}) == ops_world.model_weeks
    for week in ops_world.model_weeks:
        body = client.get("/api/v1/allocation", params={"as_of": week}).json()
        assert body["lineage"]["partition"] == week
        assert body["lineage"]["run_id"] == Warehouse(LAKE).commit("allocation", week).run_id
    budget = client.get("/api/v1/allocation").json()["budget"]
    scenario = client.post("/api/v1/scenarios", json={"budget": budget * 1.1})
    assert scenario.status_code == 200, scenario.text
    assert sum(c["recommended"] for c in scenario.json()["channels"]) == pytest.approx(budget * 1.1, rel=1e-6)


def test_the_model_file_downloads_from_s3(ops_world, tmp_path):
    with ops_world.active():
        warehouse = Warehouse(LAKE)
        week = ops_world.model_weeks[-1]
        path = warehouse.file("mmm_posterior", week, "model.nc", cache_dir=tmp_path)
        commit = warehouse.commit("mmm_posterior", week)
        remote = f"{LAKE[len('s3://'):]}/mmm_posterior/{week}/{commit.version}/model.nc"
        assert path.read_bytes()[:4] == b"\x89HDF" and path.stat().st_size == s3_filesystem().size(remote)


def test_the_catalog_on_s3_has_every_asset_table(ops_world, tmp_path):
    with ops_world.active():
        fs = s3_filesystem()
        fs.get_file(f"{LAKE[len('s3://'):]}/catalog.duckdb", str(tmp_path / "catalog.duckdb"))
        with duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True) as con:
            con.register_filesystem(fs)  # its views read Parquet on S3
            views = {v for (v,) in con.execute("select view_name from duckdb_views() where not internal").fetchall()}
            assert {"validated_spend", "mmm_posterior__roas", "reconciled_lift__reconciled",
                    "allocation__allocation"} <= views
            weeks = con.execute("select distinct partition from allocation__allocation order by 1").fetchall()
            assert [w for (w,) in weeks] == ops_world.model_weeks
            assert con.execute("select count(*) from validated_spend").fetchall()[0][0] > 0


def test_a_rewrite_while_the_api_reads_is_never_torn(ops_world, client):
    """Version i of the newest allocation moves the budget and every lower bound by i: a response mixing two
    versions, or naming a version before its pointer landed, would show."""
    week = ops_world.model_weeks[-1]
    with ops_world.active():
        warehouse = Warehouse(LAKE)
        original = warehouse.commit("allocation", week)
        tables = {name: warehouse.read_commit(original, name) for name in original.tables}
        landed: dict[str, float] = {original.run_id: 0.0}

        def version(i: int) -> Stored:
            summary = tables["summary"].assign(budget=tables["summary"]["budget"] + i)
            allocation = tables["allocation"].assign(lower_bound=tables["allocation"]["lower_bound"] + i)
            return Stored({**tables, "summary": summary, "allocation": allocation}, upstream=original.upstream)

        def rewrite() -> None:
            for i in range(1, 9):
                warehouse.write("allocation", week, version(i), run_id=f"rewrite-{i}", code_version=original.code_version)
                landed[f"rewrite-{i}"] = time.monotonic()

        writer = threading.Thread(target=rewrite)
        base = tables["summary"]["budget"].iloc[0], tables["allocation"].sort_values("channel")["lower_bound"].iloc[0]

        def read() -> str:
            body = client.get("/api/v1/allocation", params={"as_of": week}).json()
            run_id = body["lineage"]["run_id"]
            assert run_id in landed, run_id  # never a version whose pointer has not landed
            i = 0 if run_id == original.run_id else int(run_id.split("-")[1])
            lower = sorted(body["channels"], key=lambda c: c["channel"])[0]["bounds"]["lower"]
            assert (body["budget"] - base[0], lower - base[1]) == pytest.approx((i, i))  # one version, whole
            return run_id

        try:
            writer.start()
            seen = {read()}
            while writer.is_alive():
                seen.add(read())
            deadline = time.monotonic() + 10
            while read() != "rewrite-8":  # the last version is served once its pointer is re-read (TTL)
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert len(seen) >= 2  # the reader saw versions change under it
        finally:
            writer.join()
            warehouse.write("allocation", week, Stored(tables, upstream=original.upstream), run_id=original.run_id,
                            code_version=original.code_version)  # the world is shared: put the plan back
