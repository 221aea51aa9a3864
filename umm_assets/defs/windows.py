"""What a weekly "as of W" stage reads: trailing windows of the validated inputs."""

from collections.abc import Mapping, Sequence

import dagster as dg
import pandas as pd

from umm_assets.lib.storage import Warehouse


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


def known_by(tests: pd.DataFrame, week: str) -> pd.DataFrame:
    """The tests that had ended by the end of ``week`` (a week's estimates use only what was known then)."""
    return tests[pd.to_datetime(tests["end_date"]) <= pd.Timestamp(week) + pd.Timedelta(days=6)]


def span(frame: pd.DataFrame) -> dict:
    """Lineage of a window: its first and last week and how many weeks it holds."""
    if frame.empty:
        return {"weeks": 0}
    days = pd.to_datetime(frame["week"])
    return {"first": days.min().date().isoformat(), "last": days.max().date().isoformat(),
            "weeks": int(days.nunique())}


# a window needs every week of these inputs from its first outcome week to its as-of week; controls only
# when the window has any (they are optional inputs)
REQUIRED = ("validated_outcomes", "validated_spend")
OPTIONAL = ("validated_controls",)


def require_complete(week: str, window_weeks: int, frames: Mapping[str, pd.DataFrame], warehouse: Warehouse,
                     stage: str) -> None:
    """Fail (writing nothing) when a validated week inside the window is missing: a week that failed
    validation is not a week of zero spend. Names each missing week and why it is missing (its
    data-quality verdict, or that it was never validated). Weeks before the first outcome week are
    history the data does not have, not gaps."""
    outcomes = pd.to_datetime(frames["validated_outcomes"]["week"]) if len(frames["validated_outcomes"]) else None
    end = pd.Timestamp(week)
    start = max(end - pd.Timedelta(weeks=window_weeks - 1), outcomes.min() if outcomes is not None else end)
    expected = pd.date_range(start, end, freq="7D")
    problems = []
    for name in (*REQUIRED, *(n for n in OPTIONAL if len(frames[n]))):
        present = set(pd.to_datetime(frames[name]["week"])) if len(frames[name]) else set()
        missing = [w.date().isoformat() for w in expected if w not in present]
        if missing:
            problems.append(f"{name} lacks {len(missing)} week(s): " + "; ".join(
                f"{w} ({_why_missing(warehouse, name, w)})" for w in missing[:8]) + (" ..." if len(missing) > 8 else ""))
    if problems:
        raise dg.Failure(f"{stage}[{week}]: the model window {start.date()}..{week} has gaps, so nothing was fitted "
                         "(a week that failed validation is not a week of zero spend): " + " | ".join(problems)
                         + ". Fix the input and re-materialize those weeks.", allow_retries=False)


def _why_missing(warehouse: Warehouse, asset: str, week: str) -> str:
    verdicts = [r for r in warehouse.quality(asset) if r.get("partition") == week]
    if not verdicts:
        return "never validated"
    failed = [m for check in verdicts[-1].get("checks", []) if not check.get("passed") for m in check.get("messages", [])]
    return f"failed validation: {failed[0]}" if failed else "validated, but its partition is not in the warehouse"
