"""Login, the session cookie, revocation and the audit log, through Flask's test client (no browser)."""

from __future__ import annotations

import json

import pytest

from umm_assets.lib.serving.audit import AuditLog
from umm_assets.lib.serving.keys import KeyStore, Role
from umm_dash import access

AUDIT_FIELDS = {"time", "key_id", "key_name", "role", "method", "path", "query", "status", "latency_ms", "client"}


@pytest.fixture
def client(dash_app):
    return dash_app.server.test_client()


def login(client, key: str):
    return client.post("/login", data={"key": key, "next": "/planner?week=2026-01-05"})


def test_without_a_session_pages_redirect_to_the_login_form_and_callbacks_get_401(client):
    page = client.get("/roas?week=2026-01-05")
    assert page.status_code == 303 and page.headers["Location"].startswith("/login")
    assert "next=%2Froas%3Fweek%3D2026-01-05" in page.headers["Location"]
    assert client.get("/_dash-layout").status_code == 401
    form = client.get("/login")
    assert form.status_code == 200 and b'name="key"' in form.data and b'type="password"' in form.data


def test_a_key_in_the_url_is_refused_even_a_valid_one(client, dash_world):
    response = client.get(f"/login?key={dash_world.keys['viewer']}")
    assert response.status_code == 400 and b"not accepted in the URL" in response.data
    assert client.get(f"/?api_key={dash_world.keys['viewer']}").status_code == 400
    assert "umm_dash_session" not in response.headers.get("Set-Cookie", "")


def test_login_sets_a_signed_http_only_cookie_without_the_key(client, dash_world):
    assert login(client, "umm_0123456789abcdef_" + "x" * 43).status_code == 401
    response = login(client, dash_world.keys["viewer"])
    assert response.status_code == 303 and response.headers["Location"] == "/planner?week=2026-01-05"
    cookie = response.headers["Set-Cookie"]
    assert "umm_dash_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert dash_world.keys["viewer"].split("_")[-1] not in cookie
    assert client.get("/").status_code == 200 and client.get("/_dash-layout").status_code == 200


def test_an_open_redirect_after_login_is_not_possible(client, dash_world):
    response = client.post("/login", data={"key": dash_world.keys["viewer"], "next": "//evil.example.com/x"})
    assert response.headers["Location"] == "/"


def test_revoking_a_key_ends_its_session_on_the_next_request(client, dash_world):
    record, key = dash_world.store.create("dash short-lived", "analyst")
    login(client, key)
    assert client.get("/").status_code == 200
    dash_world.store.revoke(record.id)
    page = client.get("/")
    assert page.status_code == 303 and page.headers["Location"].startswith("/login?reason=revoked")
    assert client.get("/_dash-layout").status_code == 401  # the session was cleared, not just refused once


def test_logins_go_to_the_api_audit_log_in_its_format(client, dash_world):
    login(client, dash_world.keys["analyst"])
    client.post("/logout")
    entries = AuditLog(dash_world.state_dir / "audit.jsonl").tail(10)
    mine = [e for e in entries if e["path"] in ("/login", "/logout") and e["key_name"] == "dash analyst"]
    assert {e["path"] for e in mine} == {"/login", "/logout"}
    assert all(set(e) == AUDIT_FIELDS for e in mine) and mine[0]["role"] == "analyst"


def test_with_no_key_at_all_the_dashboard_is_open_to_analysts(dash_app, tmp_path):
    with dash_app.server.test_request_context("/"):
        visitor = access._visitor(KeyStore(tmp_path / "keys.json"))
    assert visitor.key is None and visitor.role == Role.analyst


def test_audit_lines_parse_as_json(dash_world):
    for line in (dash_world.state_dir / "audit.jsonl").read_text().splitlines():
        json.loads(line)
