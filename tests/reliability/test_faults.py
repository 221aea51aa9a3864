"""Faults (issue 20): a materialization killed with SIGKILL at chosen and random points, a full disk, a
read-only file system, and S3 PUTs that fail. After each fault every committed partition is its previous
complete version or its new complete version (never torn, never missing), the live API (``umm serve`` over
the same warehouse, started once for the module) answers 200 with the lineage of what is committed, and the
same materialization run again succeeds.

How the kills are made real. ``umm materialize`` (``umm_assets.cli.main``) runs in a process of its own,
forked per run from a "zygote" process that has imported Dagster, the code location and PyMC once (a fresh
``python -m umm_assets.cli`` costs 12-35 s of imports on this machine; the zygote makes 15 kills affordable).
Each forked run has its own environment (UMM_RAW_URI, UMM_DATA_DIR, UMM_FIRST_WEEK, DAGSTER_HOME,
UMM_RUN_CONFIG=tests/quick_run_config.yaml) and dies by a real ``SIGKILL``, either

- sent by the test after a random delay (a seeded RNG), wherever the run happens to be, or
- sent by the run to itself at the n-th call of a warehouse or ingest function (n drawn from a seeded RNG
  between 1 and the number of such calls a whole run makes, counted by a census run): reading a raw file,
  a contract check, between table files, half-way through a table or a pointer file, between pointer
  files, between pointer renames, after a rename, while pruning, while building or swapping the catalog;
  or after a random delay into a model fit (a quick-config fit).

Disk full and read-only: the warehouse is a tmpfs this module mounts (root only; without mount rights those
cases skip, and a shim that fails the warehouse's writes with ENOSPC / EROFS runs instead, always).
S3: moto's server; a PUT is made to fail by patching s3fs in the run's process (its ``_pipe_file`` /
``_put_file`` raise botocore's ``EndpointConnectionError``, what an unreachable server gives), not by
stopping the server, which keeps its objects only in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import queue
import random
import signal
import sqlite3
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.api.support import auth, serving
from tests.conftest import INSTANCE_CONFIG, QUICK_RUN_CONFIG_FILE, ROOT, VALIDATED
from tests.reliability.conftest import FULL
from umm_assets.lib.outputs import MODEL_CHAIN
from umm_assets.lib.storage import CATALOG_FILE, COMMIT_FILE, LINEAGE_FILE, Commit, Warehouse

pytestmark = pytest.mark.reliability

SIGKILLED = -signal.SIGKILL
VALIDATION_WEEKS = 6  # the validation scope: validated_spend and validated_outcomes, the last 6 weeks
S3_WEEKS = 3


# --- the zygote: runs `umm materialize` in forked processes, with fault hooks -------------------------------


def zygote() -> None:
    """Import the platform once, then per JSON line on stdin fork a process that runs ``umm`` with the job's
    environment, hook and log file; report ``{"pid"}`` when it starts and ``{"exit"}`` when it ends."""
    import dagster  # noqa: F401
    import umm_assets.cli  # noqa: F401
    import umm_assets.definitions  # noqa: F401
    import umm_assets.lib.mmm.fit  # noqa: F401  (PyMC, nutpie)
    import s3fs  # noqa: F401

    assert threading.active_count() == 1, "forking is safe only without threads"
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        job = json.loads(line)
        if "warm" in job:  # import what a whole run imported (lazily), so that forked runs start warm
            import importlib

            for name in json.loads(Path(job["warm"]).read_text()):
                with contextlib.suppress(Exception):
                    importlib.import_module(name)
            print(json.dumps({"warm": threading.active_count()}), flush=True)
            continue
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(job)
        print(json.dumps({"pid": pid}), flush=True)
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"pid": pid, "exit": os.waitstatus_to_exitcode(status)}), flush=True)


def _child(job: dict) -> None:
    code = 70
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        log = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.environ.update(job["env"])
        from umm_assets import cli
        from umm_assets.lib.settings import load_settings

        load_settings.cache_clear()
        counts = _install(job.get("hook"))
        code = cli.main(job["argv"])
        if job.get("census"):
            Path(job["census"]).write_text(json.dumps(counts))
        if job.get("modules"):
            Path(job["modules"]).write_text(json.dumps(sorted(n for n in sys.modules if not n.startswith("__"))))
    except BaseException:  # noqa: BLE001 (reported in the log; the exit status says it failed)
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install(hook: dict | None) -> Counter:
    """Count the calls of every fault point and act at the hook's: ``{"point", "n", "when"}`` with ``when`` one
    of before (SIGKILL as the n-th call starts), after (once it returned), torn (half its bytes written, then
    SIGKILL), fail (raise ``hook["error"]``, from the n-th call on), or ``{"point": "fit", "delay"}``."""
    import errno as errnos

    import s3fs
    from fsspec.implementations.local import LocalFileSystem

    from umm_assets.lib import ingest, storage
    from umm_assets.lib.mmm.fit import MMMFitter

    counts: Counter = Counter()
    hook = hook or {}

    def error() -> BaseException:
        if hook["error"] == "connection":
            from botocore.exceptions import EndpointConnectionError

            return EndpointConnectionError(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
        code = getattr(errnos, hook["error"])
        return OSError(code, os.strerror(code))

    def act(point: str, torn=None) -> bool:
        """True if the real call should be made and then SIGKILL sent."""
        counts[point] += 1
        if hook.get("point") != point or counts[point] < hook["n"]:
            return False
        if hook["when"] == "fail":
            raise error()
        if counts[point] > hook["n"]:
            return False
        if hook["when"] == "before":
            _die()
        if hook["when"] == "torn":
            torn()
            _die()
        return True

    def wrap(owner, name: str, point_of) -> None:
        real = getattr(owner, name)

        def wrapper(*args, **kwargs):
            point = point_of(*args, **kwargs)
            if point is None:
                return real(*args, **kwargs)
            after = act(point, lambda: _torn(point, real, *args, **kwargs))
            result = real(*args, **kwargs)
            if after:
                _die()
            return result

        setattr(owner, name, wrapper)

    def awrap(owner, name: str, point_of) -> None:  # s3fs' coroutines
        real = getattr(owner, name)

        async def wrapper(*args, **kwargs):
            point = point_of(*args, **kwargs)
            if point is not None:
                act(point)
            return await real(*args, **kwargs)

        setattr(owner, name, wrapper)

    def _torn(point: str, real, *args, **kwargs) -> None:
        if point == "table":  # pipe_file(self, path, value)
            real(args[0], args[1], args[2][: len(args[2]) // 2])
        elif point == "pointer_file":  # _prepare(self, path, body): the temporary file, half written
            Path(f"{args[1]}.{os.urandom(16).hex()}.tmp").write_bytes(args[2][: len(args[2]) // 2])
        else:
            raise AssertionError(f"no torn write for {point}")

    def written(path: str) -> str | None:
        path = str(path)
        if path.endswith(".parquet"):
            return "table"
        if path.endswith("/" + LINEAGE_FILE):
            return "lineage"
        if path.endswith("/" + COMMIT_FILE):
            return "pointer"
        if path.endswith("/" + CATALOG_FILE):
            return "catalog"
        return None

    wrap(ingest, "read_table", lambda *a, **k: "read_table")
    wrap(ingest, "validate_table", lambda *a, **k: "validate_table")
    wrap(LocalFileSystem, "pipe_file", lambda self, path, *a, **k: written(path))
    wrap(LocalFileSystem, "rm", lambda *a, **k: "prune_rm")
    wrap(storage.Warehouse, "_prepare",
         lambda self, path, body: "pointer_file" if path.endswith("/" + COMMIT_FILE) else None)
    wrap(storage.Warehouse, "_finish",
         lambda self, prepared: "pointer_swap" if prepared[1].endswith("/" + COMMIT_FILE) else None)
    wrap(storage.Warehouse, "_create_view", lambda *a, **k: "catalog_view")
    wrap(os, "replace", lambda src, dst, *a, **k: "catalog_swap" if str(dst).endswith(CATALOG_FILE) else None)
    awrap(s3fs.S3FileSystem, "_pipe_file", lambda self, path, *a, **k: "s3_" + (written(path) or "other"))
    awrap(s3fs.S3FileSystem, "_put_file", lambda self, lpath, rpath, *a, **k: "s3_" + (written(rpath) or "other"))

    if hook.get("point") in ("enospc", "erofs"):  # the shim: every warehouse write fails
        data_dir = os.environ["UMM_DATA_DIR"]
        hook.update(n=1, when="fail", error=hook["point"].upper())
        for owner, name in ((LocalFileSystem, "pipe_file"), (LocalFileSystem, "makedirs"),
                            (LocalFileSystem, "put_file"), (storage.Warehouse, "_prepare")):
            wrap(owner, name, lambda *a, point=hook["point"], **k: point
                 if any(str(x).startswith(data_dir) for x in a[1:]) else None)

    if hook.get("point") == "fit":  # SIGKILL a random delay into the fit, or as it returns
        real_fit = MMMFitter.fit

        def fit(self, *args, **kwargs):
            threading.Timer(hook["delay"], _die).start()
            real_fit(self, *args, **kwargs)
            _die()

        MMMFitter.fit = fit
    return counts


@dataclass
class Run:
    exit: int
    output: str
    seconds: float


class Zygote:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.count = 0
        self.lines: queue.Queue = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tests.reliability.test_faults import zygote; zygote()"], cwd=ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log_dir / "zygote.log", "w"), text=True)
        threading.Thread(target=self._read, daemon=True).start()
        assert self._next(300).get("ready"), "the zygote did not start"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put({"eof": True})

    def _next(self, timeout: float) -> dict:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no answer from the zygote in {timeout} s") from None
        assert "eof" not in line, (self.log_dir / "zygote.log").read_text()[-3000:]
        return line

    def _send(self, job: dict) -> None:
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()

    def warm(self, modules: Path) -> None:
        """Import in the zygote every module ``modules`` lists (written by a run with ``modules=``)."""
        self._send({"warm": str(modules)})
        threads = self._next(300)["warm"]
        assert threads == 1, f"the warm-up started {threads - 1} Python threads: forking would be unsafe"

    def run(self, argv: list[str], env: dict[str, str], *, hook: dict | None = None, census: Path | None = None,
            modules: Path | None = None, kill_after: float | None = None, timeout: float = 300) -> Run:
        self.count += 1
        log = self.log_dir / f"run-{self.count:03d}.log"
        started = time.monotonic()
        self._send({"argv": argv, "env": env, "hook": hook, "log": str(log),
                    "census": str(census) if census else None, "modules": str(modules) if modules else None})
        pid = self._next(60)["pid"]
        timer = None
        if kill_after is not None:
            timer = threading.Timer(kill_after, os.kill, (pid, signal.SIGKILL))
            timer.start()
        try:
            ended = self._next(timeout)
        except AssertionError:  # stop it, and take its exit report off the line
            os.kill(pid, signal.SIGKILL)
            self._next(60)
            raise AssertionError(f"umm {' '.join(argv)} did not end in {timeout} s:\n"
                                 + log.read_text(errors="replace")[-3000:]) from None
        finally:
            if timer is not None:
                timer.cancel()
        assert ended["pid"] == pid, (ended, pid)
        return Run(ended["exit"], log.read_text(errors="replace"), time.monotonic() - started)

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- what is committed, and the checks ----------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    commit: Commit
    digest: str  # every file of the version: tables, artifacts, lineage.json


def _version_digest(warehouse: Warehouse, commit: Commit) -> str:
    digest = hashlib.sha256()
    folder = f"{warehouse.uri}/{commit.asset}/{commit.partition}/{commit.version}"
    for name in sorted([f"{t}.parquet" for t in commit.tables] + list(commit.files) + [LINEAGE_FILE]):
        digest.update(name.encode())
        digest.update(warehouse.fs.cat_file(f"{folder}/{name}"))
    return digest.hexdigest()


def snapshot(warehouse: Warehouse) -> dict[tuple[str, str], State]:
    """Every committed partition and the digest of the version its pointer names (a missing file raises)."""
    states = {}
    for asset in warehouse.assets():
        for partition in warehouse.partitions(asset):
            commit = warehouse.require(asset, partition)
            states[(asset, partition)] = State(commit, _version_digest(warehouse, commit))
    return states


def _table(warehouse: Warehouse, commit: Commit, table: str) -> pa.Table:
    """One table of exactly this version, read whole (pyarrow: a DuckDB connection per read costs 0.4 s here)."""
    path = f"{warehouse.uri}/{commit.asset}/{commit.partition}/{commit.version}/{table}.parquet"
    return pq.read_table(io.BytesIO(warehouse.fs.cat_file(path)))


def assert_complete(warehouse: Warehouse, commit: Commit) -> None:
    """The version a pointer names is whole: its lineage.json is the pointer, every table reads with the row
    count the pointer records, every artifact is there."""
    folder = f"{warehouse.uri}/{commit.asset}/{commit.partition}/{commit.version}"
    assert Commit(**json.loads(warehouse.fs.cat_file(f"{folder}/{LINEAGE_FILE}"))) == commit
    for table, rows in commit.tables.items():
        assert _table(warehouse, commit, table).num_rows == rows, (commit.asset, commit.partition, table)
    for name in commit.files:
        assert warehouse.fs.size(f"{folder}/{name}") > 0, (commit.asset, commit.partition, name)


def assert_old_or_new(warehouse: Warehouse, before: dict, after: dict, scope: set[tuple[str, str]], *,
                      moved: str = "may") -> None:
    """Each partition is its previous version, byte for byte, or (in ``scope``) one new complete version.
    ``moved``: "may", "all" (every partition of the scope has a new version) or "none"."""
    assert set(after) == set(before), f"partitions missing {set(before) - set(after)}, new {set(after) - set(before)}"
    for key, state in after.items():
        old = before[key]
        if state.commit.version == old.commit.version:
            assert state == old, f"{key}: version {old.commit.version} changed under its pointer"
            assert not (moved == "all" and key in scope), f"{key} was not rewritten"
            continue
        assert key in scope and moved != "none", f"{key} moved to {state.commit.version} outside the run"
        assert (state.commit.sequence, state.commit.previous) == (old.commit.sequence + 1, old.commit.version), key
        assert_complete(warehouse, state.commit)
        if key[0].startswith("validated_"):  # the same raw rows: the same validated data
            for table in state.commit.tables:
                new, previous = _table(warehouse, state.commit, table), _table(warehouse, old.commit, table)
                assert new.equals(previous), f"{key} {table}: the new version holds other data"


def assert_catalog_reads(data_dir: Path) -> None:
    """catalog.duckdb (the old one or the new one) opens, and every view reads."""
    with contextlib.closing(duckdb.connect(str(data_dir / CATALOG_FILE), read_only=True)) as con:
        views = [v for (v,) in con.execute("select view_name from duckdb_views() where not internal").fetchall()]
        assert "validated_spend" in views and any(v.startswith("allocation") for v in views), views
        for view in views:
            con.execute(f'select count(*) from "{view}"').fetchone()


def assert_no_leftovers(data_dir: Path, scope: set[tuple[str, str]]) -> None:
    """After a successful write: no half-written pointer files in its partitions, no catalog being built."""
    for asset, partition in scope:
        assert not list((data_dir / asset / partition).glob(f"{COMMIT_FILE}.*.tmp")), (asset, partition)
    assert not list(data_dir.glob(".catalog-*")), "a killed catalog rebuild's folder was left behind"


# --- the world ------------------------------------------------------------------------------------------------


@dataclass
class World:
    root: Path
    data_dir: Path
    env: dict[str, str]
    weeks: list[str]
    zygote: Zygote
    url: str
    key: str
    mounted: bool
    refused: str | None = None  # why no tmpfs could be mounted
    census: dict[str, dict] = field(default_factory=dict)  # scope -> calls per fault point, and seconds

    @property
    def newest(self) -> str:
        return self.weeks[-1]

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.data_dir)

    def scope(self, name: str) -> tuple[list[str], set[tuple[str, str]]]:
        """``umm materialize`` arguments of a named scope, and the partitions it writes."""
        if name == "validation":
            weeks = self.weeks[-VALIDATION_WEEKS:]
            assets = ["validated_spend", "validated_outcomes"]
            return (["materialize", "--from", weeks[0], "--to", weeks[-1], "--select", ",".join(assets)],
                    {(a, w) for a in assets for w in weeks})
        if name in MODEL_CHAIN:  # "allocation", "mmm_posterior"
            return ["materialize", "--partition", self.newest, "--select", name], {(name, self.newest)}
        raise AssertionError(name)

    def run(self, scope: str, **kwargs) -> Run:
        return self.zygote.run(self.scope(scope)[0], self.env, **kwargs)


def _mount_tmpfs(path: Path, size: str) -> str | None:
    """Mount a tmpfs at ``path``; None if it worked, else why not."""
    if os.geteuid() != 0:
        return "not root"
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount exited {done.returncode}")


def _unmount(path: Path) -> None:
    for _ in range(20):
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.5)
    subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory, small_world) -> World:
    raw_src, truth = small_world
    root = tmp_path_factory.mktemp("faults")
    shutil.copytree(raw_src, root / "raw")
    # the instance's SQLite on a RAM disk if there is one: Dagster's event writes dominate a short run
    home = Path(tempfile.mkdtemp(prefix="umm-faults-home-", dir="/dev/shm" if os.path.isdir("/dev/shm") else root))
    (home / "dagster.yaml").write_text(json.dumps(INSTANCE_CONFIG))
    data_dir = root / "warehouse"
    data_dir.mkdir()
    refused = _mount_tmpfs(data_dir, "256m")
    env = {"UMM_RAW_URI": str(root / "raw"), "UMM_DATA_DIR": str(data_dir), "UMM_FIRST_WEEK": truth["first_week"],
           "DAGSTER_HOME": str(home), "UMM_RUN_CONFIG": str(QUICK_RUN_CONFIG_FILE), "UMM_LOG_LEVEL": "WARNING"}
    first = truth["first_week"]
    weeks = [w for w in _mondays(first, truth["last_week"])]
    (root / "logs").mkdir()
    zygote = Zygote(root / "logs")
    try:
        modules = root / "logs" / "modules.json"
        built = zygote.run(["materialize", "--from", first, "--to", weeks[-1], "--select", ",".join(VALIDATED)],
                           env, modules=modules)
        assert built.exit == 0, built.output
        chain = zygote.run(["materialize", "--partition", weeks[-1], "--select", ",".join(MODEL_CHAIN)], env)
        assert chain.exit == 0, chain.output
        zygote.warm(modules)
        from umm_assets.lib.serving.keys import KeyStore

        state = root / "api_state"
        key = KeyStore(state / "keys.json").create("faults", "viewer")[1]
        with serving(data_dir, state, root / "logs" / "serve.log", DAGSTER_HOME=str(home)) as url:
            world = World(root, data_dir, env, weeks, zygote, url, key, mounted=refused is None, refused=refused)
            for scope in ("validation", "validation", "allocation"):  # the second validation run prunes
                census = root / "logs" / f"census-{scope}.json"
                done = world.run(scope, census=census)
                assert done.exit == 0, done.output
                world.census[scope] = {**json.loads(census.read_text()), "seconds": done.seconds}
            yield world
    finally:
        zygote.close()
        if refused is None:
            _unmount(data_dir)
        shutil.rmtree(home, ignore_errors=True)


def _mondays(first: str, last: str) -> list[str]:
    import datetime as dt

    day, end, out = dt.date.fromisoformat(first), dt.date.fromisoformat(last), []
    while day <= end:
        out.append(day.isoformat())
        day += dt.timedelta(weeks=1)
    return out


def assert_api_serves(world: World, state: dict[tuple[str, str], State]) -> None:
    """The live API answers 200, and what it serves is what is committed (versions, runs, lineage)."""
    with httpx.Client(base_url=world.url, headers=auth(world.key), timeout=60) as client:
        health = client.get("/health")
        assert health.status_code == 200, health.text[:500]
        partitions = client.get("/api/v1/partitions")
        assert partitions.status_code == 200, partitions.text[:500]
        for asset, rows in partitions.json()["assets"].items():
            served = {(asset, r["partition"]): (r["version"], r["run_id"]) for r in rows if r["version"]}
            committed = {k: (s.commit.version, s.commit.run_id) for k, s in state.items() if k[0] == asset}
            assert served == committed, f"/api/v1/partitions serves other versions of {asset} than are committed"
        for path, asset in (("/api/v1/roas", "mmm_posterior"), ("/api/v1/reconciliation", "reconciled_lift"),
                            ("/api/v1/allocation", "allocation"), ("/api/v1/experiment-plan", "experiment_plan")):
            response = client.get(path, params={"as_of": world.newest})
            assert response.status_code == 200, (path, response.status_code, response.text[:500])
            lineage, commit = response.json()["lineage"], state[(asset, world.newest)].commit
            assert (lineage["asset"], lineage["partition"], lineage["run_id"]) == (asset, world.newest, commit.run_id), \
                (path, lineage, commit.run_id)


def after_fault(world: World, scope: str, before: dict, *, moved: str = "may") -> dict:
    """The checks after a fault: old-or-new partitions, a readable catalog, the API."""
    after = snapshot(world.warehouse)
    assert_old_or_new(world.warehouse, before, after, world.scope(scope)[1], moved=moved)
    assert_catalog_reads(world.data_dir)
    assert_api_serves(world, after)
    return after


def rerun(world: World, scope: str, after: dict) -> None:
    """The same materialization again succeeds and rewrites every partition of its scope."""
    warehouse = world.warehouse
    partitions = world.scope(scope)[1]
    again = world.run(scope)
    assert again.exit == 0, again.output
    final = snapshot(warehouse)
    assert_old_or_new(warehouse, after, final, partitions, moved="all")
    assert_no_leftovers(world.data_dir, partitions)
    assert_catalog_reads(world.data_dir)
    assert_api_serves(world, final)


# --- kill -9 -----------------------------------------------------------------------------------------------------

KILL = "faults: kill -9 during "
# (family, label, scope, fault point, when); each is tried with several seeds in the full form
KILLS = [
    (KILL + "validation", "reading a raw file", "validation", "read_table", "before"),
    (KILL + "validation", "checking a file against the contract", "validation", "validate_table", "before"),
    (KILL + "the commit", "between table files", "validation", "table", "before"),
    (KILL + "the commit", "half-way through a table file", "allocation", "table", "torn"),
    (KILL + "the commit", "writing lineage.json", "validation", "lineage", "before"),
    (KILL + "the commit", "between pointer files", "validation", "pointer_file", "before"),
    (KILL + "the commit", "half-way through a pointer file", "allocation", "pointer_file", "torn"),
    (KILL + "the commit", "between pointer swaps", "validation", "pointer_swap", "before"),
    (KILL + "the commit", "right after a pointer swap", "validation", "pointer_swap", "after"),
    (KILL + "the commit", "while pruning old versions", "validation", "prune_rm", "before"),
    (KILL + "the catalog", "building a view", "validation", "catalog_view", "before"),
    (KILL + "the catalog", "swapping the catalog in", "allocation", "catalog_swap", "before"),
    ("faults: kill -9 at a random moment", "after a random delay", "validation", "timer", None),
]
SEEDS = 5 if FULL else 1


def _kill_cases():
    for family, label, scope, point, when in KILLS:
        for seed in range(SEEDS + (1 if FULL and point == "timer" else 0)):
            yield pytest.param(scope, point, when, seed, marks=pytest.mark.family(family),
                               id=f"{label.replace(' ', '-')}-{scope}-seed{seed}")


@pytest.mark.parametrize("scope,point,when,seed", list(_kill_cases()))
def test_kill_9(world, scope, point, when, seed):
    rng = random.Random(f"{scope}/{point}/{when}/{seed}")
    census = world.census.get(scope, {})
    before = snapshot(world.warehouse)
    if point == "timer":
        killed = world.run(scope, kill_after=rng.uniform(0.2, 0.9 * census["seconds"]))
    else:
        assert census.get(point), f"a whole run of {scope} never reaches {point}: {census}"
        killed = world.run(scope, hook={"point": point, "n": rng.randint(1, census[point]), "when": when})
    if point != "timer" or killed.exit != 0:  # a random delay may outlast the run
        assert killed.exit == SIGKILLED, f"the run was not killed (exit {killed.exit}):\n{killed.output[-3000:]}"
    rerun(world, scope, after_fault(world, scope, before))


def _slots_held(home: str) -> list[tuple[str, str]]:
    """(run id, step) of every claimed slot of the instance's concurrency pools (its SQLite event log)."""
    with contextlib.closing(sqlite3.connect(f"{home}/event_log.db")) as con:
        return con.execute("select run_id, step_key from concurrency_slots where run_id is not null "
                           "and deleted = 0").fetchall()


@pytest.mark.family(KILL + "a fit")
@pytest.mark.xfail(strict=True, reason=(
    "platform bug, not fixed here: a run killed during a fit keeps its 'model_fit' pool slot in the Dagster "
    "instance (it stays STARTED; nothing marks it failed without the daemon's run monitoring, which is not "
    "enabled), so every later mmm_posterior/reconciled_lift run of that DAGSTER_HOME waits for the slot "
    "forever (seen: the rerun pending 600 s)"))
def test_kill_9_during_a_fit(world):
    """Runs last among the fits of this module: after it the instance's model_fit slot may be stuck."""
    rng = random.Random("mmm_posterior/fit")
    before = snapshot(world.warehouse)
    killed = world.run("mmm_posterior", hook={"point": "fit", "delay": rng.uniform(0.5, 20)})
    assert killed.exit == SIGKILLED, f"the run was not killed (exit {killed.exit}):\n{killed.output[-3000:]}"
    after = after_fault(world, "mmm_posterior", before)
    held = _slots_held(world.env["DAGSTER_HOME"])
    assert not held, f"the killed run still holds pool slots {held}: a rerun would wait for them forever"
    rerun(world, "mmm_posterior", after)


# --- a full disk, a read-only file system -----------------------------------------------------------------------


def _fill(path: Path, leave: int) -> Path:
    """A filler file that leaves ``leave`` bytes free on ``path``'s file system."""
    filler = path / ".filler"
    stat = os.statvfs(path)
    size = max(stat.f_bavail * stat.f_frsize - leave, 0)
    with open(filler, "wb") as handle:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            try:
                size -= handle.write(chunk[: min(size, len(chunk))])
            except OSError:
                break
    return filler


def _folders(world: World) -> dict[tuple[str, str], set[str]]:
    return {(a, p): {f.name for f in (world.data_dir / a / p).iterdir() if f.is_dir()}
            for a, p in world.scope("validation")[1]}


def _assert_failed_cleanly(world: World, run: Run, reason: str, before: dict, folders: dict) -> None:
    """The write failed, saying why; nothing committed changed, and the failed write's folders are gone."""
    assert run.exit == 1, f"the write did not fail (exit {run.exit}):\n{run.output[-3000:]}"
    assert reason in run.output and "umm materialize: run" in run.output, run.output[-3000:]
    after = snapshot(world.warehouse)
    assert_old_or_new(world.warehouse, before, after, world.scope("validation")[1], moved="none")
    assert _folders(world) == folders, "the failed write left version folders behind"
    assert_api_serves(world, after)


@pytest.mark.family("faults: disk full")
@pytest.mark.parametrize("how", ["tmpfs-full", "shim-ENOSPC", *(["tmpfs-8KiB-free", "tmpfs-64KiB-free"] if FULL else [])])
def test_disk_full(world, how):
    before, folders = snapshot(world.warehouse), _folders(world)
    if how.startswith("tmpfs"):
        if not world.mounted:
            pytest.skip(f"cannot mount a tmpfs for the warehouse ({world.refused}); shim-ENOSPC covers it")
        leave = {"tmpfs-full": 0, "tmpfs-8KiB-free": 8 << 10, "tmpfs-64KiB-free": 64 << 10}[how]
        filler = _fill(world.data_dir, leave)
        try:
            failed = world.run("validation")
            _assert_failed_cleanly(world, failed, "No space left on device", before, folders)
        finally:
            filler.unlink()
    else:
        failed = world.run("validation", hook={"point": "enospc"})
        _assert_failed_cleanly(world, failed, "No space left on device", before, folders)
    rerun(world, "validation", after_fault(world, "validation", before, moved="none"))


@pytest.mark.family("faults: read-only")
@pytest.mark.parametrize("how", ["remount-ro", "shim-EROFS"])
def test_read_only(world, how):
    before, folders = snapshot(world.warehouse), _folders(world)
    if how == "remount-ro":
        if not world.mounted:
            pytest.skip(f"cannot mount a tmpfs for the warehouse ({world.refused}); shim-EROFS covers it")
        subprocess.run(["mount", "-o", "remount,ro", str(world.data_dir)], check=True)
        try:
            failed = world.run("validation")
            _assert_failed_cleanly(world, failed, "Read-only file system", before, folders)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(world.data_dir)], check=True)
    else:
        failed = world.run("validation", hook={"point": "erofs"})
        _assert_failed_cleanly(world, failed, "Read-only file system", before, folders)
    rerun(world, "validation", after_fault(world, "validation", before, moved="none"))


# --- S3: a PUT fails -------------------------------------------------------------------------------------------


@dataclass
class S3World:
    env: dict[str, str]
    weeks: list[str]
    zygote: Zygote
    uri: str
    aws: dict[str, str]

    def warehouse(self) -> Warehouse:
        with _environment(self.aws):
            return Warehouse(self.uri)

    def argv(self) -> list[str]:
        return ["materialize", "--from", self.weeks[0], "--to", self.weeks[-1], "--select", "validated_spend"]

    @property
    def scope(self) -> set[tuple[str, str]]:
        return {("validated_spend", w) for w in self.weeks}


@contextlib.contextmanager
def _environment(variables: dict[str, str]):
    from tests.servers import environment

    with environment(variables):
        yield


@pytest.fixture(scope="module")
def s3_world(world) -> S3World:
    import boto3

    from tests.servers import AWS_TEST_ENV, moto_server

    with moto_server() as endpoint:
        aws = {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": endpoint}
        with _environment(aws):
            boto3.client("s3").create_bucket(Bucket="faults")
        uri = "s3://faults/warehouse"
        s3 = S3World({**world.env, **aws, "UMM_DATA_DIR": uri}, world.weeks[-S3_WEEKS:], world.zygote, uri, aws)
        made = world.zygote.run(s3.argv(), s3.env)
        assert made.exit == 0, made.output
        yield s3


S3_CASES = [  # (label, fault point, n, whether the run still succeeds)
    ("the PUT of the first table", "s3_table", 1, False),
    ("the PUT of the last table", "s3_table", S3_WEEKS, False),
    ("the PUT of a lineage.json", "s3_lineage", 2, False),
    ("the PUT of the first pointer", "s3_pointer", 1, False),
    ("the PUT of the second pointer (the first is committed)", "s3_pointer", 2, False),
    ("the PUT of the catalog (a warning; the data is committed)", "s3_catalog", 1, True),
]


BOUNDED_S3_SKIP = {("s3_table", S3_WEEKS), ("s3_pointer", 1)}  # the bounded form tries 3 of the 6


@pytest.mark.family("faults: S3 PUT fails")
@pytest.mark.parametrize("point,n,succeeds", [pytest.param(p, n, ok, id=label.split(" (")[0].replace(" ", "-"))
                                              for label, p, n, ok in S3_CASES
                                              # full form only: in a clean-clone `make test` the moto server
                                              # stopped answering mid-module (as it once did for tests/ops)
                                              if FULL])
def test_s3_put_fails(s3_world, point, n, succeeds):
    warehouse = s3_world.warehouse()
    with _environment(s3_world.aws):
        before = snapshot(warehouse)
        run = s3_world.zygote.run(s3_world.argv(), s3_world.env,
                                  hook={"point": point, "n": n, "when": "fail", "error": "connection"})
        if succeeds:
            assert run.exit == 0, run.output[-3000:]
            assert "catalog.duckdb was not rebuilt" in run.output and "Could not connect to the endpoint URL" in \
                run.output, run.output[-3000:]
        else:
            assert run.exit == 1, f"exit {run.exit}:\n{run.output[-3000:]}"
            assert "umm materialize: run" in run.output and "Could not connect to the endpoint URL" in run.output, \
                run.output[-3000:]
        after = snapshot(warehouse)
        assert_old_or_new(warehouse, before, after, s3_world.scope,
                          moved="all" if succeeds else "none" if point != "s3_pointer" else "may")
        again = s3_world.zygote.run(s3_world.argv(), s3_world.env)
        assert again.exit == 0, again.output[-3000:]
        assert_old_or_new(warehouse, after, snapshot(warehouse), s3_world.scope, moved="all")
