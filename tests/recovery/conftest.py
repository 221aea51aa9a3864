"""Slow recovery tests: full-length fits against known truth (marked ``slow``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from chain import World, platform_on, run_chain

from tests import public_datasets
from tests.conftest import Platform


@pytest.fixture(scope="session")
def example_tables():
    return public_datasets.example_tables()


@pytest.fixture(scope="session")
def geo_tables():
    return public_datasets.geo_tables()


@pytest.fixture(scope="session")
def modelled_world(tmp_path_factory) -> Iterator[Callable[[str], tuple[World, Platform]]]:
    """``modelled_world("demo-7")``: the world through the platform with its defaults (validated, then the
    whole model chain of its last week, experiment_plan included), once per session, shared by the tests that
    score it (read-only: copy it before changing anything)."""
    with contextlib.ExitStack() as open_platforms:
        built: dict[str, tuple[World, Platform]] = {}

        def modelled(name: str) -> tuple[World, Platform]:
            if name not in built:
                world = World.named(name)
                platform = open_platforms.enter_context(platform_on(tmp_path_factory.mktemp(name), world.write))
                run_chain(platform)
                built[name] = world, platform
            return built[name]

        yield modelled
