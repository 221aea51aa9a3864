"""Calendar weeks: the platform's unit of time. A week starts on Monday and is keyed by that date."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

WEEK = dt.timedelta(days=7)
CURRENT_WEEKS = 13  # "current" spend = the mean weekly spend of the last 13 weeks


def week_start(day: dt.date) -> dt.date:
    """The Monday of the week containing ``day``."""
    return day - dt.timedelta(days=day.weekday())


def week_starts(days: pd.Series) -> pd.Series:
    """Vectorised :func:`week_start` for a datetime64 series (result is datetime64, midnight)."""
    days = pd.to_datetime(days).dt.normalize()
    return days - pd.to_timedelta(days.dt.weekday, unit="D")


def last_complete_week(today: dt.date | None = None) -> dt.date:
    """The Monday of the newest week whose Sunday is already over."""
    today = today or dt.datetime.now(dt.UTC).date()
    return week_start(today) - WEEK


def week_key(monday: dt.date) -> str:
    return monday.isoformat()


def parse_week_key(key: str) -> dt.date:
    """Parse a partition key, refusing anything but an ISO Monday."""
    day = dt.date.fromisoformat(key)
    if day.weekday() != 0:
        raise ValueError(f"week key {key!r} is not a Monday")
    return day


def shares_inside(weeks, start: dt.date | pd.Timestamp, end: dt.date | pd.Timestamp) -> np.ndarray:
    """Share of each week's 7 days (weeks keyed by their Monday) that lies inside the days ``start``..``end``,
    both included: how a test or any dated window is prorated onto weekly rows."""
    mondays = pd.to_datetime(weeks).to_numpy(dtype="datetime64[ns]")
    lo = np.maximum(mondays, np.datetime64(pd.Timestamp(start).normalize()))
    hi = np.minimum(mondays + np.timedelta64(7, "D"), np.datetime64(pd.Timestamp(end).normalize() + pd.Timedelta(days=1)))
    return np.clip((hi - lo) / np.timedelta64(1, "D"), 0, 7) / 7


def weeks_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every Monday from ``first`` to ``last`` inclusive."""
    first, last = week_start(first), week_start(last)
    return [first + i * WEEK for i in range((last - first) // WEEK + 1)] if last >= first else []
