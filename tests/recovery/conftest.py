"""Slow recovery tests: full-length fits against known truth (marked ``slow``)."""

from __future__ import annotations

import os

os.environ.setdefault(
    "PYTENSOR_FLAGS",
    "base_compiledir=" + os.path.join(os.path.dirname(__file__), "..", "..", ".cache", "pytensor"),
)

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from worlds import demo_world  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "pymc-marketing"


@pytest.fixture(scope="session")
def example_tables():
    df = pd.read_csv(DATA / "mmm_example.csv", parse_dates=["date_week"]).rename(
        columns={"date_week": "week"}
    )
    spend = df.melt(
        id_vars=["week"], value_vars=["x1", "x2"], var_name="channel", value_name="spend"
    )
    outcomes = df[["week", "y"]].rename(columns={"y": "revenue"})
    controls = df[["week", "event_1", "event_2"]]
    return spend, outcomes, controls


@pytest.fixture(scope="session")
def geo_tables():
    df = pd.read_csv(DATA / "mmm_multidimensional_example.csv", parse_dates=["date"]).rename(
        columns={"date": "week"}
    )
    spend = df.melt(
        id_vars=["week", "geo"], value_vars=["x1", "x2"], var_name="channel", value_name="spend"
    )
    outcomes = df[["week", "geo", "y"]].rename(columns={"y": "revenue"})
    controls = df[["week", "geo", "event_1", "event_2"]]
    return spend, outcomes, controls


@pytest.fixture(scope="session")
def demo_seed7():
    """The ``umm demo`` world of seed 7 (156 weeks, 5 channels), read through the real ingest."""
    return demo_world(7)
