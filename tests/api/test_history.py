"""GET /api/v1/history: the rolling-origin history, from the same table as the dashboard's History page."""

from __future__ import annotations

import pytest

from tests.api.support import auth, check_interval
from umm_assets.lib.serving import history
from umm_assets.lib.serving.reader import open_reader
from umm_assets.lib.storage import Warehouse


def test_history_lists_every_materialized_week_with_the_stored_numbers(viewer, api_world):
    response = viewer("/api/v1/history")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [w["as_of"] for w in body["weeks"]] == api_world.model_weeks
    warehouse = Warehouse(api_world.data_dir)
    for week in body["weeks"]:
        reconciled = warehouse.read_commit(warehouse.commit("reconciled_lift", week["as_of"]), "reconciled")
        allocation = warehouse.read_commit(warehouse.commit("allocation", week["as_of"]), "allocation")
        stored = reconciled.set_index("channel")
        planned = allocation.set_index("channel")
        assert sorted(c["channel"] for c in week["channels"]) == sorted(stored.index)
        for channel in week["channels"]:
            check_interval(channel["roas"], name=channel["channel"])
            assert channel["roas"]["mean"] == pytest.approx(stored.at[channel["channel"], "roas_mean"])
            assert channel["recommended"] == pytest.approx(planned.at[channel["channel"], "recommended"])
    assert body["lineage"]["asset"] == "history" and body["lineage"]["partition"] == api_world.newest


def test_the_api_and_the_dashboard_read_the_same_table(viewer, api_world):
    frame = history.history(open_reader(str(api_world.data_dir))).frame
    body = viewer("/api/v1/history").json()
    served = {(w["as_of"], c["channel"]): c["roas"]["mean"] for w in body["weeks"] for c in w["channels"]}
    assert served == pytest.approx({(r.as_of, r.channel): r.roas_mean for r in frame.itertuples()})


def test_history_ranges_are_inclusive_and_validated(viewer, client, keys, api_world):
    older, newest = api_world.model_weeks
    only = viewer("/api/v1/history", params={"from": newest}).json()
    assert [w["as_of"] for w in only["weeks"]] == [newest] and only["start"] == newest
    assert [w["as_of"] for w in viewer("/api/v1/history", params={"to": older}).json()["weeks"]] == [older]
    assert viewer("/api/v1/history", params={"from": newest, "to": older}).status_code == 422
    assert viewer("/api/v1/history", params={"from": "2026-01-06"}).status_code == 422  # a Tuesday
    assert viewer("/api/v1/history", params={"since": newest}).status_code == 422  # unknown parameter
    assert client.get("/api/v1/history").status_code == 401
    assert client.get("/api/v1/history", headers=auth(keys["viewer"])).status_code == 200
