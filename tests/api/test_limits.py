"""What a careless client or an attacker sends (issue 13): bodies refused before they are read, proxy headers
trusted only when configured, keys never written to the audit log, strict numbers and parameters, and an
OpenAPI schema that says what is accepted. An empty warehouse is enough: every refusal comes before data."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.support import auth, serving
from umm_api.app import create_app
from umm_api.settings import ApiSettings
from umm_assets.lib.serving.keys import KeyStore

HUNDRED_MB = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> tuple[ApiSettings, dict[str, str]]:
    """Settings over an empty warehouse, and a key per role."""
    root = tmp_path_factory.mktemp("bare_api")
    settings = ApiSettings(data_dir=str(root / "warehouse"), state_dir=str(root / "state"))
    store = KeyStore(settings.keys_file)
    return settings, {role: store.create(f"limits {role}", role)[1] for role in ("viewer", "analyst")}


@pytest.fixture(scope="module")
def client(bare) -> Iterator[TestClient]:
    with TestClient(create_app(bare[0]), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def live(bare, tmp_path_factory) -> Iterator[str]:
    """``umm serve`` (real uvicorn, one worker) with the default settings."""
    settings = bare[0]
    with serving(Path(settings.data_dir), Path(settings.state_dir), tmp_path_factory.mktemp("live") / "serve.log",
                 UMM_HOST="127.0.0.1") as url:
        yield url


def audit_entries(settings: ApiSettings) -> list[dict]:
    if not settings.audit_file.exists():
        return []
    return [json.loads(line) for line in settings.audit_file.read_text().splitlines()]


# --- bodies ------------------------------------------------------------------------------------------


def _post_without_key(url: str, body_bytes: int, send_all: bool) -> tuple[bytes, float, socket.socket]:
    """POST a JSON body of ``body_bytes`` without a key: all of it (in the background, as fast as the server
    reads) or only its first bytes; returns the response's first line, the seconds it took, and the socket."""
    address = urlsplit(url)
    sock = socket.create_connection((address.hostname, address.port), timeout=10)
    # costly to parse, like an attacker's: a list of numbers (FastAPI parses the body before the key check)
    head, tail = b'{"budget": 1000, "padding": [', b"0]}"
    sock.sendall(b"POST /api/v1/scenarios HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % body_bytes + head)

    def send_the_rest():
        chunk, left = b"0," * 32768, body_bytes - len(head) - len(tail)
        try:
            while left > 0:
                left -= sock.send(chunk[:left])
            sock.sendall(tail)
        except OSError:
            pass  # the server answered and closed the connection: the rest is never read

    started = time.monotonic()
    if send_all:
        threading.Thread(target=send_the_rest, daemon=True).start()
    first_line = b""
    try:
        while b"\r\n" not in first_line and (received := sock.recv(4096)):
            first_line += received
    except TimeoutError:
        pass
    return first_line.split(b"\r\n")[0], time.monotonic() - started, sock


def test_an_unauthenticated_100_mb_post_is_refused_before_its_body_and_health_does_not_wait(live):
    status, seconds, sock = _post_without_key(live, HUNDRED_MB, send_all=False)  # the body never comes
    sock.close()
    assert status == b"HTTP/1.1 401 Unauthorized" and seconds < 2, (status, seconds)
    status, seconds, sock = _post_without_key(live, HUNDRED_MB, send_all=True)
    try:
        started = time.monotonic()
        health = httpx.get(f"{live}/health", timeout=60)
        health_seconds = time.monotonic() - started
    finally:
        sock.close()
    assert status == b"HTTP/1.1 401 Unauthorized" and seconds < 2, (status, seconds)
    assert health.status_code == 200 and health_seconds < 2, health_seconds


def test_bodies_need_a_key_and_stay_under_the_cap(client, bare):
    settings, keys = bare
    analyst = auth(keys["analyst"])
    refused = client.post("/api/v1/scenarios", json={"budget": 1000})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    big = client.post("/api/v1/scenarios", content=b" " * (settings.max_body_bytes + 1),
                      headers={**analyst, "Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["code"] == "payload_too_large"
    streamed = client.post("/api/v1/scenarios", content=iter([b"{" + b" " * 40_000] * 2),  # chunked: no length
                           headers={**analyst, "Content-Type": "application/json"})
    assert streamed.status_code == 413
    # a body within the cap reaches the route whole (here: no allocation materialized) and roles still count
    read = client.post("/api/v1/scenarios", json={"budget": 1000, "locked": ["tv"]}, headers=analyst)
    assert read.status_code == 404 and "allocation" in read.json()["detail"]
    assert client.post("/api/v1/scenarios", json={"budget": 1000}, headers=auth(keys["viewer"])).status_code == 403
    assert [e["status"] for e in audit_entries(settings)[-5:]] == [401, 413, 413, 404, 403]


# --- proxy headers -------------------------------------------------------------------------------------


def _client_logged(url: str, settings: ApiSettings) -> str:
    """The client address the audit log gives a request that claims another one in X-Forwarded-For."""
    logged = len(audit_entries(settings))
    httpx.get(f"{url}/health", headers={"X-Forwarded-For": "203.0.113.7"}, timeout=30)
    deadline = time.monotonic() + 10
    while len(entries := audit_entries(settings)) == logged and time.monotonic() < deadline:
        time.sleep(0.05)  # the line is written once the response is sent
    return entries[-1]["client"]


def test_x_forwarded_for_counts_only_from_a_configured_proxy(live, bare, tmp_path):
    settings = bare[0]
    assert _client_logged(live, settings) == "127.0.0.1"  # a local caller cannot forge its address
    trusting = ApiSettings(data_dir=settings.data_dir, state_dir=str(tmp_path / "state"))
    with serving(Path(trusting.data_dir), Path(trusting.state_dir), tmp_path / "serve.log", UMM_HOST="127.0.0.1",
                 UMM_API_FORWARDED_ALLOW_IPS="127.0.0.1") as url:
        assert _client_logged(url, trusting) == "203.0.113.7"


# --- keys in URLs ---------------------------------------------------------------------------------------


def test_a_key_anywhere_in_the_path_or_query_never_reaches_the_audit_log(client, bare):
    settings, keys = bare
    key = keys["viewer"]
    secret = key.split("_", 2)[2]
    for path, params in [("/api/v1/roas", {"channel": f" {key}"}), ("/api/v1/roas", {"channel": f"tv,{key}x"}),
                         (f"/api/v1/{key}", {}), ("/api/v1/partitions", {f"x{key}": "1"})]:
        response = client.get(path, params=params, headers=auth(key))
        assert response.status_code in (401, 404), (path, response.text)
    logged = settings.audit_file.read_text()
    assert secret not in logged and secret[:20] not in logged
    assert f"umm_{key.split('_')[1]}_REDACTED" in logged  # the key id stays, to trace the key


# --- strict numbers and parameters -----------------------------------------------------------------------


@pytest.mark.parametrize("body,field", [
    ({"budget": 1e308, "locked": {"display": 1e308}}, "budget"),
    ({"budget": 1e16}, "budget"),
    ({"budget": True}, "budget"),
    ({"budget": "1000"}, "budget"),
    ({"budget": 1000, "locked": {"tv": True}}, "locked"),
    ({"budget": 1000, "bounds": {"tv": [True, 5]}}, "bounds.tv.lower"),
    ({"budget": 1000, "bounds": {"tv": {"upper": 1e300}}}, "bounds.tv.upper"),
])
def test_scenario_numbers_are_finite_sane_and_never_booleans(client, bare, body, field):
    response = client.post("/api/v1/scenarios", json=body, headers=auth(bare[1]["analyst"]))
    assert response.status_code == 422 and field in response.json()["detail"], response.text


def test_a_parameter_that_takes_one_value_given_twice_is_a_422(client, bare):
    viewer = auth(bare[1]["viewer"])
    twice = client.get("/api/v1/roas?as_of=2026-01-05&as_of=2026-01-12", headers=viewer)
    assert twice.status_code == 422 and "'as_of' given more than once" in twice.json()["detail"]
    assert client.get("/api/v1/data-quality?weeks=1&weeks=2", headers=viewer).status_code == 422
    several = client.get("/api/v1/roas?channel=tv&channel=search", headers=viewer)  # a list: repeating is how
    assert several.status_code == 404, several.text


def test_openapi_says_what_as_of_channel_and_geo_accept(client):
    paths = client.get("/openapi.json").json()["paths"]

    def strings(operation: dict, name: str) -> list[dict]:
        schema = next(p["schema"] for p in operation["parameters"] if p["name"] == name)
        found = [s for s in [schema, *schema.get("anyOf", [])] if s.get("type") == "string"]
        return found + [s["items"] for s in schema.get("anyOf", []) if "items" in s]

    contributions = paths["/api/v1/contributions"]["get"]
    as_of = strings(contributions, "as_of")[0]
    assert as_of["format"] == "date" and as_of["pattern"] == "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
    for name in ("channel", "geo"):
        assert all("pattern" in s and s["minLength"] == 1 for s in strings(contributions, name)), name
    assert "413" in paths["/api/v1/scenarios"]["post"]["responses"]
