"""The warehouse: one folder of Parquet files per asset partition, read through DuckDB.

Layout under the warehouse root (a local folder or ``s3://bucket/prefix``)::

    <asset>/<partition>/<version>/<table>.parquet    tables ("data" for single-table assets)
    <asset>/<partition>/<version>/<file>             artifacts, e.g. the model's netCDF
    <asset>/<partition>/<version>/lineage.json       run id, time, code version, upstream partitions
    <asset>/<partition>/_COMMITTED.json              which version is current, with its lineage
    catalog.duckdb                                   one view per asset table, for analysts

A write puts a new version folder beside the old one and then replaces ``_COMMITTED.json`` in one
atomic step (rename locally, a single PUT on S3). Readers follow the pointer, so they see the old
partition or the new one, never half of one, and hold no lock that a writer needs. A failed run
never reaches the commit step, so it leaves the partition exactly as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import tempfile
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
LINEAGE_FILE = "lineage.json"
CATALOG_FILE = "catalog.duckdb"
QUALITY_DIR = "_quality"
DATA_TABLE = "data"
UNPARTITIONED = "all"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")

Connect = Callable[[], ContextManager[duckdb.DuckDBPyConnection]]


class NotMaterialized(LookupError):
    """The asked-for asset partition has never been materialized (or was never committed)."""


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
            fsspec.filesystem("s3", **s3_options(storage_options)) if self.remote
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
              code_version: str | None = None, keep_versions: int = 2) -> Commit:
        """Write one partition atomically and make it current; returns its commit."""
        base = self._partition_dir(asset, partition)
        version = _new_version()
        folder = f"{base}/{version}"
        self.fs.makedirs(folder, exist_ok=True)
        for name, frame in stored.tables.items():
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            self.fs.pipe_file(f"{folder}/{_check_name('table', name)}.parquet", buffer.getvalue())
        for name, source in stored.files.items():
            self.fs.put_file(str(source), f"{folder}/{_check_name('file', name)}")
        commit = Commit(
            asset=asset,
            partition=partition,
            version=version,
            run_id=run_id,
            materialized_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            code_version=code_version,
            upstream=stored.upstream,
            tables={name: len(frame) for name, frame in stored.tables.items()},
            files=sorted(stored.files),
        )
        body = json.dumps(asdict(commit), indent=2, default=str).encode()
        self.fs.pipe_file(f"{folder}/{LINEAGE_FILE}", body)
        self._replace(self.pointer_path(asset, partition), body)
        self._prune(base, keep=keep_versions)
        return commit

    def _replace(self, path: str, body: bytes) -> None:
        if self.remote:  # a single PUT replaces an object atomically
            self.fs.pipe_file(path, body)
            return
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)

    def _prune(self, base: str, keep: int) -> None:
        """Delete old versions, keeping the newest ``keep`` (a reader may still be on the previous one)."""
        versions = sorted(p for p in self._children(base) if not p.rsplit("/", 1)[-1].startswith("_"))
        for old in versions[:-keep]:
            self.fs.rm(old, recursive=True)

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

    def refresh_catalog(self) -> Path | str:
        """Rebuild ``catalog.duckdb``: one view per asset table over its current Parquet files.

        The new catalog is built in a temporary file and renamed over the old one, so an analyst
        who has the catalog open keeps a consistent (older) snapshot and never blocks a writer.
        """
        target = self._path(CATALOG_FILE)
        # Writers in other processes may refresh at the same time: serialize them, or a refresh that
        # listed partitions earlier could rename its catalog over a newer one.
        lock = FileLock(self._path(".catalog.lock")) if not self.remote else contextlib.nullcontext()
        with lock, tempfile.TemporaryDirectory(prefix=".catalog-", dir=None if self.remote else self.uri) as tmp:
            built = Path(tmp) / CATALOG_FILE
            with contextlib.closing(duckdb.connect(str(built))) as con:
                if self.remote:  # views bind on creation; analysts query them with httpfs and their S3 secret
                    con.register_filesystem(self.fs)
                for statement in self._catalog_views().values():
                    con.execute(statement)
            if self.remote:
                self.fs.put_file(str(built), target)
            else:
                os.replace(built, target)
        return target

    def _catalog_views(self) -> dict[str, str]:
        views = {}
        for asset in self.assets():
            commits = [c for p in self.partitions(asset) if (c := self.commit(asset, p))]
            names = sorted({t for c in commits for t in c.tables})
            for table in names:
                files = [(self._data_path(c, f"{table}.parquet"), c.partition) for c in commits if table in c.tables]
                view = asset if table == DATA_TABLE else f"{asset}__{table}"
                listing = ", ".join(f"'{_escape(f)}'" for f, _ in files)
                mapping = ", ".join(f"('{_escape(f)}', '{_escape(p)}')" for f, p in files)
                views[view] = (
                    f"create or replace view {_quote_ident(view)} as "
                    f"select m.partition, t.* exclude (filename) "
                    f"from read_parquet([{listing}], filename = true, union_by_name = true) t "
                    f"join (values {mapping}) m(file, partition) on t.filename = m.file"
                )
        return views


def _escape(text: str) -> str:
    return text.replace("'", "''")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def s3_options(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """s3fs options from the usual AWS settings (``AWS_ENDPOINT_URL`` for S3-compatible servers)."""
    options: dict[str, Any] = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    client_kwargs = {}
    if endpoint:
        client_kwargs["endpoint_url"] = endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        client_kwargs["region_name"] = region
    if client_kwargs:
        options["client_kwargs"] = client_kwargs
    options |= dict(extra or {})
    return options
