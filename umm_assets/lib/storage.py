"""The warehouse: one folder of Parquet files per asset partition, read through DuckDB.

Layout under the warehouse root (a local folder or ``s3://bucket/prefix``)::

    <asset>/<partition>/<version>/<table>.parquet    tables ("data" for single-table assets)
    <asset>/<partition>/<version>/<file>             artifacts, e.g. the model's netCDF
    <asset>/<partition>/<version>/lineage.json       run id, time, code version, upstream partitions
    <asset>/<partition>/_COMMITTED.json              which version is current, with its lineage
    <asset>/<partition>/_COMMITTED.lock              held by a writer while it commits (local only)
    catalog.duckdb                                   one view per asset table, for analysts

A write puts a new version folder beside the old one and then replaces ``_COMMITTED.json`` in one
atomic step (rename locally, a single PUT on S3). Readers follow the pointer, so they see the old
partition or the new one, never half of one, and hold no lock that a writer needs. A failed run
never reaches the commit step, so it leaves the partition exactly as it was.

Several partitions of one run are written all or nothing: every version folder first, then (under
each partition's commit lock) every pointer file, and only then the renames that make them current.
Each pointer carries a ``sequence`` (the replaced pointer's plus one) and the ``previous`` version, so
versions are ordered by the commits themselves, never by folder names or clocks. Pruning keeps the
current and the previous committed version, deletes the one those two replaced, and deletes folders
that were never committed only once they are an hour old (a crashed write's leftovers; a slower
writer's folder is younger, and a writer re-checks its folder under the lock before it commits).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ContextManager

import duckdb
import fsspec
import pandas as pd
from filelock import FileLock

COMMIT_FILE = "_COMMITTED.json"
COMMIT_LOCK = "_COMMITTED.lock"
# a version folder that no pointer names and nobody touched for this long is a crashed write's leftover
STALE_AFTER_SECONDS = 3600
LINEAGE_FILE = "lineage.json"
CATALOG_FILE = "catalog.duckdb"
QUALITY_DIR = "_quality"
DATA_TABLE = "data"
UNPARTITIONED = "all"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")

Connect = Callable[[], ContextManager[duckdb.DuckDBPyConnection]]


class NotMaterialized(LookupError):
    """The asked-for asset partition has never been materialized (or was never committed); ``asset`` and
    ``week`` (None: any week) say what was asked for, so a reader can tell whether a run is making it."""

    def __init__(self, message: str, asset: str | None = None, week: str | None = None):
        super().__init__(message)
        self.asset, self.week = asset, week


@dataclass
class Stored:
    """What an asset hands to the warehouse for one partition."""

    tables: dict[str, pd.DataFrame]
    files: dict[str, Path] = field(default_factory=dict)
    upstream: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def table(cls, frame: pd.DataFrame, upstream: dict[str, Any] | None = None) -> Stored:
        return cls({DATA_TABLE: frame}, upstream=upstream or {})


@dataclass(frozen=True)
class Commit:
    """The current version of one partition, and its lineage."""

    asset: str
    partition: str
    version: str
    run_id: str
    materialized_at: str
    code_version: str | None
    upstream: dict[str, Any]
    tables: dict[str, int]
    files: list[str]
    sequence: int = 0  # 1 for the partition's first commit, then +1 per commit (0: written before sequences)
    previous: str | None = None  # the version this commit replaced (kept for readers still on it)

    def lineage(self) -> dict[str, Any]:
        keys = ("asset", "partition", "run_id", "materialized_at", "code_version", "upstream")
        return {k: getattr(self, k) for k in keys}


def _check_name(kind: str, name: str) -> str:
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"unsafe {kind} name {name!r}")
    return name


def _new_version() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + uuid.uuid4().hex[:8]


def _default_connect() -> ContextManager[duckdb.DuckDBPyConnection]:
    return contextlib.closing(duckdb.connect())


class Warehouse:
    """Reads and writes asset partitions under ``uri``; see the module docstring for the layout."""

    def __init__(self, uri: str | Path, *, connect: Connect | None = None,
                 storage_options: Mapping[str, Any] | None = None):
        self.uri = str(uri).rstrip("/")
        self.remote = "://" in self.uri
        self.fs: fsspec.AbstractFileSystem = (
            s3_filesystem(**(storage_options or {})) if self.remote
            else fsspec.filesystem("file")
        )
        self._connect = connect or _default_connect

    # --- paths ---------------------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return "/".join([self.uri, *parts])

    def _partition_dir(self, asset: str, partition: str) -> str:
        return self._path(_check_name("asset", asset), _check_name("partition", partition))

    def pointer_path(self, asset: str, partition: str) -> str:
        """Where a partition's commit pointer lives (a reader may watch it for changes)."""
        return f"{self._partition_dir(asset, partition)}/{COMMIT_FILE}"

    # --- writing -------------------------------------------------------------------------

    def write(self, asset: str, partition: str, stored: Stored, *, run_id: str,
              code_version: str | None = None) -> Commit:
        """Write one partition atomically and make it current; returns its commit."""
        return self.write_many(asset, {partition: stored}, run_id=run_id, code_version=code_version)[0]

    def write_many(self, asset: str, values: Mapping[str, Stored], *, run_id: str,
                   code_version: str | None = None) -> list[Commit]:
        """Write several partitions of ``asset`` all or nothing (see the module docstring); returns their commits.

        If any folder or pointer file cannot be written (a full disk, a read-only file system), no partition
        changes and the folders written so far are removed.
        """
        staged: dict[str, str] = {}
        try:
            for partition, stored in values.items():
                staged[partition] = _new_version()  # named before it is written: a torn folder is removed too
                self._stage(asset, partition, staged[partition], stored)
            with self._commit_locks(asset, list(values)):
                return self._commit(asset, staged, values, run_id=run_id, code_version=code_version)
        except BaseException:
            self._discard(asset, staged)
            raise

    def _stage(self, asset: str, partition: str, version: str, stored: Stored) -> None:
        """Write a new version folder of one partition (not yet current)."""
        folder = f"{self._partition_dir(asset, partition)}/{version}"
        self.fs.makedirs(folder, exist_ok=True)
        for name, frame in stored.tables.items():
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            self.fs.pipe_file(f"{folder}/{_check_name('table', name)}.parquet", buffer.getvalue())
        for name, source in stored.files.items():
            self.fs.put_file(str(source), f"{folder}/{_check_name('file', name)}")

    def _commit_locks(self, asset: str, partitions: Sequence[str]) -> ContextManager:
        """Every partition's commit lock, taken in one order so that two writers never wait on each other."""
        stack = contextlib.ExitStack()
        if not self.remote:  # S3 has no lock files: the last PUT wins
            for partition in sorted(partitions):
                stack.enter_context(FileLock(f"{self._partition_dir(asset, partition)}/{COMMIT_LOCK}"))
        return stack

    def _commit(self, asset: str, staged: Mapping[str, str], values: Mapping[str, Stored], *, run_id: str,
                code_version: str | None) -> list[Commit]:
        """Under the commit locks: every pointer file first, then every rename; then prune."""
        materialized_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        replaced = {p: self._readable_commit(asset, p) for p in staged}
        commits, pending = [], []
        try:
            for partition, version in staged.items():
                folder = f"{self._partition_dir(asset, partition)}/{version}"
                if not self.remote and not os.path.isdir(folder):  # only local pruning removes unnamed folders
                    raise FileNotFoundError(f"{folder} was removed before it could be committed")
                old, stored = replaced[partition], values[partition]
                commit = Commit(asset=asset, partition=partition, version=version, run_id=run_id,
                                materialized_at=materialized_at, code_version=code_version, upstream=stored.upstream,
                                tables={name: len(frame) for name, frame in stored.tables.items()},
                                files=sorted(stored.files), sequence=(old.sequence if old else 0) + 1,
                                previous=old.version if old else None)
                body = json.dumps(asdict(commit), indent=2, default=str).encode()
                self.fs.pipe_file(f"{folder}/{LINEAGE_FILE}", body)
                pending.append(self._prepare(self.pointer_path(asset, partition), body))
                commits.append(commit)
        except BaseException:
            for tmp, _, _ in pending:
                if tmp is not None:
                    with contextlib.suppress(OSError):
                        os.remove(tmp)
            raise
        for prepared in pending:
            self._finish(prepared)
        for commit in commits:
            self._prune(commit, replaced[commit.partition])
        return commits

    def _readable_commit(self, asset: str, partition: str) -> Commit | None:
        """The current commit, or None if there is none or its pointer cannot be read (it is replaced then)."""
        try:
            return self.commit(asset, partition)
        except (ValueError, TypeError):
            return None

    def _discard(self, asset: str, staged: Mapping[str, str]) -> None:
        """Remove the folders of a failed write that no pointer names (best effort: the disk may be full)."""
        for partition, version in staged.items():
            current = self._readable_commit(asset, partition)
            if current is None or current.version != version:
                with contextlib.suppress(OSError):
                    self.fs.rm(f"{self._partition_dir(asset, partition)}/{version}", recursive=True)

    def _replace(self, path: str, body: bytes) -> None:
        self._finish(self._prepare(path, body))

    def _prepare(self, path: str, body: bytes) -> tuple[str | None, str, bytes]:
        """Write ``body`` beside ``path``, synced, ready to be renamed over it (on S3 the PUT itself is atomic)."""
        if self.remote:
            return None, path, body
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp, path, body

    def _finish(self, prepared: tuple[str | None, str, bytes]) -> None:
        tmp, path, body = prepared
        if tmp is None:
            self.fs.pipe_file(path, body)
        else:
            os.replace(tmp, path)

    def _prune(self, commit: Commit, replaced: Commit | None) -> None:
        """Delete the version two commits back and uncommitted leftovers (never the current or previous one).
        A folder that cannot be deleted now is deleted by a later write: pruning never fails a commit."""
        base = self._partition_dir(commit.asset, commit.partition)
        keep = {commit.version, commit.previous}
        superseded = replaced.previous if replaced else None
        for folder in self._children(base):
            name = folder.rsplit("/", 1)[-1]
            if name.startswith(COMMIT_FILE) and name.endswith(".tmp"):  # a writer killed before its rename
                doomed = True
            elif name.startswith(("_", ".")) or name in keep:
                continue
            else:
                doomed = name == superseded or self._stale(folder)
            if doomed:
                with contextlib.suppress(OSError):
                    self.fs.rm(folder, recursive=True)

    def _stale(self, folder: str) -> bool:
        if self.remote:  # S3 prefixes have no time; only versions known from the pointers are pruned there
            return False
        try:
            return time.time() - os.stat(folder).st_mtime > STALE_AFTER_SECONDS
        except FileNotFoundError:
            return False

    def _children(self, path: str) -> list[str]:
        try:
            return [p.rstrip("/") for p in self.fs.ls(path, detail=False)]
        except FileNotFoundError:
            return []

    # --- reading -------------------------------------------------------------------------

    def commit(self, asset: str, partition: str) -> Commit | None:
        """The current commit of a partition, or None if it was never materialized."""
        try:
            body = self.fs.cat_file(self.pointer_path(asset, partition))
        except FileNotFoundError:
            return None
        return Commit(**json.loads(body))

    def require(self, asset: str, partition: str) -> Commit:
        commit = self.commit(asset, partition)
        if commit is None:
            raise NotMaterialized(f"{asset} has no materialized partition {partition}")
        return commit

    def partitions(self, asset: str) -> list[str]:
        """Committed partitions of ``asset``, oldest first."""
        if self.remote:
            found = self.fs.glob(self._path(_check_name("asset", asset), "*", COMMIT_FILE))
        else:
            found = [str(p) for p in Path(self._path(asset)).glob(f"*/{COMMIT_FILE}")]
        return sorted(p.rstrip("/").split("/")[-2] for p in found)

    def newest(self, asset: str) -> str | None:
        found = self.partitions(asset)
        return found[-1] if found else None

    def assets(self) -> list[str]:
        return sorted(p.rsplit("/", 1)[-1] for p in self._children(self.uri)
                      if self.fs.isdir(p) and not p.rsplit("/", 1)[-1].startswith((".", "_")))

    def table_paths(self, asset: str, partitions: Sequence[str], table: str = DATA_TABLE,
                    *, missing: str = "error") -> dict[str, str]:
        """Current Parquet file of ``table`` for each partition (skipping absent ones if ``missing="skip"``)."""
        paths = {}
        for partition in partitions:
            commit = self.commit(asset, partition)
            if commit is None:
                if missing == "skip":
                    continue
                raise NotMaterialized(f"{asset} has no materialized partition {partition}")
            if table not in commit.tables:
                raise KeyError(f"{asset}[{partition}] has no table {table!r} (has {sorted(commit.tables)})")
            paths[partition] = self._data_path(commit, f"{table}.parquet")
        return paths

    def _data_path(self, commit: Commit, name: str) -> str:
        return f"{self._partition_dir(commit.asset, commit.partition)}/{commit.version}/{name}"

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection that can read this warehouse's files (S3 through fsspec)."""
        with self._connect() as con:
            if self.remote:
                con.register_filesystem(self.fs)
            yield con

    def read(self, asset: str, partitions: str | Sequence[str], table: str = DATA_TABLE,
             *, missing: str = "error", columns: Sequence[str] | None = None) -> pd.DataFrame:
        """One table of one or several partitions, concatenated, read through DuckDB."""
        wanted = [partitions] if isinstance(partitions, str) else list(partitions)
        paths = list(self.table_paths(asset, wanted, table, missing=missing).values())
        if not paths:
            return pd.DataFrame(columns=list(columns or []))
        select = ", ".join(_quote_ident(c) for c in columns) if columns else "*"
        with self.connection() as con:
            return con.execute(
                f"select {select} from read_parquet(?, union_by_name = true)", [paths]
            ).df()

    def read_commit(self, commit: Commit, table: str = DATA_TABLE) -> pd.DataFrame:
        """One table of exactly this version. Read several tables of one partition through the same
        commit: resolving the pointer per table could mix two versions written in between."""
        if table not in commit.tables:
            raise KeyError(f"{commit.asset}[{commit.partition}] has no table {table!r} (has {sorted(commit.tables)})")
        with self.connection() as con:
            return con.execute("select * from read_parquet(?)", [self._data_path(commit, f"{table}.parquet")]).df()

    def file(self, asset: str, partition: str, name: str, *, cache_dir: Path | None = None,
             commit: Commit | None = None) -> Path:
        """A local path to an artifact of the current (or the given) version, downloaded first when remote."""
        commit = commit or self.require(asset, partition)
        if name not in commit.files:
            raise KeyError(f"{asset}[{partition}] has no file {name!r} (has {commit.files})")
        path = self._data_path(commit, _check_name("file", name))
        if not self.remote:
            return Path(path)
        target = Path(cache_dir or tempfile.gettempdir()) / "umm-cache" / asset / partition / commit.version / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(path, str(target))
        return target

    # --- data-quality ledger ---------------------------------------------------------------
    # Check outcomes per input partition, failures included. It lives apart from the partitions
    # themselves: a rejected input writes its verdict here and nothing to the partition.

    def record_quality(self, asset: str, partition: str, record: Mapping[str, Any]) -> None:
        path = self._path(QUALITY_DIR, _check_name("asset", asset), f"{_check_name('partition', partition)}.json")
        self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        self._replace(path, json.dumps(record, indent=2, default=str).encode())

    def quality(self, asset: str | None = None) -> list[dict[str, Any]]:
        """Every recorded check outcome (of one asset, or of all), ordered by asset and partition."""
        pattern = self._path(QUALITY_DIR, _check_name("asset", asset) if asset else "*", "*.json")
        return [json.loads(self.fs.cat_file(p)) for p in sorted(self.fs.glob(pattern))]

    # --- catalog -------------------------------------------------------------------------

    def refresh_catalog(self) -> list[str]:
        """Rebuild ``catalog.duckdb``: one view per asset table over its current Parquet files.

        The new catalog is built in a temporary file and renamed over the old one, so an analyst
        who has the catalog open keeps a consistent (older) snapshot and never blocks a writer.
        A partition that cannot be read (a pointer that does not parse, a missing or broken file) is
        left out of its view, so one bad partition never stops every later write; returns what was
        left out and why.
        """
        target = self._path(CATALOG_FILE)
        skipped: list[str] = []
        # Writers in other processes may refresh at the same time: serialize them, or a refresh that
        # listed partitions earlier could rename its catalog over a newer one.
        lock = FileLock(self._path(".catalog.lock")) if not self.remote else contextlib.nullcontext()
        with lock:
            if not self.remote:  # a refresh killed before its rename left its folder; under the lock none is live
                for leftover in Path(self.uri).glob(".catalog-*"):
                    shutil.rmtree(leftover, ignore_errors=True)
            return self._rebuild_catalog(target, skipped)

    def _rebuild_catalog(self, target: str, skipped: list[str]) -> list[str]:
        with tempfile.TemporaryDirectory(prefix=".catalog-", dir=None if self.remote else self.uri) as tmp:
            built = Path(tmp) / CATALOG_FILE
            with contextlib.closing(duckdb.connect(str(built))) as con:
                if self.remote:  # views bind on creation; analysts query them with httpfs and their S3 secret
                    con.register_filesystem(self.fs)
                for view, files in self._catalog_files(skipped).items():
                    self._create_view(con, view, files, skipped)
            if self.remote:
                self.fs.put_file(str(built), target)
            else:
                os.replace(built, target)
        return skipped

    def _catalog_files(self, skipped: list[str]) -> dict[str, list[tuple[str, str]]]:
        """(Parquet file, partition) per view, over every partition whose pointer reads."""
        views: dict[str, list[tuple[str, str]]] = {}
        for asset in self.assets():
            commits = []
            for partition in self.partitions(asset):
                try:
                    commits.append(self.require(asset, partition))
                except (ValueError, TypeError, NotMaterialized) as err:
                    skipped.append(f"{asset}[{partition}]: unreadable {COMMIT_FILE} ({err})")
            for table in sorted({t for c in commits for t in c.tables}):
                view = asset if table == DATA_TABLE else f"{asset}__{table}"
                views[view] = [(self._data_path(c, f"{table}.parquet"), c.partition) for c in commits
                               if table in c.tables]
        return views

    def _create_view(self, con: duckdb.DuckDBPyConnection, view: str, files: list[tuple[str, str]],
                     skipped: list[str]) -> None:
        try:
            con.execute(_view_statement(view, files))
            return
        except duckdb.Error:
            pass
        readable = []
        for file, partition in files:  # find the broken ones (only when the view did not build)
            try:
                con.execute("select * from read_parquet(?) limit 0", [file])
                readable.append((file, partition))
            except duckdb.Error as err:
                skipped.append(f"{view}[{partition}]: {str(err).splitlines()[0]}")
        if readable:
            con.execute(_view_statement(view, readable))


def _view_statement(view: str, files: list[tuple[str, str]]) -> str:
    listing = ", ".join(f"'{_escape(f)}'" for f, _ in files)
    mapping = ", ".join(f"('{_escape(f)}', '{_escape(p)}')" for f, p in files)
    return (f"create or replace view {_quote_ident(view)} as "
            f"select m.partition, t.* exclude (filename) "
            f"from read_parquet([{listing}], filename = true, union_by_name = true) t "
            f"join (values {mapping}) m(file, partition) on t.filename = m.file")


def _escape(text: str) -> str:
    return text.replace("'", "''")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def s3_filesystem(**options: Any) -> fsspec.AbstractFileSystem:
    """The platform's one S3 client, for the landing zone and the warehouse alike: s3fs (fsspec).

    s3fs, not boto3, because DuckDB (2.0, no httpfs build offline) reads S3 only through a registered
    fsspec file system, and pandas/pyarrow read through fsspec too: one client means one configuration.
    That configuration is AWS's own chain, resolved by botocore: ``AWS_ENDPOINT_URL`` (or
    ``AWS_ENDPOINT_URL_S3``) for an S3-compatible server, ``AWS_REGION``, credentials from the
    environment, a profile or an instance role; the platform parses none of it. Listings are never
    cached: the landing-zone sensor and the API are long-lived and must see new objects.
    """
    return fsspec.filesystem("s3", use_listings_cache=False, **options)
