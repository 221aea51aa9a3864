"""Slow recovery tests: full-length fits against known truth (marked ``slow``)."""

from __future__ import annotations

import os

os.environ.setdefault(
    "PYTENSOR_FLAGS",
    "base_compiledir=" + os.path.join(os.path.dirname(__file__), "..", "..", ".cache", "pytensor"),
)

from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data" / "pymc-marketing"


@dataclass
class DemoWorld:
    """A platform demo world as the model stage sees it: weekly long tables and the truth."""

    spend: pd.DataFrame
    outcomes: pd.DataFrame
    controls: pd.DataFrame
    truth: dict


def make_demo_world(seed: int = 7, weeks: int = 156) -> DemoWorld:
    """The ``umm demo`` world (Hill-shaped truth, 5 channels), as weekly tables in the platform's format."""
    from umm_assets.lib import demo

    world = demo.simulate(seed=seed, weeks=weeks)
    spend = world.spend.rename_axis("week").reset_index().melt(id_vars="week", var_name="channel",
                                                               value_name="spend")
    outcomes = world.revenue.rename("revenue").rename_axis("week").reset_index()
    controls = world.controls.rename_axis("week").reset_index()
    for table in (spend, outcomes, controls):
        table["geo"] = "national"
    return DemoWorld(spend, outcomes, controls, world.truth(seed))


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
def demo_world():
    """156 weeks × 5 channels with known ROAS (see :func:`make_demo_world`)."""
    return make_demo_world(seed=7, weeks=156)
