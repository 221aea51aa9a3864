"""The one partitioning scheme of the platform: weeks starting Monday, keyed by that Monday."""


import datetime as dt

import dagster as dg

from umm_assets.lib.weeks import parse_week_key


def weekly_partitions(first_week: dt.date) -> dg.WeeklyPartitionsDefinition:
    """Weekly partitions from ``first_week`` to the last complete week (the running week is excluded)."""
    return dg.WeeklyPartitionsDefinition(start_date=first_week.isoformat(), day_offset=1, fmt="%Y-%m-%d")


def partition_weeks(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The Mondays of the partitions this run materializes (one, or a range in a single-run backfill)."""
    return [parse_week_key(key) for key in context.partition_keys]
