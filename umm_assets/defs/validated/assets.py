"""validated_*: raw landing-zone files checked against the data contract and shaped into weeks.

Each weekly asset reads every file of its folder (files are not tied to partitions; rows are, by
their dates), validates it with pandera, and writes one table per week. A single-run backfill
reads the files once for the whole range. Spend and outcomes are required in every week;
controls and attribution are optional; ``validated_tests`` holds every finished experiment.
"""


import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from umm_assets import __version__
from umm_assets.defs import partition_checks
from umm_assets.defs.partitions import partition_weeks
from umm_assets.defs.raw import raw_deps
from umm_assets.defs.resources import LandingZoneResource, WarehouseResource
from umm_assets.defs.validated import checks
from umm_assets.lib import ingest
from umm_assets.lib.contracts import ATTRIBUTION, CONTROLS, OUTCOMES, SPEND, TESTS, InputSpec
from umm_assets.lib.storage import UNPARTITIONED, Stored
from umm_assets.lib.violations import ContractError, MissingWeekError, Violation
from umm_assets.lib.weeks import last_complete_week

GROUP = "validated"
CODE_VERSION = f"{__version__}-validated.1"
Shape = Callable[[ingest.RawInput, Sequence[dt.date]], dict[dt.date, pd.DataFrame]]


@dataclass(frozen=True)
class WeeklyInput:
    name: str
    spec: InputSpec
    shape: Shape
    description: str


WEEKLY_INPUTS = (
    WeeklyInput("validated_spend", SPEND, ingest.weekly_spend,
                "Media spend per week, geo and channel (required; a missing channel-week is zero spend)."),
    WeeklyInput("validated_outcomes", OUTCOMES, ingest.weekly_outcomes,
                "Revenue and conversions per week and geo (required)."),
    WeeklyInput("validated_controls", CONTROLS, ingest.weekly_controls,
                "Non-media drivers per week and geo, the week's mean (optional input)."),
    WeeklyInput("validated_attribution", ATTRIBUTION, ingest.weekly_attribution,
                "Revenue credited to each channel by touch-based attribution, per week (optional input)."),
)


def _read(landing: LandingZoneResource, spec: InputSpec) -> ingest.RawInput:
    zone = landing.zone()
    channels = ingest.spend_channels(zone) if spec.channel_must_have_spend else None
    return ingest.read_input(zone, spec, spend_channels=channels, weekly_beside_daily=landing.weekly_beside_daily)


def _reject(context: dg.AssetExecutionContext, warehouse: WarehouseResource, asset: str, keys: Sequence[str],
            violations: Sequence[Violation], message: str) -> Iterator[dg.AssetCheckResult]:
    """Report a contract failure (check, ledger, run failure): nothing is written for these partitions."""
    checks.record(warehouse.get(), asset, keys, context.run_id, passed=False,
                  messages=[str(v) for v in violations] or [message])
    failed = checks.contract_failed(asset, violations, message)
    if list(keys) == [UNPARTITIONED]:
        yield failed
    else:  # the run writes none of its weeks
        yield from partition_checks.per_week(context, {key: [failed] for key in keys})
    raise dg.Failure(description=message, metadata={"violations": len(violations)}, allow_retries=False)


def _validate(context: dg.AssetExecutionContext, warehouse: WarehouseResource, asset: str,
              raw: ingest.RawInput, keys: Sequence[str], weeks: Sequence[dt.date] | None
              ) -> Iterator[dg.AssetCheckResult]:
    try:
        raw.raise_for(weeks)
    except ContractError as err:
        yield from _reject(context, warehouse, asset, keys, err.violations, f"{asset}: {err}")


def _weekly_lineage(raw: ingest.RawInput, week: dt.date) -> dict:
    files = set()
    if not raw.rows.empty:
        files = set(raw.rows.loc[raw.rows["week"] == pd.Timestamp(week), "_file"])
    return {"raw_folder": raw.spec.folder, "files": [f.lineage() for f in raw.files if f.path in files]}


def build_weekly_input_asset(spec: WeeklyInput, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """One weekly validated asset; all four are built by this factory (they differ only in data)."""

    @dg.asset(
        name=spec.name,
        description=spec.description,
        partitions_def=partitions,
        deps=raw_deps(spec.spec),
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        code_version=CODE_VERSION,
        check_specs=checks.check_specs(spec.name, partitions),
        io_manager_key="warehouse_io_manager",
        kinds={"pandera", "parquet"},
        metadata={"landing_folder": f"{spec.spec.folder}/", "contract": "data-contract.md"},
    )
    def _asset(context: dg.AssetExecutionContext, landing: LandingZoneResource, warehouse: WarehouseResource):
        weeks = partition_weeks(context)
        keys = list(context.partition_keys)
        raw = _read(landing, spec.spec)
        yield from _validate(context, warehouse, spec.name, raw, keys, weeks)
        try:
            tables = spec.shape(raw, weeks)
        except MissingWeekError as err:
            yield from _reject(context, warehouse, spec.name, keys, [], str(err))
        partial = ingest.partial_weeks(raw, weeks)
        rows = {w.isoformat(): len(t) for w, t in tables.items()}
        warnings = [f"week {w}: daily rows for only {n} of 7 days" for w, n in partial.items()]
        checks.record(warehouse.get(), spec.name, keys, context.run_id, passed=True, rows=rows, warnings=warnings)
        yield from partition_checks.per_week(context, checks.week_results(spec.name, keys, len(raw.rows),
                                                                          len(raw.files), partial))

        newest = tables[weeks[-1]]
        values = {w.isoformat(): Stored.table(t, upstream=_weekly_lineage(raw, w)) for w, t in tables.items()}
        yield dg.Output(
            values if len(values) > 1 else values[keys[0]],
            metadata={
                "dagster/row_count": sum(rows.values()),
                "rows_per_week": dg.MetadataValue.json(rows),
                "files_read": len(raw.files),
                "preview": checks.preview(newest),
                "dagster/column_schema": checks.column_schema(newest),
            },
        )

    return _asset


@dg.asset(
    description="Every finished incrementality test (ended by the last complete week), one row per test, channel and geo.",
    deps=raw_deps(TESTS),
    group_name=GROUP,
    code_version=CODE_VERSION,
    check_specs=checks.check_specs("validated_tests", completeness=False),
    io_manager_key="warehouse_io_manager",
    kinds={"pandera", "parquet"},
    metadata={"landing_folder": f"{TESTS.folder}/", "contract": "data-contract.md"},
)
def validated_tests(context: dg.AssetExecutionContext, landing: LandingZoneResource, warehouse: WarehouseResource):
    raw = _read(landing, TESTS)
    yield from _validate(context, warehouse, "validated_tests", raw, [UNPARTITIONED], None)
    as_of = last_complete_week() + dt.timedelta(days=6)
    tests = ingest.finished_tests(raw, as_of)
    pending = len(raw.rows) - len(tests)
    checks.record(warehouse.get(), "validated_tests", [UNPARTITIONED], context.run_id, passed=True,
                  rows={UNPARTITIONED: len(tests)})
    yield checks.contract_passed("validated_tests", len(raw.rows), len(raw.files))
    yield dg.Output(
        Stored.table(tests, upstream={"files": raw.lineage()}),
        metadata={
            "dagster/row_count": len(tests),
            "not_finished_yet": pending,
            "finished_by": as_of.isoformat(),
            "preview": checks.preview(tests),
            "dagster/column_schema": checks.column_schema(tests),
        },
    )


def validated_assets(partitions: dg.PartitionsDefinition) -> list[dg.AssetsDefinition]:
    return [*(build_weekly_input_asset(spec, partitions) for spec in WEEKLY_INPUTS), validated_tests]
