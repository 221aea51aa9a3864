"""Slow recovery tests: full-length fits against known truth (marked ``slow``)."""

from __future__ import annotations

import pytest
from worlds import demo_world

from tests import public_datasets


@pytest.fixture(scope="session")
def example_tables():
    return public_datasets.example_tables()


@pytest.fixture(scope="session")
def geo_tables():
    return public_datasets.geo_tables()


@pytest.fixture(scope="session")
def demo_seed7():
    """The ``umm demo`` world of seed 7 (156 weeks, 5 channels), read through the real ingest."""
    return demo_world(7)
