"""Run configuration of ``allocation``."""

import json

import dagster as dg

from umm_assets.lib.allocate import DEFAULT_MAX_CHANGE, Objective


class AllocationRunConfig(dg.Config):
    budget: float | None = None  # weekly budget; default: mean weekly total of the last 13 weeks
    max_change: float = DEFAULT_MAX_CHANGE  # default bounds: current spend × (1 ± max_change)
    bounds_json: str | None = None  # {"channel": [lower, upper]} in weekly spend; null keeps a default side
    locked: list[str] = []  # channels kept at their current spend
    objective: str = Objective.EXPECTED.value  # expected | cvar
    cvar_alpha: float = 0.1  # cvar: mean revenue of the worst 10 % of posterior draws

    def bounds(self) -> dict[str, tuple[float | None, float | None]]:
        return {c: (lo, hi) for c, (lo, hi) in json.loads(self.bounds_json or "{}").items()}
