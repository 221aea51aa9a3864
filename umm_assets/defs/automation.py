"""Schedules, sensors and freshness: a weekly refresh of the whole chain after each week closes, a
landing-zone sensor that observes the raw folders and re-validates the weeks whose files changed, and a
freshness check per weekly asset. They run under the Dagster daemon (``dagster dev``). The sensor
validates only: a late file should not start a 2-core model fit per changed week; the next weekly refresh
(or a backfill from the UI) refits on the corrected data."""

import warnings

import dagster as dg

from umm_assets.defs import raw
from umm_assets.defs.resources import LandingZoneResource
from umm_assets.defs.runs import PARTITION, RANGE_END, RANGE_START, backfills_in_progress
from umm_assets.lib import ingest
from umm_assets.lib.contracts import OUTCOMES, SPEND
from umm_assets.lib.outputs import MODEL_CHAIN
from umm_assets.lib.weeks import last_complete_week

# A week closes at Monday 00:00 UTC; its partition is expected by Tuesday 00:00, a day later
# (the weekly refresh runs Monday 06:00)
FRESHNESS_DEADLINE = "0 0 * * 2"
WEEKLY_REFRESH = "weekly_refresh"
SCHEDULE_TAG = "dagster/schedule_name"  # Dagster's tag on runs a schedule started


# Backfill policies, per job: each job holds assets of one policy, so a backfill launched from its page cuts a
# range into runs exactly as its assets ask (Dagster has no policy of a job's own: it takes the smallest
# max_partitions_per_run of the job's partitioned assets, and warns when they differ).
# - validated_job (the validated_* assets, BackfillPolicy.single_run()): a range is one run, which reads the
#   landing zone once.
# - model_chain_job (mmm_posterior, reconciled_lift, allocation: MODEL_CHAIN_BACKFILL in defs/mmm_posterior/assets.py):
#   runs of up to 8 weeks, within which the MMM's compiled model serves every week.
# The weekly refresh is therefore two runs: the schedule validates the week that closed, and on that run's
# success the weekly_refresh_chain sensor fits it. `umm materialize` cuts its own runs of the implicit asset
# job (runs.materialize: on Dask, one run per week of the chain).
def _job(name: str, partitions: dg.PartitionsDefinition, description: str, selection: dg.AssetSelection):
    return dg.define_asset_job(name, selection=selection, partitions_def=partitions, description=description)


def validated_job(partitions: dg.PartitionsDefinition):
    return _job("validated_job", partitions, "Validate the landing zone into weekly tables (all validated_* assets). "
                                             "A backfill of a range is one run.",
                dg.AssetSelection.groups("validated"))


def model_chain_job(partitions: dg.PartitionsDefinition):
    return _job("model_chain_job", partitions,
                "Fit the MMM on the window ending at the week, reconcile it with the tests and attribution, and "
                "recommend next week's budget (reads the validated weeks; validate first). A backfill of a range "
                "runs up to 8 weeks per run, sharing the compiled model.",
                dg.AssetSelection.groups(*MODEL_CHAIN))


def weekly_refresh_schedule(job) -> dg.ScheduleDefinition:
    """Every Monday morning (UTC), validate the week that just closed through ``job`` (validated_job); the
    weekly_refresh_chain sensor fits it once that run has succeeded."""
    return dg.build_schedule_from_partitioned_job(
        job, name=WEEKLY_REFRESH, hour_of_day=6, minute_of_hour=0, default_status=dg.DefaultScheduleStatus.RUNNING
    )


def weekly_refresh_chain(validated, chain) -> dg.RunStatusSensorDefinition:
    """The weekly refresh's second run: the model chain for the week the schedule's validation run validated.
    Runs of ``validated`` started by anything else (the landing-zone sensor re-validating a late file, a
    backfill) do not refit: a late file is reflected at the next weekly refresh, as the design says."""

    @dg.run_status_sensor(name="weekly_refresh_chain", run_status=dg.DagsterRunStatus.SUCCESS,
                          monitored_jobs=[validated], request_job=chain, default_status=dg.DefaultSensorStatus.RUNNING,
                          description="After the weekly refresh validated the week that closed: fit, reconcile and "
                                      "allocate it (model_chain_job).")
    def _chain(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        week = run.tags.get(PARTITION)
        if run.tags.get(SCHEDULE_TAG) != WEEKLY_REFRESH or week is None:
            return dg.SkipReason(f"run {run.run_id[:8]} was not the weekly refresh's validation")
        return dg.RunRequest(run_key=f"{WEEKLY_REFRESH}:{run.run_id}", partition_key=week)

    return _chain


def raw_weeks(landing: LandingZoneResource) -> list[str]:
    """Weeks with spend or outcome rows in the landing zone, up to the last complete week."""
    zone = landing.zone()
    weeks = set(ingest.read_input(zone, SPEND).weeks()) | set(ingest.read_input(zone, OUTCOMES).weeks())
    newest = last_complete_week()
    return sorted(w.isoformat() for w in weeks if w <= newest)


def landing_zone_sensor(job, partitions: dg.PartitionsDefinition) -> dg.SensorDefinition:
    @dg.sensor(name="landing_zone_sensor", job=job, minimum_interval_seconds=60,
               default_status=dg.DefaultSensorStatus.RUNNING,
               description="Observes the landing-zone folders (file count, newest file, rows) and re-validates "
                           "the weeks whose files were added, changed or removed; reads only those files.")
    def _sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource):
        first_tick = context.cursor is None
        found = raw.scan(landing.zone(), raw.load_cursor(context.cursor))
        observations = [raw.observation(found, folder) for folder in sorted(found.changed_folders)]
        if not found.changed_folders:
            return dg.SkipReason("no new, changed or removed files in the landing zone")
        context.log.info(f"{found.read} file(s) read; changed: {', '.join(sorted(found.changed_folders))}")
        valid = partitions.get_partition_keys()
        weeks = [w for w in valid if min(found.weeks, default="9") <= w <= max(found.weeks, default="0")]
        if (first_tick and _validated_elsewhere(context.instance)) or not weeks:
            # e.g. after `umm materialize --latest`, or while `make run`'s backfill validates every week: record the
            # landing zone as it is; later changes run
            return dg.SensorResult(asset_events=observations, cursor=found.cursor(), skip_reason=dg.SkipReason(
                "recorded the landing zone as it is" if weeks else "the changed files have no rows in the "
                "partition range"))
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=found.cursor_digest(), tags={RANGE_START: weeks[0],
                                                                               RANGE_END: weeks[-1]})],
            asset_events=observations, cursor=found.cursor())

    return _sensor


def _validated_elsewhere(instance: dg.DagsterInstance) -> bool:
    """The landing zone was validated before, or a backfill that validates it is queued or running."""
    spend = dg.AssetKey("validated_spend")
    return instance.get_latest_materialization_event(spend) is not None or any(
        spend in (b.asset_selection or ()) for b in backfills_in_progress(instance))


def freshness_checks(assets: list[dg.AssetsDefinition]) -> tuple[list[dg.AssetChecksDefinition], dg.SensorDefinition]:
    """A freshness check per weekly asset, evaluated by its sensor: the newest complete week must be
    materialized by a day after it closed, else the check fails (a warning in the UI).

    Dagster marks these checks superseded by ``FreshnessPolicy``; that policy judges the time of the last
    materialization of any partition, so a backfill of old weeks would look fresh. This check asks for the
    newest week's own partition, which is what a weekly platform owes its readers.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=dg.SupersessionWarning)
        checks = dg.build_time_partition_freshness_checks(
            assets=assets, deadline_cron=FRESHNESS_DEADLINE, severity=dg.AssetCheckSeverity.WARN)
        sensor = dg.build_sensor_for_freshness_checks(
            freshness_checks=checks, minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.RUNNING)
    return list(checks), sensor
