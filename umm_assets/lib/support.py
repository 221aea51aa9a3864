"""Where a plan moves spend, next to where the evidence measured the curves.

The MMM learns each channel's curve from the weekly spend levels of its window; a test measures it at the
level the channel ran at during the test. A plan that moves a channel to a level neither has seen reads
the curve where it is extrapolated from its shape: the number may be right, but nothing measured it. Such
a move is flagged per channel (``support`` and ``support_note`` in the allocation table, and in the API
and on the dashboard), so that a marketer sees it before acting on it.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

WITHIN = "within data"
ABOVE = "above data"
BELOW = "below data"
UNKNOWN = "unknown"  # the posterior was stored before it recorded its spend range
COLUMNS = ("weekly_spend_p05", "weekly_spend_p95", "tested_weekly_spend", "support", "support_note")


def measured_ranges(mmm_roas: pd.DataFrame, test_coverage: pd.DataFrame | None) -> pd.DataFrame:
    """Per channel: the 5th-95th percentile of the weekly spend the model's window saw, and the highest weekly
    spend any of its tests ran at (NaN when untested)."""
    ranges = mmm_roas.set_index("channel").reindex(columns=["weekly_spend_p05", "weekly_spend_p95"])
    tested = pd.Series(dtype=float)
    if test_coverage is not None and "weekly_spend" in test_coverage:
        tested = test_coverage.groupby("channel")["weekly_spend"].max()
    return ranges.assign(tested_weekly_spend=tested.reindex(ranges.index))


def with_support(allocation: pd.DataFrame, ranges: pd.DataFrame) -> pd.DataFrame:
    """The allocation table with each channel's measured range and whether the plan moves it outside."""
    joined = allocation.join(ranges, on="channel")
    verdicts = [_verdict(row) for row in joined.to_dict("records")]
    return joined.assign(support=[v for v, _ in verdicts], support_note=[n for _, n in verdicts])


def _verdict(row: Mapping) -> tuple[str, str]:
    low, high, tested = row["weekly_spend_p05"], row["weekly_spend_p95"], row["tested_weekly_spend"]
    if pd.isna(low) or pd.isna(high):
        return UNKNOWN, ""
    levels = [v for v in (low, high, tested) if pd.notna(v)]
    recommended, current = float(row["recommended"]), float(row["current"])
    measured = (f"the model's weeks mostly spent {low:,.0f}-{high:,.0f}"
                + (f", its tests ran at {tested:,.0f}" if pd.notna(tested) else ", no test"))
    for verdict, side, beyond in ((ABOVE, "above", recommended > max(levels) and recommended > current),
                                  (BELOW, "below", recommended < min(levels) and recommended < current)):
        if beyond:
            return verdict, (f"recommended {recommended:,.0f} per week is {side} what was measured ({measured}): "
                             "the return there is extrapolated from the curve's shape")
    return WITHIN, ""


def outside(allocation: pd.DataFrame) -> list[str]:
    """The channels a plan moves outside their measured spend range."""
    if "support" not in allocation:
        return []
    return allocation.loc[allocation["support"].isin([ABOVE, BELOW]), "channel"].astype(str).tolist()


def carried(allocation: pd.DataFrame, stored: pd.DataFrame) -> pd.DataFrame:
    """A scenario's allocation judged against the ranges stored with the partition it was solved from."""
    if "weekly_spend_p05" not in stored:
        return allocation
    ranges = stored.set_index("channel")[["weekly_spend_p05", "weekly_spend_p95", "tested_weekly_spend"]]
    return with_support(allocation.drop(columns=[c for c in COLUMNS if c in allocation]), ranges)

