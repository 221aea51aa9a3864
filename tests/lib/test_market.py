"""The second family of synthetic worlds and the true curves any family's truth describes."""

from __future__ import annotations

import numpy as np
import pytest

from umm_assets.lib import allocate, demo, market
from umm_assets.lib.truth import TrueResponse


def test_each_seed_draws_its_own_structure():
    worlds = [market.truth(market.simulate(seed)) for seed in range(1, 7)]
    shapes = {tuple(sorted((c, v["saturation"]["type"]) for c, v in t["channels"].items())) for t in worlds}
    assert len(shapes) == 6  # no two seeds share channels and curve families
    kinds = {v["saturation"]["type"] for t in worlds for v in t["channels"].values()}
    assert kinds == {"hill", "exponential"}
    delayed = [np.argmax(v["kernel"]) > 0 for t in worlds for v in t["channels"].values()]
    assert any(delayed) and not all(delayed)  # some carry-over peaks weeks after the spend


def test_demand_moves_the_spend_of_the_channels_that_chase_it():
    world = market.simulate(4, tested=("search", "social"), confounded=("search",), channels=5)
    def correlation(channel: str) -> float:  # over the weeks on air (flighted channels have zeros)
        on = world.spend[channel].to_numpy() > 0
        return float(np.corrcoef(world.demand[on], np.log(world.spend[channel].to_numpy()[on]))[0, 1])

    assert correlation("search") > 0.5 and abs(correlation("social")) < 0.3


@pytest.mark.parametrize("biases", list(market.Biases))
def test_last_click_biases_follow_the_scenario(biases):
    world = market.simulate(2, tested=("search", "social"), channels=6, biases=biases)
    bias = {c.name: c.last_click_bias for c in world.channels}
    tested, untested = [bias["search"], bias["social"]], [b for c, b in bias.items() if c not in ("search", "social")]
    if biases == market.Biases.SHARED:
        assert np.ptp(np.log(list(bias.values()))) < 0.3
    elif biases == market.Biases.AGREE:
        assert abs(np.log(tested[0] / tested[1])) < 0.3 and np.ptp(np.log(untested)) > 1.0
    else:
        assert bias["search"] > 1.5 and np.ptp(np.log(list(bias.values()))) > 1.0


def test_truth_scores_the_world_it_describes(tmp_path):
    truth = market.generate(tmp_path / "raw", seed=5)
    for channel, roas in demo.true_roas(truth, truth["last_week"]).items():
        assert roas == pytest.approx(truth["channels"][channel]["roas"], rel=1e-3)
    curves = TrueResponse.from_truth(truth)
    spend = np.array([truth["channels"][c]["mean_weekly_spend_last_13_weeks"] for c in curves.channels])
    revenue, marginal = curves.response(spend, derivative=True)
    step = 1e-3 * spend
    numeric = (curves.response(spend + step) - curves.response(spend - step)) / (2 * step)
    np.testing.assert_allclose(marginal, numeric, rtol=1e-5)
    problem = allocate.build_problem(curves.channels, dict(zip(curves.channels, spend)))
    best = allocate.allocate(curves, problem, objective=allocate.Objective.EXPECTED)
    assert best.summary["status"] == "optimal" and best.summary["uplift_mean"] >= 0
    for test in truth["tests"]:
        assert test["true_lift"] > 0 and test["lift_ci_lower"] <= test["lift"] <= test["lift_ci_upper"]
