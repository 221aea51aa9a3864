"""Fixtures for the MMM domain tests: small real data (pymc-marketing's public files)."""

from __future__ import annotations

import os

# A persistent, project-local PyTensor compile dir (numba cache) before pytensor loads.
os.environ.setdefault(
    "PYTENSOR_FLAGS",
    "base_compiledir="
    + os.path.join(os.path.dirname(__file__), "..", "..", "..", ".cache", "pytensor"),
)

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "data" / "pymc-marketing"


def example_long() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``mmm_example.csv`` as the platform's long spend / outcomes / controls tables."""
    df = pd.read_csv(DATA / "mmm_example.csv", parse_dates=["date_week"])
    df = df.rename(columns={"date_week": "week"})
    spend = df.melt(
        id_vars=["week"], value_vars=["x1", "x2"], var_name="channel", value_name="spend"
    ).assign(geo="national", impressions=float("nan"), clicks=float("nan"))
    outcomes = df[["week", "y"]].rename(columns={"y": "revenue"}).assign(geo="national")
    controls = df[["week", "event_1", "event_2"]].assign(geo="national")
    return spend, outcomes, controls


def geo_long() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``mmm_multidimensional_example.csv`` (2 geos) as long tables."""
    df = pd.read_csv(DATA / "mmm_multidimensional_example.csv", parse_dates=["date"])
    df = df.rename(columns={"date": "week"})
    spend = df.melt(
        id_vars=["week", "geo"], value_vars=["x1", "x2"], var_name="channel", value_name="spend"
    )
    outcomes = df[["week", "geo", "y"]].rename(columns={"y": "revenue"})
    controls = df[["week", "geo", "event_1", "event_2"]]
    return spend, outcomes, controls


@pytest.fixture(scope="session")
def example_tables():
    return example_long()


@pytest.fixture(scope="session")
def geo_tables():
    return geo_long()


@pytest.fixture(scope="session")
def fast_config():
    """Short chains: enough for plumbing and equality checks, not for inference."""
    from umm_assets.lib.mmm.config import MMMConfig

    return MMMConfig(
        chains=2,
        draws=200,
        tune=200,
        holdout_weeks=8,
        holdout_draws=100,
        holdout_tune=100,
        n_keep_draws=100,
        window_weeks=104,
        seed=7,
    )


@pytest.fixture(scope="session")
def example_frame(example_tables):
    from umm_assets.lib.mmm.frame import build_model_frame

    spend, outcomes, controls = example_tables
    return build_model_frame(spend, outcomes, controls, window_weeks=104, end_week="2020-12-28")


@pytest.fixture(scope="session")
def fitter(fast_config):
    from umm_assets.lib.mmm.fit import MMMFitter

    events: list[tuple[str, dict]] = []
    # "always": every same-shape fit after the first reuses the compiled graph
    f = MMMFitter(
        fast_config,
        progress=lambda phase, detail: events.append((phase, detail)),
        reuse_compilation="always",
    )
    f.events = events  # type: ignore[attr-defined]
    return f


@pytest.fixture(scope="session")
def example_fit(fitter, example_frame):
    """One short fit of 104 weeks of mmm_example, shared by the fast tests."""
    return fitter.fit(example_frame)


@pytest.fixture(scope="session")
def example_summaries(example_fit):
    from umm_assets.lib.mmm.summaries import summarize

    return summarize(example_fit)
