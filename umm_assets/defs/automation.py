"""Schedules and sensors: a weekly refresh of the whole chain after each week closes, and a
landing-zone sensor that re-validates when raw files change. Both run only under the Dagster daemon
(``dagster dev``). The sensor validates only: a late file should not start a 2-core model fit per
changed week; the next weekly refresh (or a backfill from the UI) refits on the corrected data."""


import hashlib
import json

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from umm_assets.defs.resources import LandingZoneResource
from umm_assets.lib import ingest
from umm_assets.lib.contracts import INPUTS, OUTCOMES, SPEND
from umm_assets.lib.weeks import last_complete_week

from umm_assets.defs.runs import RANGE_END, RANGE_START


def validated_job(partitions: dg.PartitionsDefinition) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "validated_job",
        selection=dg.AssetSelection.groups("validated"),
        partitions_def=partitions,
        description="Validate the landing zone into weekly tables (all validated_* assets).",
    )


def weekly_refresh_job(partitions: dg.PartitionsDefinition) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        "weekly_refresh_job",
        selection=dg.AssetSelection.all(),
        partitions_def=partitions,
        description="The week that just closed, end to end: validate it, fit the MMM on the window ending "
                    "there, reconcile with the tests and attribution, and recommend next week's budget.",
    )


def weekly_refresh_schedule(job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    """Every Monday morning (UTC), materialize the week that just closed through ``job``."""
    return dg.build_schedule_from_partitioned_job(
        job, name="weekly_refresh", hour_of_day=6, minute_of_hour=0, default_status=dg.DefaultScheduleStatus.RUNNING
    )


def raw_weeks(landing: LandingZoneResource) -> list[str]:
    """Weeks with spend or outcome rows in the landing zone, up to the last complete week."""
    zone = landing.zone()
    weeks = set(ingest.read_input(zone, SPEND).weeks()) | set(ingest.read_input(zone, OUTCOMES).weeks())
    newest = last_complete_week()
    return sorted(w.isoformat() for w in weeks if w <= newest)


def landing_zone_sensor(job: UnresolvedAssetJobDefinition, partitions: dg.PartitionsDefinition
                        ) -> dg.SensorDefinition:
    @dg.sensor(name="landing_zone_sensor", job=job, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Re-validates every week with raw rows when files in the landing zone change.")
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource):
        zone = landing.zone()
        listing = [f.lineage() for spec in INPUTS.values() for f in zone.list_files(spec.folder)]
        digest = hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()[:16]
        if digest == context.cursor:
            return dg.SkipReason("no new or changed files in the landing zone")
        first_tick = context.cursor is None
        context.update_cursor(digest)
        if first_tick and context.instance.get_latest_materialization_event(dg.AssetKey("validated_spend")):
            # e.g. right after `umm materialize --latest`: take today's files as the baseline
            return dg.SkipReason("recorded the landing zone as it is; later changes will trigger runs")
        valid = set(partitions.get_partition_keys())
        weeks = [w for w in raw_weeks(landing) if w in valid]
        if not weeks:
            return dg.SkipReason("the landing zone has no spend or outcome rows in the partition range")
        return dg.RunRequest(run_key=digest, tags={RANGE_START: weeks[0], RANGE_END: weeks[-1]})

    return _sensor
