"""Bad input is a 4xx naming the problem, never a 500 and never data: as_of and channel values are
validated before they reach a path or a query."""

from __future__ import annotations

import pytest

from tests.api.support import auth

HOSTILE = [
    "../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "2026-11-16/../../keys.json", "/etc/passwd", "..",
    "2026-11-16'; DROP TABLE roas; --", "' OR 1=1 --", "\" OR \"\"=\"", "2026-11-16%00", "2026-11-16\x00",
    "read_parquet('/etc/passwd')", "*", "%", "2026-11-1?", "${jndi:ldap://x}", "2026-11-16 UNION SELECT 1",
    "20261116", "2026-W47-1", "+2026-11-16", "2026-11-16T00:00", " 2026-11-16", "２０２６-１１-１６", "2026-11-16\n",
]
DATA_GETS = ["/api/v1/roas", "/api/v1/contributions", "/api/v1/response-curves", "/api/v1/reconciliation",
             "/api/v1/allocation", "/api/v1/experiment-plan", "/api/v1/diagnostics", "/api/v1/partitions",
             "/api/v1/data-quality", "/health"]


def refused(response, *needles: str) -> None:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    body = response.json()
    assert set(body) <= {"detail", "code", "errors"}
    assert body["code"] in ("invalid_parameter", "unknown_channel", "infeasible_budget")
    for needle in needles:
        assert needle in body["detail"], body["detail"]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("path", DATA_GETS)
def test_hostile_as_of_is_a_422_on_every_get(viewer, path, value):
    refused(viewer(path, params={"as_of": value}))


@pytest.mark.parametrize("value,why", [("2026-02-30", "not a calendar date"), ("2026-11-17", "Tuesday"),
                                       ("16/11/2026", "YYYY-MM-DD"), ("", "YYYY-MM-DD")])
def test_bad_dates_say_what_is_wrong(viewer, value, why):
    refused(viewer("/api/v1/partitions", params={"as_of": value}), why)


CHANNEL_GETS = ["/api/v1/roas", "/api/v1/contributions", "/api/v1/response-curves", "/api/v1/reconciliation",
                "/api/v1/allocation", "/api/v1/experiment-plan"]


@pytest.mark.parametrize("value", HOSTILE + ["TV", "tv ", "tv,search", "national", "baseline"])
@pytest.mark.parametrize("path", CHANNEL_GETS)
def test_hostile_or_unknown_channels_are_a_422(viewer, model_world, path, value):
    refused(viewer(path, params={"channel": value}), "unknown channel")


@pytest.mark.parametrize("path", CHANNEL_GETS)
def test_known_channels_filter_the_rows(viewer, model_world, path):
    body = viewer(path, params={"channel": ["tv", "search"]}).json()
    if path == "/api/v1/experiment-plan":  # several designs per channel
        names = sorted({d["channel"] for d in body["designs"]})
    else:
        names = body["channels"] if path == "/api/v1/contributions" else [c["channel"] for c in body["channels"]]
    assert sorted(names) == ["search", "tv"]


@pytest.mark.parametrize("path,query", [("/api/v1/diagnostics", "channel=tv"), ("/api/v1/roas", "asof=2026-01-05"),
                                        ("/api/v1/partitions", "sql=select%201"), ("/health", "path=/etc/passwd")])
def test_parameters_an_endpoint_does_not_take_are_a_422(viewer, path, query):
    refused(viewer(f"{path}?{query}"), "unknown query parameter")


@pytest.mark.parametrize("value", ["../national", "' OR 1=1 --", "NATIONAL", "tv"])
def test_unknown_geos_are_a_422(viewer, model_world, value):
    refused(viewer("/api/v1/contributions", params={"geo": value}), "unknown geo")


def test_weeks_that_are_not_materialized_are_a_404_naming_asset_and_week(viewer, api_world):
    week = "2001-01-01"
    for path, asset in [("/api/v1/roas", "mmm_posterior"), ("/api/v1/allocation", "allocation"),
                        ("/api/v1/reconciliation", "reconciled_lift")]:
        response = viewer(path, params={"as_of": week})
        assert response.status_code == 404, response.text
        assert asset in response.json()["detail"] and week in response.json()["detail"]
        assert response.json()["code"] == "not_materialized"
    response = viewer("/api/v1/data-quality", params={"as_of": week})
    assert response.status_code == 404 and week in response.json()["detail"]


def test_an_older_week_without_a_model_is_a_404_even_though_its_inputs_exist(viewer, model_world):
    week = model_world.weeks[-3]
    response = viewer("/api/v1/roas", params={"as_of": week})
    assert response.status_code == 404
    assert f"mmm_posterior is not materialized for week {week}" in response.json()["detail"]


def test_unknown_parameters_and_paths_never_return_data(viewer):
    assert viewer("/api/v1/../../etc/passwd").status_code == 404
    assert viewer("/api/v1/roas/../../keys.json").status_code == 404
    assert viewer("/api/v1/%2e%2e/%2e%2e/etc/passwd").status_code == 404
    refused(viewer("/api/v1/data-quality", params={"weeks": "0"}))
    refused(viewer("/api/v1/data-quality", params={"weeks": "1; drop"}))
    refused(viewer("/api/v1/response-curves", params={"source": "file:///etc/passwd"}))


# --- scenarios ---------------------------------------------------------------------------------


@pytest.fixture
def analyst(client, keys):
    return lambda body, **kw: client.post("/api/v1/scenarios", json=body, headers=auth(keys["analyst"]), **kw)


@pytest.mark.parametrize("body,needle", [
    ({"budget": -1}, "budget"),
    ({"budget": "lots"}, "budget"),
    ({}, "budget"),
    ({"budget": 1000, "sql": "select 1"}, "sql"),
    ({"budget": 1000, "bounds": {"tv": {"lower": 5, "upper": 1}}}, "lower bound"),
    ({"budget": 1000, "bounds": {"tv": {"lower": -5}}}, "bounds.tv.lower"),
    ({"budget": 1000, "bounds": {"tv": [1, 2, 3]}}, "bounds.tv"),
    ({"budget": 1000, "locked": {"tv": -1}}, "locked"),
    ({"budget": 1000, "locked": "tv"}, "locked"),
])
def test_malformed_scenarios_are_a_422_before_any_data_is_read(analyst, body, needle):
    refused(analyst(body), needle)


def test_non_finite_budgets_and_broken_json_are_a_422(client, keys):
    headers = {**auth(keys["analyst"]), "Content-Type": "application/json"}
    for text in (b'{"budget": NaN}', b'{"budget": Infinity}', b'{"budget": 1e999}', b"{budget: 1}", b"not json"):
        refused(client.post("/api/v1/scenarios", content=text, headers=headers))


@pytest.mark.parametrize("field", ["bounds", "locked"])
@pytest.mark.parametrize("channel", ["../../etc", "' OR 1=1 --", "TV", "nope"])
def test_scenarios_with_unknown_channels_are_a_422(analyst, model_world, field, channel):
    body = {"budget": 1000.0, field: {channel: [0, 10]} if field == "bounds" else [channel]}
    refused(analyst(body), "unknown channel")


def test_infeasible_scenarios_say_why(analyst, client, keys, model_world):
    stored = client.get("/api/v1/allocation", headers=auth(keys["viewer"])).json()
    channels = [c["channel"] for c in stored["channels"]]
    response = analyst({"budget": 10.0, "locked": {channels[0]: 1000.0}})
    refused(response, "budget")
    response = analyst({"budget": 1e6, "bounds": {c: [0, 10] for c in channels}})
    refused(response, "upper")
    response = analyst({"budget": stored["budget"] * 1000})
    assert response.status_code == 422 and response.json()["code"] == "infeasible_budget"


def test_scenarios_for_a_week_without_allocation_are_a_404(analyst, api_world):
    response = analyst({"budget": 1000}, params={"as_of": "2001-01-01"})
    assert response.status_code == 404 and "allocation" in response.json()["detail"]
