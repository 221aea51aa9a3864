"""``umm up`` (what ``make run`` calls): the whole platform on one machine, servers first.

1. writes demo data when the landing zone is empty (seconds);
2. starts the REST API and the dashboard, and — unless the newest week's allocation is already materialized —
   queues the demo's validation and model chain as one backfill in the Dagster instance (``umm materialize
   --latest --daemon``, a short-lived process: this one never imports a model, so it stays small while idle);
3. starts Dagster (webserver and daemon, ``dagster dev``), whose daemon runs that backfill: the runs, their
   logs and the asset graph turning green are in the UI from the first minute, and the API and dashboard say
   "being materialized — run ..." for what is not there yet;
4. prints the addresses and a fresh viewer key, then one line per run of the backfill as it starts and ends.

Ctrl-C stops everything it started. ``UMM_LOG_LEVEL=DEBUG`` shows Dagster's own logs and warnings.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from umm_assets.cli import VALIDATED
from umm_assets.lib.contracts import INPUTS
from umm_assets.lib.landing import LocalLandingZone
from umm_assets.lib.outputs import MODEL_CHAIN
from umm_assets.lib.servers import wait_until_up
from umm_assets.lib.settings import Settings, load_settings
from umm_assets.webserver import FINISHED, GraphQLError, Webserver

UP_KEY_NAME = "make run viewer"
GRAPH_ORDER = (*VALIDATED, *MODEL_CHAIN)
SHOWN = ("STARTED", "SUCCESS", "FAILURE", "CANCELED")  # run states worth a line (not queued, starting, ...)
# `dagster dev` warns that `dg dev` supersedes it (dagster-dg-cli, not installed here): the code location quiets
# Dagster's other API warnings itself; this one is raised before any of our code runs (Python's -W syntax:
# a literal prefix of the message, and a built-in category)
DEV_SUPERSEDED = "ignore:Function `dev_command` is superseded:FutureWarning"


@dataclass(frozen=True)
class Ports:
    host: str
    dagster: int
    api: int
    dash: int

    @classmethod
    def of(cls, settings: Settings) -> Ports:
        return cls(host=settings.host, dagster=settings.dagster_port, api=settings.api.port, dash=settings.dash.port)

    def url(self, port: int) -> str:
        return f"http://{self.host}:{port}"


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


def newest_plan_missing(settings: Settings) -> str | None:
    """The newest week with raw rows, when its allocation (the end of the chain) is not materialized yet."""
    from umm_assets.lib.ingest import last_raw_week
    from umm_assets.lib.landing import open_landing_zone
    from umm_assets.lib.storage import Warehouse

    week = last_raw_week(open_landing_zone(settings.raw_uri))
    if week is None or Warehouse(settings.data_dir).commit("allocation", week.isoformat()) is not None:
        return None
    return week.isoformat()


def _start(command: list[str], env: dict | None = None, log=None) -> subprocess.Popen:
    # own session: stopping it stops its children too (dagster dev starts a daemon and code servers)
    return subprocess.Popen(command, start_new_session=True, env=env, stdout=log, stderr=log)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _say(text: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {text}", flush=True)


def queue_first_runs(settings: Settings) -> str | None:
    """Queue the validation and model chain of the newest week as one backfill (before the daemon starts: its
    landing-zone sensor then sees the backfill and does not validate the same weeks again); its id, or None."""
    week = newest_plan_missing(settings)
    if week is None:
        _say("the newest week's plan is already materialized: nothing to run (the landing-zone sensor validates "
             "files as they change; the weekly schedule refits on Mondays)")
        return None
    done = subprocess.run([sys.executable, "-m", "umm_assets.cli", "materialize", "--latest", "--daemon"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        _say(f"could not queue the first runs:\n{done.stderr.strip()}")
        return None
    return done.stdout.strip().splitlines()[-1]


def start_dagster(ports: Ports, home: Path, verbose: bool) -> tuple[subprocess.Popen, Path | None]:
    """``dagster dev`` (webserver, daemon, one code server). Quiet unless verbose: its services, sensors and
    runs write to ``$DAGSTER_HOME/dagster-dev.log`` (the sensors' INFO lines every minute would scroll the
    printed key away; every run's logs are in the UI), and the log's path is returned."""
    command = [sys.executable, "-m", "dagster", "dev", "-w", str(Path("workspace.yaml").resolve()), "-h", ports.host,
               "-p", str(ports.dagster), "--log-level", "info" if verbose else "warning"]
    if verbose:
        return _start(command), None
    log = home / "dagster-dev.log"  # (not under logs/: Dagster's telemetry clears that folder)
    with open(log, "a") as out:
        return _start(command, {**os.environ, "PYTHONWARNINGS": DEV_SUPERSEDED}, out), log


class Follow:
    """One line per run of the backfill as it starts and ends, and one when the backfill is done."""

    def __init__(self, webserver: Webserver, backfill_id: str, dashboard: str):
        self.webserver, self.backfill_id, self.dashboard = webserver, backfill_id, dashboard
        self.seen: dict[str, str] = {}
        self.done = False

    def poll(self) -> None:
        if self.done:
            return
        try:
            state = self.webserver.backfill(self.backfill_id)
        except (OSError, GraphQLError):
            return  # the webserver is busy or reloading its code location: next time
        for run in reversed(state["runs"]):
            if run["status"] in SHOWN and self.seen.get(run["runId"]) != run["status"]:
                self.seen[run["runId"]] = run["status"]
                self._run_line(run)
        if state["status"] in FINISHED:
            self.done = True
            if state["status"] == "COMPLETED_SUCCESS":
                _say(f"backfill {self.backfill_id} succeeded: the newest week is served at {self.dashboard}")
            else:
                _say(f"backfill {self.backfill_id} ended {state['status'].lower()}: the Dagster UI shows why "
                     f"({self.webserver.url}/runs/b/{self.backfill_id})")

    def _run_line(self, run: dict) -> None:
        names = [a["path"][-1] for a in run["assetSelection"] or []]
        assets = ", ".join(sorted(names, key=lambda a: GRAPH_ORDER.index(a) if a in GRAPH_ORDER else len(GRAPH_ORDER)))
        tags = {t["key"]: t["value"] for t in run["tags"]}
        weeks = tags.get("dagster/partition") or " .. ".join(
            w for w in (tags.get("dagster/asset_partition_range_start"), tags.get("dagster/asset_partition_range_end"))
            if w)
        status = run["status"].lower()
        took = ""
        if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") and run["startTime"] and run["endTime"]:
            took = f" in {run['endTime'] - run['startTime']:.0f} s"
        _say(f"run {run['runId'][:8]} {status}{took}: {assets}{f' ({weeks})' if weeks else ''}")


def up() -> int:
    """Bring the platform up (see the module's docstring)."""
    settings = load_settings()
    ports = Ports.of(settings)
    verbose = settings.log_level == "DEBUG"
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path("dagster_home").resolve())))
    home.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    if landing_zone_is_empty(settings.raw_uri):
        from umm_assets.lib import demo

        _say(f"landing zone {settings.raw_uri} is empty: writing demo data")
        demo.generate(Path(settings.raw_uri))

    processes: list[subprocess.Popen] = []
    stopping = False

    def shutdown(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    try:
        serve = [sys.executable, "-m", "umm_assets.cli"]
        api = _start([*serve, "serve", "--host", ports.host, "--port", str(ports.api)])
        dash = _start([*serve, "dash", "--host", ports.host, "--port", str(ports.dash)])
        processes += [api, dash]
        backfill_id = queue_first_runs(settings)
        dagster, log = start_dagster(ports, home, verbose)
        processes.append(dagster)
        wait_until_up(f"{ports.url(ports.api)}/health", api)
        wait_until_up(f"{ports.url(ports.dash)}/login", dash)
        try:
            wait_until_up(f"{ports.url(ports.dagster)}/server_info", dagster)
        except (RuntimeError, TimeoutError):
            if log:
                print(log.read_text()[-3000:], file=sys.stderr)
            raise
        _print_addresses(ports, viewer_key(), time.monotonic() - started, backfill_id, log)
        follow = Follow(Webserver(ports.url(ports.dagster)), backfill_id, ports.url(ports.dash)) if backfill_id else None
        while not stopping and all(p.poll() is None for p in processes):
            if follow:
                follow.poll()
            time.sleep(0.5 if follow is None or follow.done else 3)
        failed = [p for p in processes if p.poll() not in (None, 0)]
        return 1 if failed and not stopping else 0
    finally:
        _stop(processes)


def _print_addresses(ports: Ports, key: str, seconds: float, backfill_id: str | None, log: Path | None) -> None:
    dagster, api, dash = ports.url(ports.dagster), ports.url(ports.api), ports.url(ports.dash)
    print(f"\nUnified-M is up ({seconds:.0f} s):", flush=True)
    print(f"  Dagster UI (webserver + daemon)  {dagster}", flush=True)
    print(f"  REST API                         {api}  (docs: {api}/docs)", flush=True)
    print(f"  Dashboard                        {dash}  (sign in with the key below)", flush=True)
    print(f"  API viewer key                   {key}", flush=True)
    print(f'    e.g. curl -H "Authorization: Bearer {key}" {api}/api/v1/roas', flush=True)
    if backfill_id:
        print(f"The demo's validation and model chain run now, as backfill {backfill_id} (a few minutes on 2 cores):"
              f" watch it at {dagster}/runs/b/{backfill_id}", flush=True)
    if log:
        print(f"Dagster's own log: {log} (UMM_LOG_LEVEL=DEBUG shows it here)", flush=True)
    print("Press Ctrl-C to stop.\n", flush=True)
