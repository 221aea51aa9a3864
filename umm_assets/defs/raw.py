"""The landing zone as Dagster sees it: one external asset per folder (``raw/media_spend`` ...), so lineage
in the UI starts at the files, observed by the landing-zone sensor.

The sensor keeps each file's signature (size, modification time) with its row count and week span in its
cursor. A tick lists the folders (cheap), reads only the files that are new or changed, records an
observation of every folder that changed (file count, newest file, rows) and asks to re-validate the
weeks those files touch (and the weeks a changed or removed file used to touch).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import dagster as dg

from umm_assets.lib import ingest
from umm_assets.lib.contracts import INPUTS, SPEND, InputSpec
from umm_assets.lib.landing import LandingZone, RawFile

GROUP = "raw"


def raw_key(folder: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", folder])


def raw_deps(spec: InputSpec) -> list[dg.AssetKey]:
    """The folders a validated input reads: its own, and the spend folder when its channels must have spend."""
    return [raw_key(spec.folder), *([raw_key(SPEND.folder)] if spec.channel_must_have_spend else [])]


def raw_specs() -> list[dg.AssetSpec]:
    return [dg.AssetSpec(raw_key(spec.folder), group_name=GROUP, kinds={"csv", "parquet"},
                         description=f"Raw {spec.kind} files in the landing zone's {spec.folder}/ folder "
                                     "(CSV, gzipped CSV or Parquet; see docs/data-contract.md).",
                         metadata={"landing_folder": f"{spec.folder}/"})
            for spec in INPUTS.values()]


@dataclass
class Known:
    """One file as the cursor remembers it."""

    signature: str
    rows: int
    first_week: str | None
    last_week: str | None

    def weeks(self) -> list[str]:
        return [w for w in (self.first_week, self.last_week) if w]


def _signature(file: RawFile) -> str:
    return f"{file.size}:{file.modified.isoformat()}"


@dataclass
class Scan:
    """The landing zone now, against the cursor: every file known, what changed, and the weeks involved."""

    files: dict[str, Known] = field(default_factory=dict)
    listings: dict[str, list[RawFile]] = field(default_factory=dict)
    changed_folders: set[str] = field(default_factory=set)
    weeks: set[str] = field(default_factory=set)
    read: int = 0  # files read this tick

    def cursor(self) -> str:
        return json.dumps({path: [k.signature, k.rows, k.first_week, k.last_week]
                           for path, k in sorted(self.files.items())})

    def cursor_digest(self) -> str:
        """Names this state of the landing zone (the run key: one run per state)."""
        return hashlib.sha256(self.cursor().encode()).hexdigest()[:16]


def load_cursor(cursor: str | None) -> dict[str, Known]:
    try:
        return {path: Known(*entry) for path, entry in json.loads(cursor or "{}").items()}
    except (ValueError, TypeError):  # a cursor of an older sensor: read everything once
        return {}


def scan(zone: LandingZone, known: dict[str, Known]) -> Scan:
    """Compare the listing with ``known`` and read only what is new or changed."""
    result = Scan()
    for spec in INPUTS.values():
        listing = result.listings[spec.folder] = zone.list_files(spec.folder)
        present = {f.path for f in listing}
        for file in listing:
            before = known.get(file.path)
            if before is not None and before.signature == _signature(file):
                result.files[file.path] = before
                continue
            summary = ingest.summarize_file(zone, spec, file)
            now = Known(_signature(file), summary.rows, summary.first_week, summary.last_week)
            result.files[file.path] = now
            result.read += 1
            result.changed_folders.add(spec.folder)
            result.weeks |= {*now.weeks(), *(before.weeks() if before else [])}
        for path in [p for p in known if p.startswith(f"{spec.folder}/") and p not in present]:
            result.changed_folders.add(spec.folder)
            result.weeks |= set(known[path].weeks())
    return result


def observation(found: Scan, folder: str) -> dg.AssetObservation:
    """What a folder holds now, for the UI: file count, newest file, rows."""
    mine = {p: k for p, k in found.files.items() if p.startswith(f"{folder}/")}
    newest = max(found.listings[folder], key=lambda f: f.modified, default=None)
    metadata = {"file_count": len(mine), "rows": sum(k.rows for k in mine.values())}
    if newest is not None:
        metadata |= {"newest_file": newest.path,
                     "newest_modified": dg.MetadataValue.timestamp(newest.modified.timestamp())}
    return dg.AssetObservation(asset_key=raw_key(folder), metadata=metadata)
