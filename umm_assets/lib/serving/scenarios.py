"""Custom budget scenarios from a stored ``allocation`` week: the one solver cache of the API and the dashboard.

A :class:`~umm_assets.lib.allocate.ScenarioSolver` rebuilds the week's response model from its stored
draws (tens of milliseconds); kept per stored version, every later solve only optimizes (a few ms).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from umm_assets.lib.allocate import AllocationResult, ScenarioSolver
from umm_assets.lib.outputs import ALLOCATION
from umm_assets.lib.serving.reader import CachedReader, Snapshot

SOLVER_VIEW = "scenario-solver"

Bounds = Mapping[str, tuple[float | None, float | None]]


def solver(reader: CachedReader, snapshot: Snapshot) -> ScenarioSolver:
    """The solver of the snapshot's stored version, built once and kept in the reader's cache."""
    commit = snapshot.commit
    key = (SOLVER_VIEW, commit.asset, commit.partition, commit.version)  # exactly this version, never a newer one
    found = reader.views.get(key)
    if found is None:
        found = ScenarioSolver(snapshot)
        reader.views.put(key, found)
    return found


def solve(reader: CachedReader, as_of: str | None, budget: float, bounds: Bounds | None = None,
          locked: Mapping[str, float] | Sequence[str] | None = None) -> tuple[AllocationResult, Snapshot]:
    """One scenario on the ``allocation`` week ``as_of`` (default: the newest), and the snapshot it used.

    Raises the solver's domain errors (``allocate.UnknownChannel``, ``allocate.InfeasibleBudget``) and
    ``NotMaterialized``.
    """
    key = (float(budget), tuple(sorted((bounds or {}).items())),
           tuple(sorted(locked.items())) if isinstance(locked, Mapping) else tuple(sorted(locked or ())))
    return reader.view("scenario", ALLOCATION, as_of, key,
                       lambda snapshot: (solver(reader, snapshot).solve(budget, bounds, locked), snapshot))
