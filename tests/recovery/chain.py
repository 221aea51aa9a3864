"""A world run through the platform itself: its landing zone validated by the real assets, then the model
chain of its last week materialized by Dagster with the defaults (no run config), as `umm materialize
--latest` does. Recovery tests read what the assets stored and score it against the world's truth."""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from tests.conftest import INSTANCE_CONFIG, VALIDATED, Platform
from umm_assets.definitions import build_defs
from umm_assets.lib import allocate, demo, market, oracle
from umm_assets.lib.outputs import MODEL_CHAIN
from umm_assets.lib.settings import Settings
from umm_assets.lib.truth import TrueResponse


@dataclass(frozen=True)
class World:
    """A recovery world by name (``demo-7``: ``umm demo`` seed 7; ``market-1``: the second family's seed 1)."""

    name: str
    simulated: demo.DemoWorld | market.MarketWorld
    design: oracle.Design  # what the oracle knows of it

    @classmethod
    def named(cls, name: str) -> World:
        family, seed = name.split("-")
        if family == "demo":
            simulated = demo.simulate(int(seed))
            return cls(name, simulated, oracle.demo_design(simulated))
        simulated = market.simulate(int(seed))
        return cls(name, simulated, oracle.market_design(simulated))

    def write(self, raw: Path) -> dict:
        """Its landing zone under ``raw``; returns its truth."""
        if isinstance(self.simulated, demo.DemoWorld):
            return demo.write_landing_zone(self.simulated, raw, int(self.name.split("-")[1]))
        return market.write_landing_zone(self.simulated, raw)


@contextlib.contextmanager
def platform_on(root: Path, write: Callable[[Path], dict]) -> Iterator[Platform]:
    """A platform (real definitions, instance, warehouse) on a landing zone ``write(raw)`` fills."""
    truth = write(root / "raw")
    settings = Settings.from_env({"UMM_RAW_URI": str(root / "raw"), "UMM_DATA_DIR": str(root / "warehouse"),
                                  "UMM_FIRST_WEEK": truth["first_week"]})
    (root / "home").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(root / "home"), overrides=INSTANCE_CONFIG) as instance:
        yield Platform(root / "raw", root / "warehouse", settings, build_defs(settings), instance, truth)


def run_chain(platform: Platform, assets=MODEL_CHAIN) -> None:
    """Validate every week, then the model chain of the last week with the platform's defaults."""
    truth = platform.truth
    if not platform.warehouse.partitions("validated_spend"):
        platform.materialize(VALIDATED, truth["first_week"], truth["last_week"])
    platform.materialize(assets, truth["last_week"])


def swap_attribution(platform: Platform, source: Path | None) -> None:
    """Replace the landing zone's attribution with ``source``'s (None: remove it) and re-validate it."""
    folder = platform.raw / "attribution"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    if source is not None:
        for file in source.iterdir():
            shutil.copy(file, folder / file.name)
    platform.materialize(["validated_attribution"], platform.truth["first_week"], platform.truth["last_week"])


def medians(platform: Platform, asset: str) -> dict[str, float]:
    draws = platform.warehouse.read(asset, platform.truth["last_week"], "roas_draws")
    return draws.groupby("channel")["roas"].median().to_dict()


def mape(estimates: dict[str, float], truth: dict[str, float]) -> float:
    return float(np.mean([abs(estimates[c] / truth[c] - 1) for c in truth]))


def true_roas(platform: Platform) -> dict[str, float]:
    return {c: v["roas"] for c, v in platform.truth["channels"].items()}


def captured(platform: Platform) -> tuple[float, pd.DataFrame]:
    """The stored plan's true uplift over the current split as a share of the true optimum's (same budget
    and bounds, locks included), and the splits side by side."""
    week = platform.truth["last_week"]
    table = platform.warehouse.read("allocation", week, "allocation").set_index("channel")
    truth = TrueResponse.from_truth(platform.truth)
    problem = allocate.build_problem(truth.channels, table["current"].to_dict(),
                                     float(table["recommended"].sum()),
                                     bounds={c: (r.lower_bound, r.upper_bound) for c, r in table.iterrows()})
    optimum = allocate.allocate(truth, problem, objective=allocate.Objective.EXPECTED).allocation.set_index("channel")
    base = truth.revenue(table["current"])
    share = (truth.revenue(table["recommended"]) - base) / (truth.revenue(optimum["recommended"]) - base)
    splits = pd.DataFrame({"current": table["current"], "recommended": table["recommended"],
                           "true_optimum": optimum["recommended"], "held": table["hold_reason"] != ""})
    return float(share), splits
