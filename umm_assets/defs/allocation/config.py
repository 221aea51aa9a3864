"""Run configuration of ``allocation``."""

import json

import dagster as dg

from umm_assets.lib.allocate import DEFAULT_CVAR_ALPHA, DEFAULT_MAX_CHANGE, DEFAULT_OBJECTIVE


class AllocationRunConfig(dg.Config):
    budget: float | None = None  # weekly budget; default: mean weekly total of the last 13 weeks
    max_change: float = DEFAULT_MAX_CHANGE  # default bounds: current spend × (1 ± max_change)
    bounds_json: str | None = None  # {"channel": [lower, upper]} in weekly spend; null keeps a default side
    locked: list[str] = []  # channels kept at their current spend
    # cvar (default): maximize the mean uplift over the current mix in the worst cvar_alpha share of
    # posterior draws; expected: the mean over all draws (see umm_assets.lib.allocate)
    objective: str = DEFAULT_OBJECTIVE.value
    cvar_alpha: float = DEFAULT_CVAR_ALPHA

    def bounds(self) -> dict[str, tuple[float | None, float | None]]:
        return {c: (lo, hi) for c, (lo, hi) in json.loads(self.bounds_json or "{}").items()}
