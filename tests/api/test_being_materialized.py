"""A week the daemon is still making: the API's 404 names the run (or backfill) and when it started, with a
Retry-After; a week nothing is making stays a plain "not materialized" (no fitted world needed: an empty
warehouse and a lookup that answers like the Dagster instance does)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from umm_api.app import create_app
from umm_api.settings import ApiSettings
from umm_assets.lib.serving.keys import KeyStore
from umm_assets.lib.serving.progress import InProgress

WEEK = "2026-11-23"


def _running(asset: str, week: str | None) -> InProgress | None:
    if asset == "allocation" and week in (WEEK, None):
        return InProgress(asset, week, "running", 1796280000.0, run_id="1a2b3c4d5e6f")
    if asset == "mmm_posterior":
        return InProgress(asset, week, "waiting for its upstream assets", 1796280000.0, backfill_id="qlxebkyw")
    return None


def test_a_week_being_materialized_is_a_404_that_names_its_run(tmp_path):
    settings = ApiSettings(data_dir=str(tmp_path / "warehouse"), state_dir=str(tmp_path / "api"))
    key = KeyStore(settings.keys_file).create("viewer", "viewer")[1]
    client = TestClient(create_app(settings, progress=_running))
    headers = {"Authorization": f"Bearer {key}"}

    response = client.get(f"/api/v1/allocation?as_of={WEEK}", headers=headers)
    assert response.status_code == 404 and response.headers["retry-after"] == "30"
    body = response.json()
    assert body["code"] == "being_materialized" and body["run_id"] == "1a2b3c4d5e6f"
    assert body["detail"] == (f"allocation is not materialized for week {WEEK} (none is materialized yet): being "
                              "materialized — run 1a2b3c4d, started 2026-12-03 06:40:00 UTC")

    body = client.get("/api/v1/roas", headers=headers).json()  # the newest week: the MMM's backfill
    assert (body["code"], body["backfill_id"], body["run_id"]) == ("being_materialized", "qlxebkyw", None)
    assert body["detail"].endswith("queued 2026-12-03 06:40:00 UTC (waiting for its upstream assets)")

    body = client.get("/api/v1/allocation?as_of=2026-11-16", headers=headers).json()
    assert body == {"detail": "allocation is not materialized for week 2026-11-16 (none is materialized yet)",
                    "code": "not_materialized"}


def test_a_slow_lookup_does_not_stall_other_requests(tmp_path):
    """The first lookup imports Dagster and opens the instance (seconds): other requests are served meanwhile."""
    import asyncio
    import time

    import httpx

    settings = ApiSettings(data_dir=str(tmp_path / "warehouse"), state_dir=str(tmp_path / "api"))
    key = KeyStore(settings.keys_file).create("viewer", "viewer")[1]

    def slow(asset, week):
        time.sleep(1.0)
        return _running(asset, week)

    app = create_app(settings, progress=slow)
    finished = []

    async def get(client, path, headers=None):
        response = await client.get(path, headers=headers)
        finished.append(path)
        return response

    async def both():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await asyncio.gather(get(client, "/api/v1/roas", {"Authorization": f"Bearer {key}"}),
                                        get(client, "/health"))

    roas, health = asyncio.run(both())
    assert roas.json()["code"] == "being_materialized" and health.status_code == 200
    assert finished == ["/health", "/api/v1/roas"]  # /health did not wait for the lookup
