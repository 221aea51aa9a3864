"""Reconciliation and allocation against known truth, with the platform's defaults (full-length fits;
saturation chosen by PSIS-LOO between logistic and Hill, as mmm_posterior does by default).

- mmm_roas_data.csv: an unobserved confounder makes a plain MMM over-credit x1; lift tests fix it.
- `umm demo` worlds (Hill-shaped truth, 3 tests on the 3 largest budgets, biased last-click).
The numbers are printed (``pytest -s``) for the record.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
from worlds import World, demo_world, fit_chosen, fit_converged, mape, roas_data_world

from umm_assets.lib import allocate, demo
from umm_assets.lib.mmm.calibration import ExactLiftTests
from umm_assets.lib.mmm.config import MMMConfig
from umm_assets.lib.mmm.frame import build_model_frame
from umm_assets.lib.reconcile import Posterior, ReconcileConfig, reconcile

pytestmark = pytest.mark.slow
# 7: the world where the expected-revenue plan over-moves into a barely identified curve (the CVaR default's
# reason). 11: the world where the saturation family decides the plan and LOO can hardly tell them apart
# (locally Hill +0.7 ± 1.9, kept by the tie rule; its Hill fit needs the retry at target_accept 0.99 in a
# clean clone). Seeds 3, 5, 13, 19 are measured outside CI (README "Measured"): ~9 minutes each.
DEMO_SEEDS = (7, 11)


def _fit_and_reconcile(world: World):
    frame = build_model_frame(world.spend, world.outcomes, None if world.controls.empty else world.controls)
    config = MMMConfig(holdout_weeks=0, window_weeks=max(156, frame.n_weeks))
    chosen, plain, comparison = fit_chosen(frame, config)
    print(f"\n[{world.name}] saturation chosen by PSIS-LOO:\n{comparison.round(1).to_string(index=False)}")
    calibrated = ExactLiftTests(world.tests)
    result = reconcile(Posterior.from_summaries(plain), world.tests, world.spend, world.attribution, ReconcileConfig(),
                       refit=lambda: Posterior.from_summaries(
                           fit_converged(frame, chosen.config, calibration=calibrated, holdout=False)[1]))
    return plain, result, comparison


@pytest.fixture(scope="module", params=["mmm_roas_data", *(f"demo-{s}" for s in DEMO_SEEDS)])
def fitted(request):
    world = roas_data_world() if request.param == "mmm_roas_data" else demo_world(int(request.param.split("-")[1]))
    plain, result, comparison = _fit_and_reconcile(world)
    return world, plain, result, comparison


def _medians(draws: pd.DataFrame) -> dict[str, float]:
    return draws.groupby("channel")["roas"].median().to_dict()


def test_reconciled_roas_is_closer_to_the_truth_than_the_plain_mmm(fitted):
    world, plain, result, _ = fitted
    before, after = _medians(plain.roas_draws), _medians(result.tables["roas_draws"])
    print(f"\n[{world.name}] method {result.tables['summary']['method'].iloc[0]}; notes: {result.notes}")
    for channel, true in world.true_roas.items():
        print(f"  {channel:8s} true {true:8.3f}   plain MMM {before[channel]:8.3f}   reconciled {after[channel]:8.3f}")
    plain_error, reconciled_error = mape(before, world.true_roas), mape(after, world.true_roas)
    print(f"  ROAS MAPE: plain MMM {plain_error:.1%} -> reconciled {reconciled_error:.1%}")
    coverage = result.tables["summary"].iloc[0]
    print(f"  tests inside the 90 % predictive interval: MMM {coverage['coverage_mmm']:.0%}, "
          f"reconciled {coverage['coverage_reconciled']:.0%}")
    assert reconciled_error < plain_error
    assert coverage["coverage_reconciled"] >= coverage["coverage_mmm"]
    if world.name == "mmm_roas_data":  # the confounded channel, pulled back by its experiments
        assert reconciled_error <= 0.10
        assert after["x1"] == pytest.approx(world.true_roas["x1"], rel=0.15)


def test_allocation_captures_most_of_the_true_uplift(fitted):
    world, _, result, comparison = fitted
    if world.truth is None:
        pytest.skip("no true response curves for this world")
    tables = result.tables
    model = Posterior.from_tables(tables.__getitem__).model()
    truth_model = demo.true_response_model(world.truth)
    current = allocate.current_spend(world.spend)
    problem = allocate.build_problem(model.channels, current)
    recommended = allocate.allocate(model, problem).allocation.set_index("channel")["recommended"]  # the default
    optimum = allocate.allocate(truth_model, problem, objective=allocate.Objective.EXPECTED)
    optimum = optimum.allocation.set_index("channel")["recommended"]

    def true_revenue(spend: pd.Series) -> float:
        return float(truth_model.response(spend.reindex(list(truth_model.channels)).to_numpy()).sum())

    base = true_revenue(pd.Series(current))
    captured = (true_revenue(recommended) - base) / (true_revenue(optimum) - base)
    print(f"\n[{world.name}] weekly budget {problem.budget:,.0f}: true uplift of the recommendation "
          f"{true_revenue(recommended) - base:,.0f} of the true optimum's {true_revenue(optimum) - base:,.0f} "
          f"({captured:.0%} captured)")
    for channel in model.channels:
        print(f"  {channel:8s} current {current[channel]:9,.0f}  recommended {recommended[channel]:9,.0f}  "
              f"true optimum {optimum[channel]:9,.0f}")
    assert np.isclose(recommended.sum(), problem.budget)
    assert captured > 0, "the recommendation earns less than the current split under the true curves"
    kept = comparison.loc[comparison["chosen"], "saturation"].item()
    assert captured >= 0.70, f"{kept} kept; LOO: " + comparison.round(2).to_string(index=False).replace("\n", " | ")
