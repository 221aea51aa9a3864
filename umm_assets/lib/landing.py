"""The landing zone: where users drop raw files (a local folder or an S3 prefix).

Files are listed recursively under one folder per kind of input. Names starting with ``.`` or ``_``
and common in-progress suffixes (``.tmp``, ``.part`` …) are skipped: that is how uploaders and
Spark/Hadoop mark files that are still being written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".inprogress", ".filepart")


@dataclass(frozen=True)
class RawFile:
    """One file in the landing zone; ``path`` is relative to the landing-zone root (``media_spend/x.csv``)."""

    path: str
    size: int
    modified: dt.datetime

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    def lineage(self) -> dict[str, Any]:
        return {"file": self.path, "size": self.size, "modified": self.modified.isoformat()}


class LandingZone(Protocol):
    uri: str

    def list_files(self, folder: str) -> list[RawFile]: ...

    def read_bytes(self, file: RawFile) -> bytes: ...


def is_visible(name: str) -> bool:
    return not name.startswith((".", "_")) and not name.lower().endswith(IN_PROGRESS_SUFFIXES)


class LocalLandingZone:
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.uri = str(self.root)

    def list_files(self, folder: str) -> list[RawFile]:
        base = self.root / folder
        if not base.is_dir():
            return []
        files = []
        for path in sorted(base.rglob("*")):
            rel = path.relative_to(self.root)
            if path.is_file() and all(is_visible(part) for part in rel.parts[1:]):
                stat = path.stat()
                files.append(
                    RawFile(rel.as_posix(), stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC))
                )
        return files

    def read_bytes(self, file: RawFile) -> bytes:
        return (self.root / file.path).read_bytes()


class S3LandingZone:
    """An S3 prefix read through a boto3 client (dagster-aws's ``S3Resource.get_client()`` in Dagster)."""

    def __init__(self, client: Any, uri: str):
        self.client = client
        self.uri = uri.rstrip("/")
        self.bucket, self.prefix = split_s3_uri(uri)

    def _key(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def list_files(self, folder: str) -> list[RawFile]:
        files = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(folder) + "/"):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(self.prefix) + 1 :] if self.prefix else obj["Key"]
                parts = PurePosixPath(rel).parts
                if obj["Key"].endswith("/") or not all(is_visible(p) for p in parts[1:]):
                    continue
                files.append(RawFile(rel, int(obj["Size"]), obj["LastModified"]))
        return sorted(files, key=lambda f: f.path)

    def read_bytes(self, file: RawFile) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(file.path))["Body"].read()


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, prefix.strip("/")
