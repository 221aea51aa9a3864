"""``umm keys`` and ``umm serve`` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from tests.api.support import ROOT, auth


def umm(*args: str, state_dir, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "umm_assets.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "UMM_API_STATE_DIR": str(state_dir), **env})


def test_keys_create_prints_the_key_last_and_list_and_revoke_manage_it(tmp_path):
    created = umm("keys", "create", "--role", "analyst", "--name", "ci bot", state_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("umm_") and len(key) == 4 + 16 + 1 + 43
    key_id = key.split("_")[1]
    listed = umm("keys", "list", state_dir=tmp_path)
    assert key_id in listed.stdout and "analyst" in listed.stdout and "ci bot" in listed.stdout
    assert key not in listed.stdout and key not in (tmp_path / "keys.json").read_text()
    assert umm("keys", "revoke", key_id, state_dir=tmp_path).returncode == 0
    assert "revoked" in umm("keys", "list", state_dir=tmp_path).stdout
    bad = umm("keys", "create", "--role", "root", "--name", "x", state_dir=tmp_path)
    assert bad.returncode != 0 and "invalid choice" in bad.stderr


def test_serve_answers_with_docs_and_data_for_a_cli_key(live_api, api_world, state_dir):
    created = umm("keys", "create", "--role", "viewer", "--name", "live", state_dir=state_dir)
    key = created.stdout.strip().splitlines()[-1]
    with httpx.Client(base_url=live_api, timeout=30) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/docs").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "Unified-M API"
        assert client.get("/api/v1/partitions").status_code == 401
        response = client.get("/api/v1/partitions", headers=auth(key))
        assert response.status_code == 200
        assert response.json()["assets"]["validated_spend"][-1]["partition"] == api_world.newest
        again = client.get("/api/v1/partitions", headers=auth(key))  # from the cache lane
        assert again.content == response.content and again.headers["etag"] == response.headers["etag"]


def test_make_run_prints_a_fresh_viewer_key_and_revokes_the_previous_one(tmp_path, monkeypatch):
    from umm_assets.lib.serving.keys import KeyStore
    from umm_assets.up import UP_KEY_NAME, viewer_key

    monkeypatch.setenv("UMM_API_STATE_DIR", str(tmp_path))
    first, second = viewer_key(), viewer_key()
    store = KeyStore(tmp_path / "keys.json")
    assert store.verify(first) is None and store.verify(second).role == "viewer"
    assert [k.active for k in store.list() if k.name == UP_KEY_NAME] == [False, True]
