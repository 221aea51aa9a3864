"""pymc-marketing's public MMM datasets (tests/data/pymc-marketing, Apache-2.0) as the platform's long
weekly spend / outcomes / controls tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data" / "pymc-marketing"


def example_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``mmm_example.csv``: national, channels x1 and x2, controls event_1 and event_2."""
    df = pd.read_csv(DATA / "mmm_example.csv", parse_dates=["date_week"]).rename(columns={"date_week": "week"})
    spend = df.melt(id_vars=["week"], value_vars=["x1", "x2"], var_name="channel", value_name="spend").assign(
        geo="national", impressions=float("nan"), clicks=float("nan"))
    outcomes = df[["week", "y"]].rename(columns={"y": "revenue"}).assign(geo="national")
    controls = df[["week", "event_1", "event_2"]].assign(geo="national")
    return spend, outcomes, controls


def geo_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``mmm_multidimensional_example.csv``: two geos, channels x1 and x2."""
    df = pd.read_csv(DATA / "mmm_multidimensional_example.csv", parse_dates=["date"]).rename(columns={"date": "week"})
    spend = df.melt(id_vars=["week", "geo"], value_vars=["x1", "x2"], var_name="channel", value_name="spend")
    outcomes = df[["week", "geo", "y"]].rename(columns={"y": "revenue"})
    controls = df[["week", "geo", "event_1", "event_2"]]
    return spend, outcomes, controls
