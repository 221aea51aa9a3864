"""Slow recovery tests: full-length fits against known truth (marked ``slow``)."""

from __future__ import annotations

import pytest

from tests import public_datasets


@pytest.fixture(scope="session")
def example_tables():
    return public_datasets.example_tables()


@pytest.fixture(scope="session")
def geo_tables():
    return public_datasets.geo_tables()
