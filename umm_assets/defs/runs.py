"""Launching runs against a Dagster instance (the CLI's ``umm materialize`` and tests), and what their
console shows.

Runs execute in this process, or, with ``UMM_DASK_ADDRESS``, on a Dask cluster through dagster-dask:
each run is orchestrated on this machine and each of its steps runs on a Dask worker, which rebuilds the
code location from the settings sent with it and the instance from its reference. A backfill of the model
chain is then one run per week, all submitted at once, so the cluster fits as many weeks at a time as it has
worker threads.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import dagster as dg

from umm_assets.lib.settings import Settings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"
PARTITION = "dagster/partition"
# what a Dask worker needs to rebuild the code location exactly as the submitting process built it
LOCATION_FIELDS = ("raw_uri", "data_dir", "first_week", "model_window_weeks", "weekly_beside_daily", "dask_address")
MAX_CONCURRENT_RUNS = 8  # runs orchestrated at once by one `umm materialize` (each a process waiting on Dask)

Result = dg.ExecuteInProcessResult | dg.JobExecutionResult


def _run_config(assets: Sequence[str], log_level: str, op_config: Mapping[str, Mapping] | None) -> dict:
    selected = set(assets)
    ops = {name: {"config": dict(config)} for name, config in (op_config or {}).items() if name in selected}
    # the full event log is in the instance; the terminal gets progress only
    return {"loggers": {"console": {"config": {"log_level": log_level}}}, **({"ops": ops} if ops else {})}


def _tags(start: str, end: str) -> dict[str, str]:
    return {PARTITION: start} if start == end else {RANGE_START: start, RANGE_END: end}


def materialize_range(defs: dg.Definitions, instance: dg.DagsterInstance, assets: Sequence[str],
                      start: str, end: str | None = None, *, log_level: str = "INFO",
                      op_config: Mapping[str, Mapping] | None = None) -> dg.ExecuteInProcessResult:
    """One in-process run of ``assets`` over the weekly partitions [start, end] (a single-run backfill if
    start < end).

    ``op_config`` gives run config per asset, e.g. ``{"mmm_posterior": {"draws": 200}}``. Runs are
    recorded in ``instance`` and show in the Dagster UI like any other run.
    """
    end = end or start
    return defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=instance,
        asset_selection=[dg.AssetKey(a) for a in assets],
        partition_key=start if start == end else None,
        tags=None if start == end else _tags(start, end),
        run_config=_run_config(assets, log_level, op_config),
        raise_on_error=False,
    )


# the code location's jobs, in the order a selection is matched to them (a run on an executor names a job the UI
# knows: Dagster cannot rebuild its implicit asset job, whose name is reserved, from a reconstruction recipe)
LOCATION_JOBS = ("validated_job", "model_chain_job")
SELECTION_JOB = "umm_materialize"  # a selection no location job holds (validation and model stages together)


def location_job(assets: Sequence[str], **fields) -> dg.JobDefinition:
    """The code location's job that holds ``assets``, built from ``fields`` of :class:`Settings` (a Dask
    worker calls this through the job's reconstruction recipe, so it builds what the submitting process
    built); a selection no job holds gets a job of its own."""
    from umm_assets.definitions import build_defs

    defs = build_defs(Settings(**fields))
    keys = {dg.AssetKey(a) for a in assets}
    for name in LOCATION_JOBS:
        job = defs.resolve_job_def(name)
        if keys <= job.asset_layer.selected_asset_keys:
            return job
    selection = dg.define_asset_job(SELECTION_JOB, selection=dg.AssetSelection.assets(*keys))
    with warnings.catch_warnings():  # "multiple backfill policies": this run's weeks come from its tags
        warnings.simplefilter("ignore")
        return dg.Definitions.merge(defs, dg.Definitions(jobs=[selection])).resolve_job_def(SELECTION_JOB)


def location_fields(settings: Settings) -> dict:
    """The settings a Dask worker builds the code location from, the first week resolved here (so every
    worker has the submitting process's partitions, and none scans the landing zone again)."""
    from umm_assets.defs.partitions import first_week

    return {**settings.model_dump(mode="json", include=set(LOCATION_FIELDS)), "first_week": first_week(settings).isoformat()}


def execute_on_executor(settings: Settings, instance: dg.DagsterInstance, assets: Sequence[str], start: str,
                        end: str, *, log_level: str = "INFO",
                        op_config: Mapping[str, Mapping] | None = None) -> dg.JobExecutionResult:
    """One run orchestrated by this process with the code location's executor (Dask with
    ``UMM_DASK_ADDRESS``): its steps run wherever the executor puts them."""
    job = dg.build_reconstructable_job(__name__, location_job.__name__, reconstructable_args=(list(assets),),
                                       reconstructable_kwargs=location_fields(settings))
    return dg.execute_job(job, instance, run_config=_run_config(assets, log_level, op_config),
                          tags=_tags(start, end), asset_selection=[dg.AssetKey(a) for a in assets])


@dataclass(frozen=True)
class Outcome:
    """What ``umm materialize`` reports of a run: its id, and what went wrong if it failed."""

    run_id: str
    success: bool
    failures: tuple[str, ...] = ()

    @classmethod
    def of(cls, result: Result) -> Outcome:
        return cls(result.run_id, result.success, () if result.success else tuple(failure_messages(result)))


def _orchestrate(fields: dict, assets: Sequence[str], start: str, end: str, log_level: str,
                 op_config: Mapping[str, Mapping] | None) -> Outcome:
    """One run on the executor, orchestrated by a process of its own (see :func:`materialize`)."""
    with dg.DagsterInstance.get() as instance:
        result = execute_on_executor(Settings(**fields), instance, assets, start, end, log_level=log_level,
                                     op_config=op_config)
        return Outcome.of(result)


def materialize(defs: dg.Definitions, settings: Settings, instance: dg.DagsterInstance, assets: Sequence[str],
                start: str, end: str, *, log_level: str = "INFO",
                op_config: Mapping[str, Mapping] | None = None) -> list[Outcome]:
    """``umm materialize``: in-process as one run, or with ``UMM_DASK_ADDRESS`` on the Dask cluster, where
    assets that backfill one run per range (validation) take one run and the others (the model chain)
    take one run per week, run side by side. Each run is orchestrated by a process of its own: Dagster
    configures Python logging as a run starts, which deadlocks against another run's logging in the same
    process (seen with runs in threads)."""
    if not settings.dask_address:
        return [Outcome.of(materialize_range(defs, instance, assets, start, end, log_level=log_level,
                                             op_config=op_config))]
    partitioned = [d for d in map(defs.resolve_assets_def, assets) if d.partitions_def is not None]
    if all(d.backfill_policy == dg.BackfillPolicy.single_run() for d in partitioned):
        spans = [(start, end)]
    else:
        weeks = partitioned[0].partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(start, end))
        spans = [(week, week) for week in weeks]
    fields = location_fields(settings)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(len(spans), MAX_CONCURRENT_RUNS), mp_context=context) as pool:
        return list(pool.map(_orchestrate, *zip(*[(fields, list(assets), a, b, log_level, op_config)
                                                  for a, b in spans])))


def queue_backfill(defs: dg.Definitions, instance: dg.DagsterInstance, spans: Mapping[str, tuple[str, str] | None],
                   *, title: str, op_config: Mapping[str, Mapping] | None = None) -> str:
    """Queue an asset backfill for the Dagster daemon, as the UI's "Materialize" dialog does, and return its id.

    ``spans`` gives each asset its weeks (first, last), or None for an unpartitioned asset. The daemon runs it
    (so it shows in the UI live, run by run, the asset graph turning green) and orders the runs by the asset
    graph: the model chain starts when the validated weeks it reads are done. The same call the webserver's
    ``launchPartitionBackfill`` makes, from Python: a backfill queued before the daemon starts is in the
    instance when the landing-zone sensor first ticks, so it does not validate the same weeks again.
    """
    from dagster._core.definitions.selector import (PartitionRangeSelector, PartitionsByAssetSelector,
                                                    PartitionsSelector)
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    selectors = [PartitionsByAssetSelector(asset_key=dg.AssetKey(asset), partitions=None if span is None else
                                           PartitionsSelector(ranges=[PartitionRangeSelector(start=span[0],
                                                                                             end=span[1])]))
                 for asset, span in spans.items()]
    backfill = PartitionBackfill.from_partitions_by_assets(
        backfill_id=make_new_backfill_id(), asset_graph=defs.resolve_asset_graph(), backfill_timestamp=time.time(),
        tags={}, dynamic_partitions_store=instance, partitions_by_assets=selectors, title=title, description=None,
        run_config=_run_config(list(spans), "INFO", op_config))
    instance.add_backfill(backfill)
    return backfill.backfill_id


def backfills_in_progress(instance: dg.DagsterInstance) -> list:
    """Backfills the daemon has not finished (requested, or being canceled)."""
    from dagster._core.execution.backfill import BulkActionStatus

    return [b for status in (BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING)
            for b in instance.get_backfills(status=status)]


def failure_messages(result: Result) -> list[str]:
    """What went wrong, one line per failed step, in the words the asset used; for an unexpected error, its
    root cause too (e.g. ``OSError: [Errno 28] No space left on device``), which Dagster's wrapper hides."""
    messages = []
    for event in result.all_events:
        if event.is_step_failure:
            data = event.step_failure_data
            user = data.user_failure_data
            if user and user.description:
                text = user.description
            elif data.error:
                text = data.error.message.strip()
                cause = root_cause(data.error)
                if cause is not data.error:
                    text += f"\n  caused by {cause.message.strip()}"
            else:
                text = ""
            messages.append(f"[{event.step_key}] {text.strip()}")
    return messages or ["the run failed before any step ran; see the Dagster UI for its logs"]


def root_cause(error):
    """The innermost exception an error (Dagster's serializable error info) was raised from (or while handling)."""
    while (inner := error.cause or error.context) is not None:
        error = inner
    return error


# Dagster attaches the event a log record reports to the record under this attribute (its log manager's
# record metadata); read by name, there is no public accessor
_RECORD_METADATA = "dagster_meta"


class _CleanRejections(logging.Filter):
    """A step that rejected its input raised ``dg.Failure`` whose description says everything: print that, not
    Dagster's stack traces (an unexpected error keeps its trace). The run's failure line repeats the first
    step's error, so it is cut to its headline."""

    def filter(self, record: logging.LogRecord) -> bool:
        event = (getattr(record, _RECORD_METADATA, None) or {}).get("dagster_event")
        if event is None:
            return True
        headline = str(record.msg).split("\n\n", 1)[0]
        if event.is_step_failure and event.step_failure_data.user_failure_data is not None:
            record.msg = f"{headline}\n\n{event.step_failure_data.user_failure_data.description}\n"
        elif event.is_run_failure:
            record.msg = headline
        return True


@dg.logger(dg.colored_console_logger.config_schema, description="The colored console logger, without stack "
                                                                "traces for rejected input.")
def console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = dg.colored_console_logger.logger_fn(init_context)
    logger.addFilter(_CleanRejections())
    if not sys.stderr.isatty():  # a log file or a pipe: the same lines without colour codes
        for handler in logger.handlers:
            handler.setFormatter(logging.Formatter(handler.formatter._fmt, handler.formatter.datefmt))
    return logger
