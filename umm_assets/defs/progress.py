"""The readers' "being materialized" lookup (``umm_assets.lib.serving.progress``) answered from the Dagster
instance of ``DAGSTER_HOME``: a queued or running run whose asset selection and partition tags cover the
asset week, else a backfill the daemon is still working through that targets it (its run for a later stage
starts when the upstream stages are done)."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from umm_assets.defs.runs import PARTITION, RANGE_END, RANGE_START, backfills_in_progress
from umm_assets.lib.serving.progress import CachedLookup, InProgress, Lookup, nothing_in_progress

ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def _covers(tags: dict[str, str], week: str | None) -> bool:
    if week is None:
        return True
    if PARTITION in tags:
        return tags[PARTITION] == week
    if RANGE_START in tags and RANGE_END in tags:
        return tags[RANGE_START] <= week <= tags[RANGE_END]
    return True  # an unpartitioned run of the asset


def _run(instance: dg.DagsterInstance, asset: str, week: str | None) -> InProgress | None:
    key = dg.AssetKey(asset)
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=ACTIVE)):
        run = record.dagster_run
        if key in (run.asset_selection or ()) and _covers(run.tags, week):
            running = run.status in (dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
            since = (record.start_time if running else None) or record.create_timestamp.timestamp()
            return InProgress(asset, week, "running" if running else "queued", since, run_id=run.run_id)
    return None


def _backfill(instance: dg.DagsterInstance, asset: str, week: str | None) -> InProgress | None:
    from dagster._core.definitions.events import AssetKeyPartitionKey

    key = dg.AssetKey(asset)
    for backfill in backfills_in_progress(instance):
        data = backfill.asset_backfill_data  # Dagster's own record of what the backfill still has to do
        if data is None or key not in data.target_subset.asset_keys:
            continue
        if week is not None and AssetKeyPartitionKey(key, week) not in data.target_subset:
            continue
        if week is not None and AssetKeyPartitionKey(key, week) in data.materialized_subset:
            continue
        return InProgress(asset, week, "waiting for its upstream assets", backfill.backfill_timestamp,
                          backfill_id=backfill.backfill_id)
    return None


def instance_lookup(instance: dg.DagsterInstance) -> Lookup:
    def lookup(asset: str, week: str | None) -> InProgress | None:
        return _run(instance, asset, week) or _backfill(instance, asset, week)

    return lookup


def dagster_progress() -> Lookup:
    """The lookup of a serving process: the instance of ``DAGSTER_HOME``, or nothing when there is none."""
    home = os.environ.get("DAGSTER_HOME")
    if not home or not (Path(home) / "dagster.yaml").exists():
        return nothing_in_progress
    return CachedLookup(instance_lookup(dg.DagsterInstance.get()))
