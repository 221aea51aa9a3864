"""What a weekly "as of W" stage reads: trailing windows of the validated inputs."""

from collections.abc import Sequence

import dagster as dg
import pandas as pd


def trailing_window(weeks: int) -> dg.TimeWindowPartitionMapping:
    """The ``weeks`` weekly partitions ending at the downstream partition (fewer near the first week)."""
    return dg.TimeWindowPartitionMapping(start_offset=-(weeks - 1), end_offset=0,
                                         allow_nonexistent_upstream_partitions=True)


def window_ins(weeks: int, assets: Sequence[str]) -> dict[str, dg.AssetIn]:
    return {name: dg.AssetIn(partition_mapping=trailing_window(weeks)) for name in assets}


def ending_at(frame: pd.DataFrame, week: str, weeks: int) -> pd.DataFrame:
    """Rows of a weekly table in the ``weeks`` weeks ending at ``week`` (a range run loads the union)."""
    if frame.empty:
        return frame
    end = pd.Timestamp(week)
    start = end - pd.Timedelta(weeks=weeks - 1)
    days = pd.to_datetime(frame["week"])
    return frame[(days >= start) & (days <= end)].reset_index(drop=True)


def span(frame: pd.DataFrame) -> dict:
    """Lineage of a window: its first and last week and how many weeks it holds."""
    if frame.empty:
        return {"weeks": 0}
    days = pd.to_datetime(frame["week"])
    return {"first": days.min().date().isoformat(), "last": days.max().date().isoformat(),
            "weeks": int(days.nunique())}
