"""The security suite (issue 20): attacks on the API and the dashboard, each refused with the right status, written
to the audit log, and answered no slower than a normal request; and schemathesis fuzzing the API's OpenAPI schema
with an analyst key (no 5xx, no response that breaks the schema).

Every attack is one test. ``attack`` / ``dash_attack`` send it, then read back the lines it added to the audit log
(``<state>/audit.jsonl``, shared by the API and the dashboard) and compare its time with the median of normal
requests measured in the same run: the bound is max(10 × that median, 0.5 s).

The API runs in this process (FastAPI's TestClient: requests reach the app byte for byte, CR/LF and NUL in
headers included); the dashboard runs as ``umm dash`` (waitress) in its own process, on the same state folder.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlencode, urlsplit

import flask
import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.reliability.conftest import FULL
from umm_api.app import create_app
from umm_api.routes import ROUTERS
from umm_assets.lib.servers import free_port, wait_until_up
from umm_assets.lib.serving.audit import redact_keys
from umm_assets.lib.serving.keys import KeyStore
from umm_assets.lib.serving.progress import nothing_in_progress

pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_ORIGIN = "https://dash.example.com"
FOREIGN_ORIGIN = "https://evil.example.com"
FUZZ_EXAMPLES = 150 if FULL else 12  # per operation and generation mode
NORMAL_REQUESTS = 40


def family(name: str):
    return pytest.mark.family(f"security: {name}")


# --- the world under attack ---------------------------------------------------------------------------------


@dataclass
class Keys:
    store: KeyStore
    full: dict[str, str]  # viewer, analyst, admin, revoked -> the key

    def id(self, role: str) -> str:
        return self.full[role].split("_")[1]

    def secret(self, role: str) -> str:
        return self.full[role].split("_", 2)[2]

    def header(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.full[role]}"} if role else {}


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("security_state")


@pytest.fixture(scope="module")
def keys(state_dir) -> Keys:
    store = KeyStore(state_dir / "keys.json")
    full = {role: store.create(f"sec {role}", role)[1] for role in ("viewer", "analyst", "admin")}
    record, full["revoked"] = store.create("sec revoked", "admin")
    store.revoke(record.id)
    return Keys(store, full)


@pytest.fixture(scope="module")
def api_app(api_world, state_dir, keys):
    yield create_app(api_world.api_settings(state_dir, cors_origins=(ALLOWED_ORIGIN,)), progress=nothing_in_progress)
    # AnyIO's worker threads (each with its DuckDB connection, umm_assets.lib.serving.reader.thread_connection) stop
    # shortly after their event loop closes; a process that exits while one is still stopping aborts in DuckDB's
    # destructor ("terminate called ... FATAL: exception not rethrown", exit status 134): let them stop first.
    # schemathesis keeps one event loop (and its lifespans) for the whole process, closed only at exit: close it now
    schemathesis_asgi = sys.modules.get("schemathesis.python.asgi")
    if schemathesis_asgi is not None:
        schemathesis_asgi._shutdown()
    for thread in [t for t in threading.enumerate() if t.name == "AnyIO worker thread"]:
        thread.join(timeout=15)


@pytest.fixture(scope="module")
def api(api_app) -> Iterator[TestClient]:
    with TestClient(api_app, raise_server_exceptions=False) as client:
        yield client


class AuditTail:
    """The lines the audit log gained since ``mark()``."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def new(self) -> list[dict]:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            return [json.loads(line) for line in handle.read().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def audit(state_dir) -> AuditTail:
    return AuditTail(state_dir / "audit.jsonl")


def _bound(samples: list[float]) -> float:
    return max(10 * statistics.median(samples), 0.5)


@pytest.fixture(scope="module")
def api_bound(api, keys) -> float:
    """max(10 × the median normal request, 0.5 s), normal requests measured now, as the attacks run."""
    normal = ["/api/v1/roas", "/api/v1/allocation", "/api/v1/partitions", "/health"]
    for path in normal:  # the first requests build the caches
        assert api.get(path, headers=keys.header("viewer")).status_code == 200
    samples = []
    for i in range(NORMAL_REQUESTS):
        started = time.perf_counter()
        response = api.get(normal[i % len(normal)], headers=keys.header("viewer"))
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
    return _bound(samples)


def _audited(entries: list[dict], method: str, path: str, status: int) -> bool:
    return any(e["method"] == method and e["path"] == redact_keys(path) and e["status"] == status for e in entries)


def _check_audit(entries: list[dict], keys: Keys, method: str, path: str, status: int) -> None:
    assert _audited(entries, method, path, status), (method, path, status, entries)
    written = json.dumps(entries)
    for role in keys.full:
        assert keys.secret(role) not in written, f"the {role} key's secret reached the audit log"


@pytest.fixture
def attack(api, keys, audit, api_bound) -> Callable[..., httpx.Response]:
    """Send one attack to the API: its status must be one of ``expect``, it must be audited (secrets redacted),
    and it must be answered within the bound."""

    def send(method: str, url: str, expect: int | tuple[int, ...], *, role: str | None = None,
             headers: dict | list | None = None, **kwargs) -> httpx.Response:
        expect = expect if isinstance(expect, tuple) else (expect,)
        if isinstance(headers, list):  # raw (name, value) pairs, bytes allowed: sent as they are
            headers = [*keys.header(role).items(), *headers]
        else:
            headers = {**keys.header(role), **(headers or {})}
        audit.mark()
        started = time.perf_counter()
        response = api.request(method, url, headers=headers, **kwargs)
        seconds = time.perf_counter() - started
        assert response.status_code in expect, (response.status_code, response.text[:300])
        assert response.status_code < 500
        if response.status_code >= 400 and method != "HEAD" and response.headers.get("content-type", "").startswith(
                "application/json"):
            assert {"detail", "code"} <= set(response.json()), response.text[:300]
        _check_audit(audit.new(), keys, method, unquote(urlsplit(str(response.request.url)).path),
                     response.status_code)
        assert seconds < api_bound, f"{seconds:.3f} s, normal requests: < {api_bound:.3f} s"
        return response

    return send


# --- keys ---------------------------------------------------------------------------------------------------

GUARDED = "/api/v1/roas"
WELL_FORMED_UNKNOWN = "umm_0123456789abcdef_" + "A" * 43


@family("keys")
@pytest.mark.parametrize("headers", [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": "Bearer "}, id="empty bearer"),
    pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="basic scheme"),
    pytest.param({"Authorization": "Bearer not-a-key"}, id="garbage bearer"),
    pytest.param({"X-API-Key": WELL_FORMED_UNKNOWN}, id="forged well-formed key, unknown id"),
    pytest.param({"Authorization": "Token " + WELL_FORMED_UNKNOWN}, id="other scheme"),
])
def test_a_missing_or_forged_key_is_a_401(attack, headers):
    response = attack("GET", GUARDED, 401, headers=headers)
    assert response.json()["code"] == "unauthorized" and response.headers["www-authenticate"].startswith("Bearer")


@family("keys")
@pytest.mark.parametrize("tamper", [
    pytest.param(lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), id="right id, last secret character changed"),
    pytest.param(lambda k: k[:21] + "A" * 43, id="right id, another secret"),
    pytest.param(lambda k: k[:-1], id="right id, truncated secret"),
    pytest.param(lambda k: k + "x", id="right id, one character more"),
    pytest.param(lambda k: k[:21] + k[21:].swapcase(), id="right id, secret case swapped"),
    pytest.param(lambda k: k[:21], id="right id, no secret"),
])
def test_a_right_key_id_with_a_wrong_secret_is_a_401(attack, keys, tamper):
    response = attack("GET", GUARDED, 401, headers={"X-API-Key": tamper(keys.full["viewer"])})
    assert response.json()["code"] == "unauthorized"


@family("keys")
def test_the_claimed_id_of_a_wrong_secret_is_audited_without_a_name_or_role(attack, keys, audit):
    attack("GET", GUARDED, 401, headers={"X-API-Key": keys.full["admin"][:-2] + "zz"})
    [entry] = [e for e in audit.new() if e["path"] == GUARDED]
    assert entry["key_id"] == keys.id("admin") and entry["key_name"] is None and entry["role"] is None


@family("keys")
def test_a_revoked_key_is_a_401(attack):
    response = attack("GET", GUARDED, 401, role="revoked")
    assert "revoked" in response.json()["detail"]


@family("keys")
def test_a_bad_bearer_does_not_fall_back_to_a_valid_x_api_key(attack, keys):
    attack("GET", GUARDED, 401, headers={"Authorization": "Bearer junk", "X-API-Key": keys.full["admin"]})


@family("keys")
def test_a_body_without_a_valid_key_is_a_401_before_it_is_read(attack):
    attack("POST", "/api/v1/scenarios", 401, json={"budget": 1000})


@family("keys")
@pytest.mark.parametrize("query", [
    pytest.param("api_key={viewer}", id="api_key=<valid key>"),
    pytest.param("token={admin}", id="token=<valid admin key>"),
    pytest.param("access_token=abc", id="access_token=anything"),
    pytest.param("channel={viewer}", id="a key as a channel value"),
    pytest.param("x{analyst}=1", id="a key as a parameter name"),
])
def test_a_key_in_the_query_string_is_a_401_even_with_a_valid_header(attack, keys, query):
    response = attack("GET", f"{GUARDED}?{query.format(**keys.full)}", 401, role="viewer")
    assert "URL" in response.json()["detail"]


@family("keys")
def test_a_key_pasted_into_the_path_is_a_404_and_redacted(attack, keys, audit):
    attack("GET", f"/api/v1/{keys.full['viewer']}", 404, role="viewer")
    assert any("REDACTED" in e["path"] for e in audit.new())


# --- roles --------------------------------------------------------------------------------------------------


@family("roles")
@pytest.mark.parametrize("role,method,path,body", [
    pytest.param("viewer", "POST", "/api/v1/scenarios", {"budget": 1000}, id="viewer runs a scenario"),
    pytest.param("viewer", "POST", "/api/v1/scenarios", {"budget": 1000, "role": "admin"},
                 id="viewer runs a scenario claiming admin in the body"),
    pytest.param("viewer", "GET", "/api/v1/admin/keys", None, id="viewer lists keys"),
    pytest.param("viewer", "GET", "/api/v1/admin/audit", None, id="viewer reads the audit log"),
    pytest.param("viewer", "DELETE", "/api/v1/admin/keys/{analyst}", None, id="viewer revokes the analyst"),
    pytest.param("analyst", "GET", "/api/v1/admin/keys", None, id="analyst lists keys"),
    pytest.param("analyst", "GET", "/api/v1/admin/audit?limit=10000", None, id="analyst reads the audit log"),
    pytest.param("analyst", "DELETE", "/api/v1/admin/keys/{admin}", None, id="analyst revokes the admin"),
])
def test_a_role_too_low_is_a_403_and_changes_nothing(attack, api, keys, role, method, path, body):
    ids = {r: keys.id(r) for r in ("viewer", "analyst", "admin")}
    response = attack(method, path.format(**ids), 403, role=role, **({"json": body} if body else {}))
    assert response.json()["code"] == "forbidden" and "role" in response.json()["detail"]
    assert all(keys.store.active(i) for i in ids.values())  # nothing was revoked


@family("roles")
def test_a_viewer_cannot_borrow_a_role_from_a_second_header(attack, keys):
    attack("GET", "/api/v1/admin/keys", 403, headers={**keys.header("viewer"), "X-API-Key": keys.full["admin"]})


@family("roles")
def test_an_admin_id_with_a_viewer_secret_is_a_401(attack, keys):
    attack("GET", "/api/v1/admin/keys", 401, headers={"X-API-Key": f"umm_{keys.id('admin')}_{keys.secret('viewer')}"})


@family("roles")
def test_proxy_style_role_and_user_headers_are_ignored(attack):
    attack("GET", "/api/v1/admin/audit", 403, role="viewer",
           headers={"X-Role": "admin", "X-Forwarded-User": "admin", "X-Original-URL": "/health"})


# --- injection and traversal in every parameter ---------------------------------------------------------------

TRAVERSAL = "../../../../etc/passwd"
SQL = "' OR 1=1 --"
NUL = "2026-11-23\x00"

INJECTIONS = [
    # (id, path, parameter, value, expected status, role)
    ("as_of traversal", "/api/v1/roas", "as_of", TRAVERSAL, 422),
    ("as_of sql", "/api/v1/allocation", "as_of", "2026-11-23' OR 1=1 --", 422),
    ("as_of NUL", "/api/v1/reconciliation", "as_of", NUL, 422),
    ("as_of fullwidth digits", "/api/v1/diagnostics", "as_of", "２０２６-１１-２３", 422),
    ("as_of 10k characters", "/api/v1/partitions", "as_of", "2" * 10_000, 422),
    ("as_of duckdb function", "/api/v1/experiment-plan", "as_of", "read_parquet('/etc/passwd')", 422),
    ("as_of on /health", "/health", "as_of", TRAVERSAL, 422),
    ("channel traversal", "/api/v1/allocation", "channel", TRAVERSAL, 422),
    ("channel sql", "/api/v1/roas", "channel", "tv' OR '1'='1", 422),
    ("channel NUL", "/api/v1/response-curves", "channel", "tv\x00", 422),
    ("channel right-to-left override", "/api/v1/reconciliation", "channel", "\u202etv", 422),
    ("channel zero-width space", "/api/v1/experiment-plan", "channel", "tv\u200b", 422),
    ("channel fullwidth", "/api/v1/contributions", "channel", "ｔｖ", 422),
    ("geo traversal", "/api/v1/contributions", "geo", "../national", 422),
    ("geo sql", "/api/v1/contributions", "geo", "national' --", 422),
    ("geo NUL", "/api/v1/contributions", "geo", "national\x00", 422),
    ("geo fullwidth", "/api/v1/contributions", "geo", "ｎａｔｉｏｎａｌ", 422),
    ("history from traversal", "/api/v1/history", "from", "../2026-01-05", 422),
    ("history to sql", "/api/v1/history", "to", "2026-01-05' OR 1=1", 422),
    ("history from NUL", "/api/v1/history", "from", "2026-01-05\x00", 422),
    ("data-quality weeks sql", "/api/v1/data-quality", "weeks", "1 OR 1=1", 422),
    ("data-quality failed_only sql", "/api/v1/data-quality", "failed_only", "true' --", 422),
    ("response-curves source traversal", "/api/v1/response-curves", "source", "../reconciled", 422),
    ("unknown parameter sql", "/api/v1/partitions", "sql", "select * from keys", 422),
    ("audit key_id sql", "/api/v1/admin/audit", "key_id", SQL, 422),
]


@family("injection")
@pytest.mark.parametrize("path,name,value,status", [pytest.param(*case[1:], id=case[0]) for case in INJECTIONS])
def test_hostile_parameters_are_refused(attack, path, name, value, status):
    role = "admin" if path.startswith("/api/v1/admin") else "viewer"
    response = attack("GET", path, status, role=role, params={name: value})
    assert response.json()["code"] in ("invalid_parameter", "unknown_channel")
    assert "root:" not in response.text


@family("injection")
def test_a_sql_audit_filter_is_matched_literally(attack):
    response = attack("GET", "/api/v1/admin/audit", 200, role="admin", params={"path_prefix": SQL, "limit": 10000})
    assert response.json()["entries"] == []


@family("injection")
@pytest.mark.parametrize("key_id,status", [
    pytest.param("..%2F..%2Fkeys.json", (404, 422), id="encoded traversal"),
    pytest.param("' OR 1=1 --", 422, id="sql"),
    pytest.param("0123456789abcde%00", 422, id="NUL"),
])
def test_hostile_key_ids_revoke_nothing(attack, keys, key_id, status):
    attack("DELETE", f"/api/v1/admin/keys/{key_id}", status, role="admin")
    assert all(keys.store.active(keys.id(r)) for r in ("viewer", "analyst", "admin"))


@family("injection")
@pytest.mark.parametrize("path", [
    pytest.param("/docs-assets/..%2f..%2f..%2f..%2fetc%2fpasswd", id="static files, encoded slashes"),
    pytest.param("/docs-assets/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd", id="static files, encoded dots"),
    pytest.param("/api/v1/roas/..%2F..%2F..%2Fkeys.json", id="api route, encoded slashes"),
])
def test_path_traversal_returns_nothing(attack, path):
    response = attack("GET", path, 404, role="admin")
    assert "root:" not in response.text and "salt" not in response.text


@family("injection")
@pytest.mark.parametrize("body", [
    pytest.param({"budget": 1000, "locked": [TRAVERSAL]}, id="locked traversal"),
    pytest.param({"budget": 1000, "bounds": {SQL: [0, 10]}}, id="bounds sql"),
    pytest.param({"budget": 1000, "locked": {"tv\x00": 10}}, id="locked NUL"),
    pytest.param({"budget": 1000, "locked": {"__proto__": 1}}, id="locked __proto__"),
])
def test_hostile_channels_in_a_scenario_are_a_422(attack, body):
    response = attack("POST", "/api/v1/scenarios", 422, role="analyst", json=body)
    assert response.json()["code"] == "unknown_channel"


@family("injection")
def test_a_hostile_as_of_on_a_scenario_is_a_422(attack):
    attack("POST", "/api/v1/scenarios", 422, role="analyst", params={"as_of": TRAVERSAL}, json={"budget": 1000})


# --- bodies ---------------------------------------------------------------------------------------------------

JSON_HEADERS = {"Content-Type": "application/json"}


@family("bodies")
@pytest.mark.parametrize("content,status", [
    pytest.param(b"[" * 30_000 + b"]" * 30_000, 422, id="30k nested arrays"),
    pytest.param(b'{"budget": 1, "bounds": ' + b'{"a":' * 6000 + b"1" + b"}" * 6000 + b"}", 422,
                 id="6k nested objects in bounds"),
    pytest.param(b'{"budget": 1, "locked": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 422, id="20k nested lists in locked"),
    pytest.param(b"\xff\xfe{\x00", 422, id="not UTF-8"),
    pytest.param(b'{"budget": 1000}garbage', 422, id="trailing garbage"),
    pytest.param(b'{"budget": 1, "budget": 1e300}', 422, id="duplicate field, last one absurd"),
    pytest.param(b" " * 65_537, 413, id="64 KiB + 1 of spaces"),
])
def test_hostile_bodies_are_refused(attack, content, status):
    response = attack("POST", "/api/v1/scenarios", status, role="analyst", content=content, headers=JSON_HEADERS)
    assert response.json()["code"] in ("invalid_parameter", "payload_too_large")


@family("bodies")
def test_an_oversized_chunked_body_is_a_413(attack):
    chunks = iter([b'{"budget": 1, "x": "' + b"a" * 40_000] * 3)  # no Content-Length: counted as it streams in
    attack("POST", "/api/v1/scenarios", 413, role="analyst", content=chunks, headers=JSON_HEADERS)


@family("bodies")
def test_a_lying_content_length_is_a_413_before_the_body(attack):
    attack("POST", "/api/v1/scenarios", 413, role="analyst", content=b'{"budget": 1}',
           headers=[(b"content-type", b"application/json"), (b"content-length", b"104857600")])


@family("bodies")
def test_more_than_1000_locked_channels_are_a_422(attack):
    attack("POST", "/api/v1/scenarios", 422, role="analyst",
           json={"budget": 1, "locked": {f"c{i}": 1 for i in range(1001)}})


@family("bodies")
def test_thousands_of_unknown_fields_are_a_422(attack):
    body = {"budget": 1000, **{f"f{i}": 0 for i in range(4000)}}
    response = attack("POST", "/api/v1/scenarios", 422, role="analyst", json=body)
    assert len(response.content) < 2_000_000


@family("bodies")
@pytest.mark.parametrize("content", [
    pytest.param(b'{"budget": NaN}', id="budget NaN"),
    pytest.param(b'{"budget": Infinity}', id="budget Infinity"),
    pytest.param(b'{"budget": -Infinity}', id="budget -Infinity"),
    pytest.param(b'{"budget": 1e999}', id="budget 1e999"),
    pytest.param(b'{"budget": "NaN"}', id="budget 'NaN' as text"),
    pytest.param(b'{"budget": 1e16}', id="budget over 1e15"),
    pytest.param(b'{"budget": -0.01}', id="budget negative"),
    pytest.param(b'{"budget": 1000, "locked": {"tv": NaN}}', id="locked NaN"),
    pytest.param(b'{"budget": 1000, "bounds": {"tv": [0, Infinity]}}', id="bounds Infinity"),
    pytest.param(b'{"budget": 1000, "bounds": {"tv": {"lower": -Infinity}}}', id="bounds -Infinity"),
])
def test_non_finite_or_absurd_budgets_are_a_422(attack, content):
    response = attack("POST", "/api/v1/scenarios", 422, role="analyst", content=content, headers=JSON_HEADERS)
    assert response.json()["code"] == "invalid_parameter"


@family("bodies")
@pytest.mark.parametrize("headers,content", [
    pytest.param({"Content-Type": "application/x-www-form-urlencoded"}, b"budget=1000", id="form-encoded"),
    pytest.param({"Content-Type": "text/plain"}, b'{"budget": 1000}', id="JSON as text/plain"),
    pytest.param({"Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\n\r\n--x--", id="multipart"),
])
def test_bodies_that_are_not_json_are_a_422(attack, headers, content):
    attack("POST", "/api/v1/scenarios", 422, role="analyst", content=content, headers=headers)


# --- CORS ---------------------------------------------------------------------------------------------------


def _preflight(origin: str, method: str = "GET", request_headers: str | None = None) -> dict:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            **({"Access-Control-Request-Headers": request_headers} if request_headers else {})}


@family("CORS")
@pytest.mark.parametrize("path,headers", [
    pytest.param(GUARDED, _preflight(FOREIGN_ORIGIN), id="foreign origin, GET"),
    pytest.param("/api/v1/scenarios", _preflight(FOREIGN_ORIGIN, "POST", "content-type,x-api-key"),
                 id="foreign origin, POST scenarios"),
    pytest.param("/api/v1/admin/keys/0123456789abcdef", _preflight(FOREIGN_ORIGIN, "DELETE", "authorization"),
                 id="foreign origin, DELETE a key"),
    pytest.param(GUARDED, _preflight("null"), id="origin null (sandboxed iframe, file://)"),
    pytest.param(GUARDED, _preflight(ALLOWED_ORIGIN + ".evil.com"), id="allowed origin as a prefix"),
    pytest.param(GUARDED, _preflight("https://evil-dash.example.com"), id="look-alike origin"),
    pytest.param(GUARDED, _preflight("http://dash.example.com"), id="allowed host over http"),
    pytest.param("/api/v1/scenarios", _preflight(ALLOWED_ORIGIN, "PUT"), id="allowed origin, PUT"),
    pytest.param(GUARDED, _preflight(ALLOWED_ORIGIN, "GET", "cookie"), id="allowed origin, Cookie header"),
])
def test_disallowed_preflights_are_a_400_without_allow_headers(attack, path, headers):
    response = attack("OPTIONS", path, 400, headers=headers)
    if headers["Origin"] != ALLOWED_ORIGIN:
        assert "access-control-allow-origin" not in response.headers
    else:  # the allowed origin asking for more than it may: not granted
        allowed = response.headers.get("access-control-allow-methods", "") + response.headers.get(
            "access-control-allow-headers", "")
        asked = headers.get("Access-Control-Request-Headers") or headers["Access-Control-Request-Method"]
        assert asked.lower() not in allowed.lower()


@family("CORS")
@pytest.mark.parametrize("origin", [FOREIGN_ORIGIN, "null"])
def test_a_foreign_origin_gets_no_allow_origin_header(attack, origin):
    """A simple GET cannot be refused by status (the browser sends it anyway): the browser is not allowed to read it."""
    response = attack("GET", GUARDED, 200, role="viewer", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers


@family("CORS")
def test_credentials_are_never_allowed_even_for_the_allowed_origin(attack):
    response = attack("GET", GUARDED, 200, role="viewer", headers={"Origin": ALLOWED_ORIGIN, "Cookie": "a=b"})
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "access-control-allow-credentials" not in response.headers


# --- methods ------------------------------------------------------------------------------------------------


@family("methods")
@pytest.mark.parametrize("method,path,role,extra", [
    pytest.param("TRACE", GUARDED, "viewer", {}, id="TRACE a data route"),
    pytest.param("TRACE", "/health", None, {}, id="TRACE /health without a key"),
    pytest.param("HEAD", GUARDED, "viewer", {}, id="HEAD a data route"),
    pytest.param("POST", GUARDED, "viewer", {"json": {}}, id="POST to a GET route"),
    pytest.param("POST", GUARDED, "viewer", {"headers": {"X-HTTP-Method-Override": "GET"}},
                 id="POST with X-HTTP-Method-Override GET"),
    pytest.param("POST", "/health", None, {}, id="POST /health without a body"),
    pytest.param("GET", "/api/v1/scenarios", "analyst", {}, id="GET the POST route"),
    pytest.param("PUT", "/api/v1/scenarios", "analyst", {"json": {"budget": 1}}, id="PUT a scenario"),
    pytest.param("PATCH", "/api/v1/admin/keys", "admin", {"json": {"role": "admin"}}, id="PATCH the key list"),
    pytest.param("DELETE", GUARDED, "admin", {}, id="DELETE a data route"),
    pytest.param("OPTIONS", GUARDED, "viewer", {}, id="OPTIONS without an Origin"),
    pytest.param("PROPFIND", GUARDED, "viewer", {}, id="WebDAV PROPFIND"),
])
def test_a_wrong_method_is_a_405(attack, method, path, role, extra):
    response = attack(method, path, 405, role=role, **extra)
    if method != "HEAD":
        assert response.json()["code"] == "method_not_allowed"


@family("methods")
def test_a_method_override_header_does_not_revoke_a_key(attack, keys):
    attack("GET", "/api/v1/admin/keys", 200, role="admin", headers={"X-HTTP-Method-Override": "DELETE"})
    attack("GET", f"/api/v1/admin/keys/{keys.id('viewer')}", 405, role="admin",
           headers={"X-HTTP-Method-Override": "DELETE"})
    assert keys.store.active(keys.id("viewer"))


# --- headers ------------------------------------------------------------------------------------------------


@family("headers")
@pytest.mark.parametrize("name,value", [
    pytest.param(b"x-api-key", b"{viewer}\r\nX-Injected: 1", id="CR/LF after a valid key in X-API-Key"),
    pytest.param(b"authorization", b"Bearer {viewer}\r\nSet-Cookie: a=b", id="CR/LF after a valid key in Authorization"),
    pytest.param(b"x-api-key", b"{viewer}\x00", id="NUL after a valid key"),
    pytest.param(b"x-api-key", b"\xff\xfe{viewer}", id="latin-1 bytes before a valid key"),
    pytest.param(b"authorization", b"Bearer " + b"A" * 16_384, id="16 KiB bearer"),
])
def test_control_characters_or_junk_in_key_headers_are_a_401(attack, keys, name, value):
    value = value.replace(b"{viewer}", keys.full["viewer"].encode())
    response = attack("GET", GUARDED, 401, headers=[(name, value)])
    assert "x-injected" not in response.headers and "set-cookie" not in response.headers


@family("headers")
def test_crlf_in_a_query_value_never_becomes_a_response_header(attack):
    response = attack("GET", GUARDED + "?as_of=2026-11-23%0d%0aSet-Cookie:%20owned=1", 422, role="viewer")
    assert "set-cookie" not in response.headers


@family("headers")
def test_a_forged_x_forwarded_for_is_not_logged_as_the_client(attack, audit):
    attack("GET", "/api/v1/admin/keys", 401, headers={"X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.7"})
    assert all(e["client"] != "203.0.113.7" for e in audit.new())


@family("headers")
def test_a_forged_host_header_is_not_reflected(attack):
    response = attack("GET", "/docs", 200, headers={"Host": "evil.example.com", "X-Forwarded-Host": "evil.example.com"})
    assert "evil.example.com" not in response.text


# --- the dashboard ----------------------------------------------------------------------------------------------


@dataclass
class Dash:
    url: str
    secret: str  # the session-signing secret (in the state folder): only to build cookies an attacker could not

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=60)

    def sign(self, session: dict, secret: str | None = None) -> str:
        app = flask.Flask("forger")
        app.secret_key = secret or self.secret
        return app.session_interface.get_signing_serializer(app).dumps(session)


COOKIE = "umm_dash_session"


@pytest.fixture(scope="module")
def dash(api_world, state_dir, keys, tmp_path_factory) -> Iterator[Dash]:
    """``umm dash`` (waitress) on the same state folder as the API: the same keys and audit log."""
    port = free_port()
    log = tmp_path_factory.mktemp("security_dash") / "dash.log"
    env = {**os.environ, "UMM_DATA_DIR": str(api_world.data_dir), "UMM_API_STATE_DIR": str(state_dir),
           "PYTHONPATH": str(ROOT)}
    env.pop("UMM_DASH_SECRET_KEY", None)
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", "umm_assets.cli", "dash", "--port", str(port)], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/login", process, timeout=120)
        yield Dash(url, (state_dir / "dash_secret").read_text().strip())
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]


def _login(client: httpx.Client, key: str, next_url: str | None = None) -> httpx.Response:
    return client.post("/login", data={"key": key, **({"next": next_url} if next_url else {})})


def _page(client: httpx.Client, path: str, search: str = "") -> httpx.Response:
    """The Dash pages callback that renders ``path?search`` (what the browser asks for after loading /)."""
    return client.post("/_dash-update-component", json=_page_body(path, search))


def _page_body(path: str, search: str) -> dict:
    return {"output": ".._pages_content.children..._pages_store.data..",
            "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": path},
                       {"id": "_pages_location", "property": "search", "value": search}],
            "changedPropIds": ["_pages_location.pathname"], "state": []}


@pytest.fixture(scope="module")
def dash_bound(dash, keys) -> float:
    """max(10 × the median normal dashboard request, 0.5 s): a signed-in viewer loading pages, measured now."""
    with dash.client() as client:
        assert _login(client, keys.full["viewer"]).status_code == 303
        assert _page(client, "/roas").status_code == 200  # warm: the first page reads the tables
        samples = []
        for i in range(8):
            started = time.perf_counter()
            response = client.get("/") if i % 2 else _page(client, "/roas")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200
    return _bound(samples)


@pytest.fixture
def dash_attack(dash, keys, audit, dash_bound) -> Callable[..., httpx.Response]:
    """Send one attack to the dashboard with ``client`` (set up by the test: cookies, a session): the status must be
    ``expect``, the request audited, and answered within the bound."""

    def send(client: httpx.Client, method: str, path: str, expect: int, *, audited_as: str | None = None,
             **kwargs) -> httpx.Response:
        audit.mark()
        started = time.perf_counter()
        response = client.request(method, path, **kwargs)
        seconds = time.perf_counter() - started
        assert response.status_code == expect, (response.status_code, response.text[:300])
        _check_audit(audit.new(), keys, method if audited_as is None else "GET",
                     audited_as or unquote(urlsplit(str(response.request.url)).path), response.status_code)
        assert seconds < dash_bound, f"{seconds:.3f} s, normal requests: < {dash_bound:.3f} s"
        return response

    return send


def _to_login(response: httpx.Response) -> None:
    assert response.headers["location"].startswith("/login"), response.headers.get("location")
    assert COOKIE + "=" not in response.headers.get("set-cookie", "") or "Max-Age=0" in response.headers["set-cookie"] \
        or "expires=Thu, 01 Jan 1970" in response.headers["set-cookie"]


@family("dashboard session")
def test_no_session_is_sent_to_the_login_form(dash, dash_attack):
    with dash.client() as client:
        _to_login(dash_attack(client, "GET", "/roas", 303))


@family("dashboard session")
@pytest.mark.parametrize("forge", [
    pytest.param(lambda dash, keys: "junk", id="random value"),
    pytest.param(lambda dash, keys: base64.urlsafe_b64encode(json.dumps({"key_id": keys.id("admin")}).encode())
                 .decode().rstrip("="), id="unsigned session naming the admin key"),
    pytest.param(lambda dash, keys: dash.sign({"key_id": keys.id("admin")}, secret="guessed-secret"),
                 id="session naming the admin key, signed with another secret"),
    pytest.param(lambda dash, keys: dash.sign({"key_id": keys.id("revoked")}), id="validly signed, revoked key"),
    pytest.param(lambda dash, keys: dash.sign({"key_id": "0123456789abcdef"}), id="validly signed, unknown key id"),
    pytest.param(lambda dash, keys: dash.sign({"key_id": ["' OR 1=1 --"]}), id="validly signed, key id not text"),
])
def test_forged_session_cookies_are_refused(dash, dash_attack, keys, forge):
    with dash.client() as client:
        client.cookies.set(COOKIE, forge(dash, keys))
        _to_login(dash_attack(client, "GET", "/", 303))


@family("dashboard session")
def test_a_tampered_session_cookie_is_refused(dash, dash_attack, keys):
    with dash.client() as client:
        assert _login(client, keys.full["viewer"]).status_code == 303
        payload, rest = client.cookies[COOKIE].split(".", 1)
        escalated = base64.urlsafe_b64encode(json.dumps({"_permanent": True, "key_id": keys.id("admin")},
                                                        separators=(",", ":")).encode()).decode().rstrip("=")
        assert escalated != payload
    with dash.client() as attacker:
        attacker.cookies.set(COOKIE, f"{escalated}.{rest}")
        _to_login(dash_attack(attacker, "GET", "/", 303))


@family("dashboard session")
def test_a_callback_without_a_session_is_a_401(dash, dash_attack):
    with dash.client() as client:
        client.cookies.set(COOKIE, "junk")
        response = dash_attack(client, "POST", "/_dash-update-component", 401, json=_page_body("/planner", ""))
        assert response.json()["login"].startswith("/login")


@family("dashboard session")
def test_a_session_cookie_set_before_login_never_becomes_authenticated(dash, dash_attack, keys):
    """Session fixation: a cookie the attacker planted before the victim signs in (validly signed: say, taken from
    the attacker's own visit) stays unauthenticated, and the login answers with a new cookie without its content."""
    planted = dash.sign({"planted_by": "attacker", "_fresh": True})
    with dash.client() as victim:
        victim.cookies.set(COOKIE, planted)
        signed_in = _login(victim, keys.full["analyst"])
        assert signed_in.status_code == 303
        fresh = signed_in.cookies[COOKIE]  # what the login sent back
    assert fresh != planted
    assert "planted_by" not in base64.urlsafe_b64decode(fresh.split(".")[0] + "==").decode("latin-1")
    with dash.client() as victim:
        victim.cookies.set(COOKIE, fresh)
        assert victim.get("/").status_code == 200  # the victim is signed in, with the new cookie
    with dash.client() as attacker:
        attacker.cookies.set(COOKIE, planted)
        _to_login(dash_attack(attacker, "GET", "/", 303))


@family("dashboard session")
@pytest.mark.xfail(strict=True, reason="the session is Flask's signed client-side cookie: logout clears the browser's "
                   "copy, but a copy taken before it stays valid until it expires (UMM_DASH_SESSION_HOURS) or the key "
                   "is revoked. A fix needs server-side session state (e.g. a per-session id checked against the "
                   "state folder), which is larger than a minimal change: reported, not fixed")
def test_a_cookie_copied_before_logout_is_refused_after_it(dash, dash_attack, keys):
    with dash.client() as client:
        assert _login(client, keys.full["viewer"]).status_code == 303
        stolen = client.cookies[COOKIE]
        assert client.post("/logout").status_code == 303
    with dash.client() as attacker:
        attacker.cookies.set(COOKIE, stolen)
        _to_login(dash_attack(attacker, "GET", "/", 303))


@family("dashboard session")
@pytest.mark.parametrize("key", [
    pytest.param(lambda keys: WELL_FORMED_UNKNOWN, id="unknown key"),
    pytest.param(lambda keys: keys.full["viewer"][:-1] + ("A" if keys.full["viewer"][-1] != "A" else "B"),
                 id="right id, wrong secret"),
    pytest.param(lambda keys: keys.full["revoked"], id="revoked key"),
    pytest.param(lambda keys: "' OR 1=1 --", id="sql"),
])
def test_a_login_with_a_bad_key_is_a_401_without_a_session(dash, dash_attack, keys, key):
    with dash.client() as client:
        dash_attack(client, "POST", "/login", 401, data={"key": key(keys)})
        assert COOKIE not in client.cookies


@family("dashboard session")
def test_a_key_in_the_dashboards_url_is_a_400_without_a_session(dash, dash_attack, keys):
    with dash.client() as client:
        response = dash_attack(client, "GET", f"/login?key={keys.full['viewer']}", 400)
        assert b"not accepted in the URL" in response.content and COOKIE not in client.cookies


@family("dashboard session")
@pytest.mark.parametrize("next_url", [
    pytest.param("//evil.example.com/x", id="scheme-relative"),
    pytest.param("https://evil.example.com/", id="absolute"),
    pytest.param("/\\evil.example.com", id="slash-backslash"),
    pytest.param("javascript:alert(1)", id="javascript:"),
    pytest.param("/\r\nSet-Cookie: owned=1", id="CR/LF (header injection)"),
])
def test_a_login_never_redirects_off_site_or_injects_headers(dash, dash_attack, keys, next_url):
    with dash.client() as client:
        response = dash_attack(client, "POST", "/login", 303, data={"key": keys.full["viewer"], "next": next_url})
        assert response.headers["location"] == "/"
        assert "owned" not in response.headers.get("set-cookie", "")


@family("headers")
def test_the_dashboards_redirects_ignore_a_forged_host(dash, dash_attack):
    with dash.client() as client:
        response = dash_attack(client, "GET", "/roas", 303, headers={"Host": "evil.example.com",
                                                                     "X-Forwarded-Host": "evil.example.com"})
        assert "evil" not in response.headers["location"]


@family("headers")
def test_crlf_in_a_dashboard_path_never_becomes_a_header(dash, dash_attack):
    with dash.client() as client:
        response = dash_attack(client, "GET", "/roas%0d%0aSet-Cookie:%20owned=1", 303)
        assert "owned" not in response.headers.get("set-cookie", "") and "\n" not in response.headers["location"]


@family("headers")
@pytest.mark.xfail(strict=True, reason="waitress refuses a header with a bare CR with 400 before the application "
                   "sees the request, so the refusal never reaches the audit log (it would need a server-level log); "
                   "reported, not fixed")
def test_a_malformed_header_on_the_wire_is_refused_and_audited(dash, keys, audit, dash_bound):
    address = urlsplit(dash.url)
    audit.mark()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(b"GET /roas HTTP/1.1\r\nHost: x\r\nCookie: a=b\rX-Injected: 1\r\nConnection: close\r\n\r\n")
        first = sock.recv(4096).split(b"\r\n")[0]
    assert first.split(b" ")[1] == b"400", first
    assert _audited(audit.new(), "GET", "/roas", 400)


@family("methods")
@pytest.mark.parametrize("method,path,signed_in,expect", [
    pytest.param("TRACE", "/", False, 303, id="dashboard TRACE without a session"),
    pytest.param("PUT", "/login", False, 405, id="dashboard PUT /login"),
    pytest.param("DELETE", "/login", True, 405, id="dashboard DELETE /login"),
    pytest.param("DELETE", "/_dash-update-component", True, 405, id="dashboard DELETE a callback"),
])
def test_a_wrong_method_on_the_dashboard_is_refused_and_audited(dash, dash_attack, keys, method, path, signed_in,
                                                                 expect):
    with dash.client() as client:
        if signed_in:
            assert _login(client, keys.full["viewer"]).status_code == 303
        dash_attack(client, method, path, expect)
        if signed_in:
            assert client.get("/").status_code == 200  # still signed in


@family("injection")
@pytest.mark.parametrize("week", [
    pytest.param(TRAVERSAL, id="dashboard week traversal"),
    pytest.param("2026-11-23' OR 1=1 --", id="dashboard week sql"),
    pytest.param("2026-11-23\x00", id="dashboard week NUL"),
    pytest.param("２０２６-１１-２３", id="dashboard week fullwidth"),
])
def test_a_hostile_dashboard_week_shows_the_newest_week_instead(dash, dash_attack, keys, week):
    """The dashboard takes a week only if it is one of the materialized weeks, else shows the newest with a notice."""
    with dash.client() as client:
        assert _login(client, keys.full["viewer"]).status_code == 303
        search = "?" + urlencode({"week": week})
        response = dash_attack(client, "POST", "/_dash-update-component", 200, audited_as="/roas",
                               json=_page_body("/roas", search))
        assert "has no materialized model" in response.text and "root:" not in response.text



# --- schemathesis -------------------------------------------------------------------------------------------


OPERATIONS = [f"{method} {route.path}" for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)
              for method in sorted(route.methods)]


@pytest.fixture(scope="module")
def openapi_schema(api_app):
    import schemathesis

    return schemathesis.openapi.from_asgi("/openapi.json", api_app)


@family("fuzzer")
@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("operation", OPERATIONS)
def test_schemathesis_finds_no_5xx_and_no_response_outside_the_schema(openapi_schema, keys, operation, mode):
    """schemathesis generates requests from the schema (``positive``) or that break it (``negative``), sent with an
    analyst key. Every check runs but ``positive_data_acceptance``: the schema cannot say that a date is a Monday,
    that a channel is one of the partition's, or that bounds can sum to the budget, so some schema-valid requests
    are rightly a 422."""
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    method, path = operation.split(" ", 1)
    api_operation = openapi_schema[path][method]
    statuses: list[int] = []

    @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=api_operation.as_strategy(generation_mode=GenerationMode(mode)))
    def fuzz(case):
        response = case.call_and_validate(headers=keys.header("analyst"), excluded_checks=[positive_data_acceptance])
        statuses.append(response.status_code)

    fuzz()
    assert statuses and max(statuses) < 500, statuses
