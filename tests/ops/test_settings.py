"""Part 6: one typed settings object for every UMM_* variable, read once and validated at start, shared by the
code location, the command line, the API and the dashboard."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.servers import environment
from umm_api.settings import ApiSettings
from umm_assets.lib.settings import Settings, SettingsError, variable
from umm_dash.settings import DashSettings



def test_a_window_under_a_year_fails_every_entry_point_at_start(tmp_path):
    env = {"UMM_MODEL_WINDOW_WEEKS": "30", "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "umm_assets.cli", "materialize", "--latest"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "UMM_MODEL_WINDOW_WEEKS='30': must be at least 52" in done.stderr and "Traceback" not in done.stderr
    from umm_api.app import create_app
    from umm_assets.definitions import defs
    from umm_dash.app import create_app as create_dash

    with environment(env):
        for start in (defs, create_app, create_dash):  # the code location, the API, the dashboard
            with pytest.raises(SettingsError, match="UMM_MODEL_WINDOW_WEEKS='30': must be at least 52"):
                start()


def test_bad_values_name_their_variable_and_never_echo_a_secret():
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"UMM_FIRST_WEEK": "2024-01-02", "UMM_API_CACHE_ENTRIES": "-1",
                           "UMM_DASK_ADDRESS": "localhost", "UMM_DAGSTER_PG_URL": "mysql://u:hunter2@h/db"})
    message = str(err.value)
    for name in ("UMM_FIRST_WEEK", "UMM_API_CACHE_ENTRIES", "UMM_DASK_ADDRESS", "UMM_DAGSTER_PG_URL"):
        assert name in message
    assert "hunter2" not in message and "must be a Monday" in message


def test_the_api_and_the_dashboard_take_their_sections_of_the_one_object(tmp_path):
    settings = Settings.from_env({"UMM_DATA_DIR": "s3://lake/wh", "UMM_API_STATE_DIR": str(tmp_path),
                                  "UMM_API_REMOTE_TTL_SECONDS": "5", "UMM_API_PORT": "8001", "UMM_DASH_THREADS": "3",
                                  "UMM_API_CORS_ORIGINS": "https://a.example, https://b.example/"})
    api, dash = ApiSettings.of(settings), DashSettings.of(settings)
    assert (api.data_dir, api.state_dir, api.remote_ttl_seconds, api.port) == ("s3://lake/wh", str(tmp_path), 5, 8001)
    assert api.cors_origins == ("https://a.example", "https://b.example")
    assert (dash.data_dir, dash.state_dir, dash.remote_ttl_seconds, dash.threads) == ("s3://lake/wh", str(tmp_path), 5, 3)


def test_every_umm_variable_in_the_code_is_a_setting():
    """No module reads a UMM_* variable of its own: each one named in the code is a field of Settings."""
    fields = {variable((name,)) for name in Settings.model_fields} | {
        variable((section, name)) for section in ("api", "dash")
        for name in type(getattr(Settings(), section)).model_fields}
    sources = [p for folder in ("umm_assets", "umm_api", "umm_dash") for p in (ROOT / folder).rglob("*.py")]
    named = {m for p in sources for m in re.findall(r"\bUMM_[A-Z][A-Z_]*[A-Z]\b", p.read_text())}
    assert named - fields == set()
