"""A cached, read-only view of the warehouse, shared by the REST API and the dashboard.

Everything goes through :class:`umm_assets.lib.storage.Warehouse`'s layout and commit pointers:

- **Which version is current** is answered per request from the partition's ``_COMMITTED.json``,
  but the pointer is only re-read when its ``stat`` signature (inode, size, mtime) changed: a
  write replaces the pointer by a rename, i.e. a new file. Because inode numbers are reused and
  mtimes are coarse, a pointer changed in the last two seconds is re-read anyway (git's "racy
  clean" rule). On S3 there is no cheap ``stat``: pointers and listings are trusted for
  ``remote_ttl_seconds``.
- **Which partitions exist** (for the default ``as_of``: the newest one) comes from a listing of
  the asset's folder, re-listed when the folder's own signature changes (a new partition folder
  changes its mtime and link count).
- **Tables** are read through the warehouse's in-memory DuckDB (never ``catalog.duckdb``; one
  reused connection per thread) and cached per (asset, partition, version, table); several tables
  of a response come from one commit. If a version is pruned under a slow reader (writers keep
  two), the request re-resolves the pointer and rebuilds from the newer version (up to
  ``ATTEMPTS`` times: rewrites are minutes apart, but a test rewrites many times a second).
- **Responses** are cached as serialized JSON bytes per (view, asset, partition, version,
  parameters): a repeated GET costs two ``stat`` calls and a dict lookup. A new materialization
  has a new version, so its first request misses the cache and old entries age out of the LRU.
  Built objects (the dashboard's frames, a week's scenario solver) are cached the same way by
  :meth:`CachedReader.view`.

Nothing here writes to the warehouse or opens a database file a writer uses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import cachetools
import duckdb
import pandas as pd

from umm_assets.lib.storage import QUALITY_DIR, Commit, NotMaterialized, Warehouse

RACY_NS = 2_000_000_000
# a retry costs only a re-read of the pointer; with 3, one request in thousands still lost the race to a
# test rewriting the partition ~50 times a second on a loaded 2-core machine (a 503 in clean-clone CI)
ATTEMPTS = 6
PARTITION_NAME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|all")  # with fullmatch
ASSET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]*")


class LRU:
    """A thread-safe least-recently-used map (cachetools' ``LRUCache`` behind a lock; ``maxsize`` 0 disables it)."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize
        self._data = cachetools.LRUCache(maxsize=max(maxsize, 1))
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any | None:
        with self._lock:
            return self._data.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        if self.maxsize <= 0:
            return
        with self._lock:
            self._data[key] = value

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True)
class Cached:
    """A serialized response: JSON bytes and their entity tag."""

    body: bytes
    etag: str
    partition: str | None = None
    version: str | None = None


class Snapshot(Mapping[str, pd.DataFrame]):
    """The tables of exactly one committed version of a partition, read by name when asked.

    ``read(commit, name)`` reads one table (the reader's cache, or the warehouse directly). As a mapping
    of table names it is what :class:`~umm_assets.lib.allocate.ScenarioSolver` takes.
    """

    def __init__(self, commit: Commit, read: Callable[[Commit, str], pd.DataFrame]):
        self.commit = commit
        self._read = read

    @property
    def partition(self) -> str:
        return self.commit.partition

    def has(self, table: str) -> bool:
        return table in self.commit.tables

    def table(self, name: str) -> pd.DataFrame:
        return self._read(self.commit, name)

    def lineage(self) -> dict[str, Any]:
        return {**self.commit.lineage(), "version": self.commit.version}

    def __getitem__(self, name: str) -> pd.DataFrame:
        if not self.has(name):
            raise KeyError(name)
        return self.table(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.commit.tables)

    def __len__(self) -> int:
        return len(self.commit.tables)


class VersionGone(Exception):
    """A resolved version's files were pruned while we read them (every retry included)."""


def _gone(err: BaseException) -> bool:
    return isinstance(err, FileNotFoundError) or (
        isinstance(err, duckdb.IOException) and ("No files found" in str(err) or "No such file" in str(err))) or (
        # on S3 DuckDB reads through s3fs, and wraps its FileNotFoundError in a plain duckdb.Error
        isinstance(err, duckdb.Error) and "FileNotFoundError" in str(err))


_local = threading.local()


def thread_connection() -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection per thread, reused across reads (connecting costs ~15 ms a time;
    a reused connection reads a small table in ~1 ms). It opens no database file, so it holds no lock."""
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = duckdb.connect()
    return contextlib.nullcontext(con)


def encode(payload: Any) -> Cached:
    """Serialize a response (a pydantic model or plain JSON-able data) once, with its ETag."""
    if hasattr(payload, "model_dump_json"):
        body = payload.model_dump_json().encode()
    else:
        body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    return Cached(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')


class CachedReader:
    """The only door to the data of the API and the dashboard (see the module docstring for the caching rules)."""

    def __init__(self, warehouse: Warehouse, *, cache_entries: int = 256, table_cache_entries: int = 64,
                 remote_ttl_seconds: float = 2.0):
        self.warehouse = warehouse
        self.remote = warehouse.remote
        self.ttl_ns = int(remote_ttl_seconds * 1e9)
        self.responses = LRU(cache_entries)
        self.tables = LRU(table_cache_entries)
        self.views = LRU(table_cache_entries)  # objects built from tables (see view())
        self._pointers: dict[tuple[str, str], tuple[Hashable, Commit | None, bool]] = {}
        self._listings: dict[str, tuple[Hashable, list[str], bool]] = {}  # by folder path
        self._quality: tuple[Hashable, list[dict[str, Any]], bool] | None = None
        self._flights = [threading.Lock() for _ in range(32)]
        self.table_reads = 0  # counts DuckDB reads (tests check that cached GETs do none)

    # --- signatures -------------------------------------------------------------------------

    def _signature(self, path: str) -> tuple[Hashable, bool]:
        """(what identifies the file's current state, whether that is trustworthy for caching)."""
        if self.remote:
            return time.monotonic_ns() // max(self.ttl_ns, 1), True
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None, True
        return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_nlink), time.time_ns() - st.st_mtime_ns > RACY_NS

    # --- partitions and commits -------------------------------------------------------------

    def _dirs(self, path: str, pattern: re.Pattern) -> list[str]:
        """Names of the sub-folders of ``path`` matching ``pattern``, sorted; cached by the folder's signature."""
        signature, stable = self._signature(path)
        cached = self._listings.get(path)
        if cached is not None and cached[0] == signature and cached[2]:
            return cached[1]
        if self.remote:
            try:
                names = [p.rstrip("/").rsplit("/", 1)[-1] for p in self.warehouse.fs.ls(path, detail=False)]
            except FileNotFoundError:
                names = []
        else:
            try:
                names = [e.name for e in os.scandir(path) if e.is_dir()]
            except FileNotFoundError:
                names = []
        found = sorted(n for n in names if pattern.fullmatch(n))
        self._listings[path] = (signature, found, stable)
        return found

    def _folders(self, asset: str) -> list[str]:
        """Partition folder names of an asset (committed or not), oldest first."""
        return self._dirs(f"{self.warehouse.uri}/{asset}", PARTITION_NAME)

    def assets(self, known: Iterable[str] = ()) -> list[str]:
        """``known`` assets plus any other asset folder in the warehouse."""
        found = self._dirs(self.warehouse.uri, ASSET_NAME)
        return list(dict.fromkeys([*known, *found]))

    def commit(self, asset: str, partition: str) -> Commit | None:
        """The current commit of a partition (None if never committed)."""
        if not PARTITION_NAME.fullmatch(partition):
            return None
        path = self.warehouse.pointer_path(asset, partition)
        signature, stable = self._signature(path)
        cached = self._pointers.get((asset, partition))
        if cached is not None and cached[0] == signature and cached[2]:
            return cached[1]
        if signature is None and not self.remote:
            commit = None
        else:
            commit = self.warehouse.commit(asset, partition)
        self._pointers[(asset, partition)] = (signature, commit, stable)
        return commit

    def partitions(self, asset: str) -> list[Commit]:
        """Commits of every materialized partition of an asset, oldest first."""
        return [c for p in self._folders(asset) if (c := self.commit(asset, p)) is not None]

    def newest(self, asset: str) -> Commit | None:
        for partition in reversed(self._folders(asset)):
            commit = self.commit(asset, partition)
            if commit is not None:
                return commit
        return None

    def resolve(self, asset: str, as_of: str | None) -> Commit:
        """The commit to serve: ``as_of``'s partition, or the newest; NotMaterialized names what is missing."""
        if as_of is None:
            commit = self.newest(asset)
            if commit is None:
                raise NotMaterialized(f"{asset} has no materialized partition yet", asset)
            return commit
        commit = self.commit(asset, as_of)
        if commit is None:
            newest = self.newest(asset)
            hint = f" (newest: {newest.partition})" if newest else " (none is materialized yet)"
            raise NotMaterialized(f"{asset} is not materialized for week {as_of}{hint}", asset, as_of)
        return commit

    def forget(self, asset: str, partition: str) -> None:
        self._pointers.pop((asset, partition), None)
        self._listings.pop(f"{self.warehouse.uri}/{asset}", None)

    # --- tables ------------------------------------------------------------------------------

    def table(self, commit: Commit, name: str) -> pd.DataFrame:
        key = (commit.asset, commit.partition, commit.version, name)
        frame = self.tables.get(key)
        if frame is None:
            try:
                frame = self.warehouse.read_commit(commit, name)
            except Exception as err:
                if _gone(err):
                    raise VersionGone(str(err)) from err
                raise
            self.table_reads += 1
            self.tables.put(key, frame)
        return frame

    # --- responses ---------------------------------------------------------------------------

    def lookup(self, view: str, asset: str, as_of: str | None, params: Hashable) -> Cached | None:
        """The cached response if there is one for the current version (no table read; raises NotMaterialized)."""
        commit = self.resolve(asset, as_of)
        return self.responses.get((view, asset, commit.partition, commit.version, params))

    def serve(self, view: str, asset: str, as_of: str | None, params: Hashable,
              build: Callable[[Snapshot], Any]) -> Cached:
        """The cached response of ``view`` for one partition, built by ``build(snapshot)`` on a miss.

        ``build`` raises domain errors (unknown channel, ...) for bad parameters; it is only called
        with one commit, and rebuilt once from the newer commit if the old one's files vanished.
        """

        def encoded(snapshot: Snapshot) -> Cached:
            cached = encode(build(snapshot))
            return Cached(cached.body, cached.etag, snapshot.commit.partition, snapshot.commit.version)

        return self._cached(self.responses, view, asset, as_of, params, encoded)

    def view(self, view: str, asset: str, as_of: str | None, params: Hashable,
             build: Callable[[Snapshot], Any]) -> Any:
        """Like :meth:`serve`, but keeps what ``build`` returned (frames, a scenario solver) rather than bytes."""
        return self._cached(self.views, view, asset, as_of, params, build)

    def _cached(self, cache: LRU, view: str, asset: str, as_of: str | None, params: Hashable,
                build: Callable[[Snapshot], Any]) -> Any:
        for attempt in range(ATTEMPTS):
            commit = self.resolve(asset, as_of)
            key = (view, asset, commit.partition, commit.version, params)
            hit = cache.get(key)
            if hit is not None:
                return hit
            # one build per key at a time: a burst of identical first requests reads the tables once
            with self._flights[hash(key) % len(self._flights)]:
                hit = cache.get(key)
                if hit is not None:
                    return hit
                try:
                    value = build(Snapshot(commit, self.table))
                except VersionGone:
                    if attempt == ATTEMPTS - 1:
                        raise
                    self.forget(asset, commit.partition)
                    continue
                cache.put(key, value)
                return value
        raise AssertionError("unreachable")

    def serve_many(self, view: str, signature: Hashable, build: Callable[[], Any]) -> Cached:
        """A cached response over many partitions, keyed by a signature the caller computed."""
        return self.view_many(view, signature, lambda: encode(build()), cache=self.responses)

    def view_many(self, view: str, signature: Hashable, build: Callable[[], Any], *, cache: LRU | None = None) -> Any:
        """What ``build()`` returns over many partitions, cached under a signature the caller computed."""
        cache = self.views if cache is None else cache
        key = (view, signature)
        hit = cache.get(key)
        if hit is None:
            with self._flights[hash(key) % len(self._flights)]:
                hit = cache.get(key)
                if hit is None:
                    hit = build()
                    cache.put(key, hit)
        return hit

    # --- data-quality ledger ----------------------------------------------------------------

    def quality(self) -> tuple[Hashable, list[dict[str, Any]]]:
        """Every ledger record and a signature that changes when the ledger does."""
        root = f"{self.warehouse.uri}/{QUALITY_DIR}"
        if self.remote:
            signature, stable = self._signature(root)
        else:
            parts, stable = [self._signature(root)], True
            for asset in self._quality_assets(root):
                parts.append(self._signature(f"{root}/{asset}"))
            signature = tuple(p[0] for p in parts)
            stable = all(p[1] for p in parts)
        cached = self._quality
        if cached is not None and cached[0] == signature and cached[2]:
            return signature, cached[1]
        records = self.warehouse.quality()
        self._quality = (signature, records, stable)
        return signature, records

    @staticmethod
    def _quality_assets(root: str) -> Iterable[str]:
        try:
            return sorted(e.name for e in os.scandir(root) if e.is_dir())
        except FileNotFoundError:
            return []

    def commits_signature(self, assets: Iterable[str]) -> tuple:
        """Identifies the committed versions of every partition of ``assets`` (for aggregate views)."""
        return tuple((a, tuple((c.partition, c.version) for c in self.partitions(a))) for a in assets)



def open_reader(data_dir: str, **options: Any) -> CachedReader:
    """A reader over the warehouse at ``data_dir``; ``options`` are :class:`CachedReader`'s cache sizes."""
    remote = "://" in data_dir  # (a reused connection would re-register the S3 filesystem per read)
    return CachedReader(Warehouse(data_dir, connect=None if remote else thread_connection), **options)
