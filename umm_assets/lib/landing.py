"""The landing zone: where users drop raw files (a local folder or an S3 prefix).

Files are listed recursively under one folder per kind of input. Names starting with ``.`` or ``_``
and common in-progress suffixes (``.tmp``, ``.part`` …) are skipped: that is how uploaders and
Spark/Hadoop mark files that are still being written.

Symbolic links are followed only when they resolve inside the landing zone. A link that leads outside
it (to another folder, or to a system file) is listed but never read: reading it is a contract
violation naming the link, so the user learns why its rows are missing and nothing outside the zone
is ever opened.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from umm_assets.lib.storage import s3_filesystem
from umm_assets.lib.violations import ContractError, Violation

IN_PROGRESS_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".inprogress", ".filepart")
WEEKLY_BESIDE_DAILY = "UMM_WEEKLY_BESIDE_DAILY"


class WeeklyBesideDaily(StrEnum):
    """What a weekly row beside daily rows of the same series and week means (``UMM_WEEKLY_BESIDE_DAILY``)."""

    error = "error"  # a likely double count: rejected (the default)
    sum = "sum"  # the user says they do not overlap: both are added


OUTSIDE_RULE = ("symbolic link that leads outside the landing zone: not read (copy the file into the landing "
                "zone instead)")
CHANGED_RULE = ("file changed while being read ({listed:,} bytes when listed, {read:,} read): it is still being "
                "written; write it under a temporary name (.tmp, .part ...) and rename it when complete")
VANISHED_RULE = "file disappeared while being read (it was listed, then removed or renamed)"


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
            outside = self._outside(path)
            if (path.is_file() or outside) and all(is_visible(part) for part in rel.parts[1:]):
                stat = path.lstat() if outside else path.stat()  # never look at what lies outside
                files.append(
                    RawFile(rel.as_posix(), stat.st_size, _modified(stat))
                )
        return files

    def _outside(self, path: Path) -> bool:
        """Whether ``path`` resolves outside the landing zone (through a link to it or to a folder above it)."""
        try:
            return not path.resolve().is_relative_to(self.root.resolve())
        except (OSError, RuntimeError):  # a link loop leads nowhere readable
            return True

    def read_bytes(self, file: RawFile) -> bytes:
        path = self.root / file.path
        if self._outside(path):
            raise ContractError([Violation(file.path, OUTSIDE_RULE)])
        try:
            data = path.read_bytes()
            after = path.stat()
        except FileNotFoundError:
            raise ContractError([Violation(file.path, VANISHED_RULE)]) from None
        # a file written while it is read would lose rows or cut a number short (12.5 read as 1) without a word
        if len(data) != file.size or after.st_size != file.size or _modified(after) != file.modified:
            raise ContractError([Violation(file.path, CHANGED_RULE.format(listed=file.size, read=len(data)))])
        return data


def _modified(stat) -> dt.datetime:
    return dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC)


class S3LandingZone:
    """An S3 prefix, read through the platform's one S3 client (:func:`umm_assets.lib.storage.s3_filesystem`)."""

    def __init__(self, uri: str, fs: Any | None = None):
        self.fs = fs or s3_filesystem()
        self.uri = uri.rstrip("/")
        self.bucket, self.prefix = split_s3_uri(uri)
        self.root = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def list_files(self, folder: str) -> list[RawFile]:
        files = []
        for key, info in self.fs.find(f"{self.root}/{folder}/", detail=True).items():
            rel = key[len(self.root) + 1:]
            if info["type"] != "file" or not all(is_visible(p) for p in PurePosixPath(rel).parts[1:]):
                continue
            files.append(RawFile(rel, int(info["size"]), info["LastModified"]))
        return sorted(files, key=lambda f: f.path)

    def read_bytes(self, file: RawFile) -> bytes:
        return self.fs.cat_file(f"{self.root}/{file.path}")


def open_landing_zone(uri: str) -> LandingZone:
    """The landing zone at ``uri``: a local folder or ``s3://bucket/prefix``."""
    return S3LandingZone(uri) if uri.startswith("s3://") else LocalLandingZone(uri)


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError(f"no bucket in {uri!r}")
    return bucket, prefix.strip("/")
