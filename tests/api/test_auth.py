"""API keys, roles, CORS and the audit log."""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import stat
import subprocess
import sys

import pytest

from tests.api.support import auth
from tests.conftest import ROOT
from umm_api.deps import require_role, with_article
from umm_api.errors import Forbidden
from umm_assets.lib.serving import keys as keys_module
from umm_assets.lib.serving.keys import ApiKey, KeyStore, Role

GUARDED = "/api/v1/partitions"


def test_every_api_route_needs_a_key(client):
    response = client.get(GUARDED)
    assert response.status_code == 401
    assert "missing API key" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.post("/api/v1/scenarios", json={"budget": 1}).status_code == 401
    assert client.get("/api/v1/admin/keys").status_code == 401


def test_bearer_and_x_api_key_headers_both_work(client, keys):
    assert client.get(GUARDED, headers=auth(keys["viewer"])).status_code == 200
    assert client.get(GUARDED, headers={"X-API-Key": keys["viewer"]}).status_code == 200
    assert client.get(GUARDED, headers={"Authorization": f"bearer {keys['viewer']}"}).status_code == 200


@pytest.mark.parametrize("header", [
    {"Authorization": "Bearer umm_0123456789abcdef_" + "A" * 43},      # unknown id
    {"Authorization": "Bearer not-a-key"},
    {"X-API-Key": ""},
    {"Authorization": "Basic dXNlcjpwYXNz"},
    {"Authorization": "Bearer "},
])
def test_wrong_keys_are_refused(client, header):
    response = client.get(GUARDED, headers=header)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "unauthorized"


def test_a_right_id_with_a_wrong_secret_is_refused(client, keys):
    key = keys["viewer"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert client.get(GUARDED, headers=auth(tampered)).status_code == 401


def test_viewer_cannot_run_scenarios_or_administer(client, keys):
    response = client.post("/api/v1/scenarios", json={"budget": 1000}, headers=auth(keys["viewer"]))
    assert response.status_code == 403
    assert response.json()["detail"] == ("this endpoint needs the analyst role (or above); key 'test viewer' is "
                                         "a viewer")
    assert client.get("/api/v1/admin/keys", headers=auth(keys["viewer"])).status_code == 403
    audit = client.get("/api/v1/admin/audit", headers=auth(keys["analyst"]))
    assert audit.status_code == 403
    assert audit.json()["detail"] == ("this endpoint needs the admin role (or above); key 'test analyst' is "
                                      "an analyst")
    assert client.get("/api/v1/admin/keys", headers=auth(keys["admin"])).status_code == 200


@pytest.mark.parametrize(("role", "needed", "reads"), [("viewer", Role.analyst, "is a viewer"),
                                                       ("analyst", Role.admin, "is an analyst")])
def test_a_refusal_names_the_keys_role_with_its_article(role, needed, reads):
    key = ApiKey(id="0" * 16, name="me", role=role, salt="", hash="", created_at="2026-01-01T00:00:00Z")
    with pytest.raises(Forbidden) as refused:
        asyncio.run(require_role(needed)(key))
    assert refused.value.detail == f"this endpoint needs the {needed.name} role (or above); key 'me' {reads}"
    assert [with_article(r.name) for r in Role] == ["a viewer", "an analyst", "an admin"]


@pytest.mark.parametrize("query", ["api_key={key}", "key={key}", "token={key}", "x={key}", "access_token=abc"])
def test_a_key_in_the_query_string_is_refused_even_with_a_valid_header(client, keys, query):
    response = client.get(f"{GUARDED}?{query.format(key=keys['viewer'])}", headers=auth(keys["viewer"]))
    assert response.status_code == 401
    assert "header" in response.json()["detail"] and "URL" in response.json()["detail"]


def test_revoked_keys_stop_working_at_once_even_on_cached_responses(client, keys, app):
    store = app.state.keys
    _, key = store.create("short-lived", "viewer")
    assert client.get(GUARDED, headers=auth(key)).status_code == 200
    assert client.get(GUARDED, headers=auth(key)).status_code == 200  # now answered from the cache
    key_id = key.split("_")[1]
    response = client.delete(f"/api/v1/admin/keys/{key_id}", headers=auth(keys["admin"]))
    assert response.status_code == 200 and response.json()["active"] is False
    refused = client.get(GUARDED, headers=auth(key))
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    listed = client.get("/api/v1/admin/keys", headers=auth(keys["admin"])).json()["keys"]
    assert next(k for k in listed if k["id"] == key_id)["revoked_at"]
    assert client.delete("/api/v1/admin/keys/0123456789abcdef", headers=auth(keys["admin"])).status_code == 404
    assert client.delete("/api/v1/admin/keys/..%2Fkeys", headers=auth(keys["admin"])).status_code in (404, 422)


def test_a_key_revoked_by_another_process_stops_working(client, keys, state_dir):
    store = KeyStore(state_dir / "keys.json")
    _, key = store.create("revoked elsewhere", "viewer")
    assert client.get(GUARDED, headers=auth(key)).status_code == 200
    env = {**os.environ, "UMM_API_STATE_DIR": str(state_dir)}
    done = subprocess.run([sys.executable, "-m", "umm_assets.cli", "keys", "revoke", key.split("_")[1]], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert client.get(GUARDED, headers=auth(key)).status_code == 401


def test_keys_are_stored_only_as_salted_hashes(keys, state_dir):
    text = (state_dir / "keys.json").read_text()
    for key in keys.values():
        assert key not in text and key.split("_", 2)[2] not in text
    records = json.loads(text)["keys"]
    assert len({r["salt"] for r in records}) == len(records)
    assert stat.S_IMODE(os.stat(state_dir / "keys.json").st_mode) == 0o600


def test_verification_is_timing_safe(monkeypatch, keys, app):
    """Every verdict goes through hmac.compare_digest, whether the id is known or not."""
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(keys_module.hmac, "compare_digest", lambda a, b: calls.append((a, b)) or real(a, b))
    store = app.state.keys
    key = keys["viewer"]
    assert store.verify(key) is not None
    assert store.verify(key[:-2] + "zz") is None
    assert store.verify("umm_0123456789abcdef_" + "A" * 43) is None
    assert store.verify("garbage") is None
    assert len(calls) == 4
    assert all(len(a) == len(b) == 32 for a, b in calls)  # digests of equal length, never raw secrets


def test_cors_allows_only_the_configured_origins(client, keys):
    allowed = client.get(GUARDED, headers={**auth(keys["viewer"]), "Origin": "https://dash.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://dash.example.com"
    cached = client.get(GUARDED, headers={**auth(keys["viewer"]), "Origin": "https://dash.example.com"})
    assert cached.headers["access-control-allow-origin"] == "https://dash.example.com"
    other = client.get(GUARDED, headers={**auth(keys["viewer"]), "Origin": "https://evil.example.com"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(GUARDED, headers={"Origin": "https://dash.example.com",
                                                  "Access-Control-Request-Method": "GET",
                                                  "Access-Control-Request-Headers": "authorization"})
    assert preflight.status_code == 200
    refused = client.options(GUARDED, headers={"Origin": "https://evil.example.com",
                                                "Access-Control-Request-Method": "GET"})
    assert refused.status_code == 400


def test_every_request_is_audited_and_admins_can_read_the_log(client, keys, app):
    marker = "/api/v1/partitions"
    client.get(marker, headers=auth(keys["viewer"]))
    client.get(marker)
    client.get(f"{marker}?api_key={keys['viewer']}")
    client.get("/health")
    entries = client.get("/api/v1/admin/audit", params={"limit": 50}, headers=auth(keys["admin"])).json()["entries"]
    # newest first (this audit request itself is logged once it has answered)
    assert entries[0]["path"] == "/health" and entries[0]["key_name"] is None and entries[0]["status"] == 200
    leaked, anonymous, ok = entries[1], entries[2], entries[3]
    assert leaked["status"] == 401 and "REDACTED" in leaked["query"] and keys["viewer"] not in json.dumps(entries)
    assert anonymous["status"] == 401 and anonymous["key_name"] is None
    assert ok["status"] == 200 and ok["key_name"] == "test viewer" and ok["role"] == "viewer"
    assert ok["method"] == "GET" and ok["path"] == marker and ok["latency_ms"] >= 0 and ok["time"].endswith("Z")
    failed = client.get("/api/v1/admin/audit", params={"status": 401, "limit": 5},
                        headers=auth(keys["admin"])).json()["entries"]
    assert failed and all(e["status"] == 401 for e in failed)
    lines = app.state.audit.path.read_text().splitlines()
    assert all(json.loads(line)["status"] for line in lines)
