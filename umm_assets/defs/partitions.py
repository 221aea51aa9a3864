"""The one partitioning scheme of the platform: weeks starting Monday, keyed by that Monday."""


import datetime as dt

import dagster as dg

from umm_assets.lib.ingest import first_raw_week
from umm_assets.lib.landing import open_landing_zone
from umm_assets.lib.settings import Settings
from umm_assets.lib.weeks import last_complete_week, parse_week_key


def first_week(settings: Settings) -> dt.date:
    """Where the partitions start: ``UMM_FIRST_WEEK``, else the first week with spend or outcome rows in the
    landing zone (read when the code location loads, ~0.4 s for the 160-week demo: partitions start where the
    data starts instead of showing years of "missing" weeks), else (an empty landing zone) the last complete
    week. Data dropped later with older rows needs a reload of the code location, or UMM_FIRST_WEEK."""
    if settings.first_week is not None:
        return settings.first_week
    return first_raw_week(open_landing_zone(settings.raw_uri)) or last_complete_week()


def weekly_partitions(first: dt.date) -> dg.WeeklyPartitionsDefinition:
    """Weekly partitions from ``first`` to the last complete week (the running week is excluded)."""
    return dg.WeeklyPartitionsDefinition(start_date=first.isoformat(), day_offset=1, fmt="%Y-%m-%d")


def partition_weeks(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The Mondays of the partitions this run materializes (one, or a range in a single-run backfill)."""
    return [parse_week_key(key) for key in context.partition_keys]
