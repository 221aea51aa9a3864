"""``umm up`` (what ``make run`` calls): the whole platform on one machine.

Writes demo data when the landing zone is empty, materializes the newest weeks, then starts the
Dagster webserver and daemon (``dagster dev`` on ``workspace.yaml``), the REST API (``umm serve``) and
the dashboard (``umm dash``), prints their addresses and a fresh viewer key, and stays in the foreground;
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from umm_assets.lib.contracts import INPUTS
from umm_assets.lib.landing import LocalLandingZone
from umm_assets.lib.servers import wait_until_up
from umm_assets.lib.settings import Settings, load_settings

UP_KEY_NAME = "make run viewer"


@dataclass(frozen=True)
class Ports:
    host: str
    dagster: int
    api: int
    dash: int

    @classmethod
    def of(cls, settings: Settings) -> Ports:
        return cls(host=settings.host, dagster=settings.dagster_port, api=settings.api.port, dash=settings.dash.port)


def viewer_key() -> str:
    """A fresh viewer key for this session; the one printed by the previous ``make run`` is revoked
    (a key is shown only once, so an old one could not be printed again anyway)."""
    from umm_assets.lib.serving.keys import KeyStore
    from umm_api.settings import get_settings

    store = KeyStore(get_settings().keys_file)
    for key in store.list():
        if key.name == UP_KEY_NAME and key.active:
            store.revoke(key.id)
    return store.create(UP_KEY_NAME, "viewer")[1]


def landing_zone_is_empty(raw_uri: str) -> bool:
    if "://" in raw_uri:
        return False  # a remote landing zone is the user's: never write demo data into it
    zone = LocalLandingZone(raw_uri)
    return not any(zone.list_files(spec.folder) for spec in INPUTS.values())


def _start(command: list[str]) -> subprocess.Popen:
    # own session: stopping it stops its children too (dagster dev starts a daemon and code servers)
    return subprocess.Popen(command, start_new_session=True)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def up(materialize) -> int:
    """Bring the platform up; ``materialize`` runs ``umm materialize --latest`` in this process."""
    settings = load_settings()
    ports = Ports.of(settings)
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)

    if landing_zone_is_empty(settings.raw_uri):
        from umm_assets.lib import demo

        print(f"landing zone {settings.raw_uri} is empty: writing demo data", flush=True)
        demo.generate(Path(settings.raw_uri))
    if materialize() != 0:
        print("\nmaterialization failed (the reason is above); starting the platform anyway: the Dagster UI "
              "shows the failed run, and the API serves whatever was materialized before", flush=True)

    processes: list[subprocess.Popen] = []
    stopping = False

    def shutdown(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        workspace = Path("workspace.yaml").resolve()
        dagster = _start([sys.executable, "-m", "dagster", "dev", "-w", str(workspace),
                          "-h", ports.host, "-p", str(ports.dagster)])
        processes.append(dagster)
        api = _start([sys.executable, "-m", "umm_assets.cli", "serve", "--host", ports.host, "--port", str(ports.api)])
        processes.append(api)
        dash = _start([sys.executable, "-m", "umm_assets.cli", "dash", "--host", ports.host, "--port", str(ports.dash)])
        processes.append(dash)
        dagster_url = f"http://{ports.host}:{ports.dagster}"
        api_url = f"http://{ports.host}:{ports.api}"
        dash_url = f"http://{ports.host}:{ports.dash}"
        wait_until_up(f"{api_url}/health", api)
        wait_until_up(f"{dash_url}/login", dash)
        wait_until_up(f"{dagster_url}/server_info", dagster)
        key = viewer_key()
        print("\nUnified-M is up:", flush=True)
        print(f"  Dagster UI (webserver + daemon)  {dagster_url}", flush=True)
        print(f"  REST API                         {api_url}  (docs: {api_url}/docs)", flush=True)
        print(f"  Dashboard                        {dash_url}  (sign in with the key below)", flush=True)
        print(f"  API viewer key                   {key}", flush=True)
        print(f'    e.g. curl -H "Authorization: Bearer {key}" {api_url}/api/v1/roas', flush=True)
        print("Press Ctrl-C to stop.", flush=True)
        while not stopping and all(p.poll() is None for p in processes):
            time.sleep(0.5)
        failed = [p for p in processes if p.poll() not in (None, 0)]
        return 1 if failed and not stopping else 0
    finally:
        _stop(processes)
