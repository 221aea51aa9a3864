"""experiment_plan held to the truth (issue 17): the test it ranks first teaches more than the test it ranks last.

A demo world goes through the platform with its defaults (``modelled_world``: the chain of its last week,
experiment_plan included). Then, once for the channel ranked first and once for the channel ranked last, the
generator runs that channel's best design as a holdout of the same length, in the latest weeks the channel was
on air (:func:`umm_assets.lib.demo.latest_holdout`: the measured lift comes from the true curves, with the
generator's noise), the result is dropped into a copy of the landing zone, and validated_tests,
reconciled_lift and allocation are materialized again. Scored against the truth: the reconciled ROAS error
falls more after the first-ranked test, and its plan captures at least as much of the true optimum's uplift.

What the simulation leaves out, said so the numbers are read right: the test sits inside the fitted window
rather than after it (so no new week of spend and revenue comes with it), and it is always a holdout (the
landing zone's tests are holdouts: a spend-increase test's lift is not expressible in the data contract).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from chain import captured, mape, medians, platform_on, true_roas

from tests.conftest import Platform
from umm_assets.lib import demo

# Not met yet (README, Measured): on demo-7 the first-ranked test (video) left the reconciled ROAS error higher
# than the last-ranked (search). It runs with the held-out worlds (make test-ops) until it is met.
pytestmark = [pytest.mark.slow, pytest.mark.held_out_world]

WORLDS = ("demo-7", "demo-3")
# the captured uplift of two good plans differs by the fits' Monte-Carlo noise: "at least as much" within 2 points
CAPTURE_TOLERANCE = 0.02


@contextlib.contextmanager
def copy_of(platform: Platform, root) -> Iterator[Platform]:
    """The platform's landing zone and warehouse copied under ``root``, with a new instance."""
    shutil.copytree(platform.data_dir, root / "warehouse")

    def copy_raw(raw):
        shutil.copytree(platform.raw, raw)
        return platform.truth

    with platform_on(root, copy_raw) as copied:
        yield copied


def run_test(platform: Platform, world: demo.DemoWorld, design: pd.Series, seed: int) -> dict:
    """The design's channel tested in the world (a holdout of its length), added to the landing zone."""
    row = demo.latest_holdout(world, design["channel"], int(design["weeks"]), np.random.default_rng(seed),
                              f"N01-{design['channel']}")
    test = pd.DataFrame([row]).drop(columns=["true_lift"])
    for column in ("start_date", "end_date"):
        test[column] = test[column].dt.date.astype(str)
    test.to_csv(platform.raw / "incrementality_tests" / "next_test.csv", index=False)
    return row


def score(platform: Platform) -> dict:
    truth = true_roas(platform)
    return {"mape": mape(medians(platform, "reconciled_lift"), truth), "captured": captured(platform)[0]}


@pytest.fixture(scope="module", params=WORLDS)
def outcomes(request, modelled_world, tmp_path_factory) -> tuple[str, dict]:
    """The world's scores before any new test, after the first-ranked channel's and after the last-ranked's."""
    world, base = modelled_world(request.param)
    week = base.truth["last_week"]
    designs = base.warehouse.read("experiment_plan", week, "designs")
    best = designs[designs["best"]].sort_values("rank")
    got = {"before": score(base), "designs": best}
    for label, design in (("first", best.iloc[0]), ("last", best.iloc[-1])):
        with copy_of(base, tmp_path_factory.mktemp(f"{request.param}-{label}")) as variant:
            got[f"{label}_test"] = run_test(variant, world.simulated, design, seed=len(label))
            variant.materialize(["validated_tests"], base.truth["first_week"], week)
            variant.materialize(["reconciled_lift", "allocation"], week)
            got[label] = score(variant)
    print(f"\n[{request.param}] ranked: {', '.join(best['channel'])}")
    for label in ("before", "first", "last"):
        test = got.get(f"{label}_test")
        print(f"  {label:6s} reconciled ROAS MAPE {got[label]['mape']:.1%}, plan captures {got[label]['captured']:.0%}"
              + (f"  (test of {test['channel']}, {test['lift']:,.0f} measured, {test['true_lift']:,.0f} true)"
                 if test else ""))
    return request.param, got


def test_the_first_ranked_test_lowers_the_roas_error_more_than_the_last_ranked(outcomes):
    name, got = outcomes
    gained = {label: got["before"]["mape"] - got[label]["mape"] for label in ("first", "last")}
    assert gained["first"] > gained["last"], f"{name}: MAPE {got['before']['mape']:.1%} -> first " \
        f"{got['first']['mape']:.1%}, last {got['last']['mape']:.1%}"


def test_the_first_ranked_test_leaves_a_plan_at_least_as_good(outcomes):
    name, got = outcomes
    assert got["first"]["captured"] >= got["last"]["captured"] - CAPTURE_TOLERANCE, name
