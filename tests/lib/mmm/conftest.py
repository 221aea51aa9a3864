"""Fixtures for the MMM domain tests: small real data (pymc-marketing's public files)."""

from __future__ import annotations

import pytest

from tests import public_datasets


@pytest.fixture(scope="session")
def example_tables():
    return public_datasets.example_tables()


@pytest.fixture(scope="session")
def geo_tables():
    return public_datasets.geo_tables()


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
