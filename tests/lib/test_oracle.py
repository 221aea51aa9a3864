"""The information floor (lib/oracle): without noise the oracle recovers every world's true ROAS exactly,
so its errors on real draws are noise, not a wrong design."""

import dataclasses

import pytest

from umm_assets.lib import demo, market, oracle


def _noiseless(design: oracle.Design, noise, tests) -> oracle.Design:
    return dataclasses.replace(design, revenue=design.revenue - noise,
                               tests=tests.assign(lift=tests["true_lift"]))


@pytest.mark.parametrize("seed", [3, 7])
def test_the_oracle_recovers_a_demo_world_exactly_without_noise(seed):
    world = demo.simulate(seed)
    noise = (world.revenue - world.baseline - world.contributions.sum(axis=1)).to_numpy()
    floor = oracle.floor(_noiseless(oracle.demo_design(world), noise, world.tests))
    assert floor.truth == pytest.approx(world.true_roas(world.window_weeks), rel=1e-9)
    # within 1e-4: the oracle's yearly Fourier terms follow the calendar day, the generator's its own clock
    assert floor.estimate == pytest.approx(floor.truth, rel=1e-3)
    assert 0 < floor.expected_mape < 1


@pytest.mark.parametrize("seed", [1, 7])
def test_the_oracle_recovers_a_market_world_exactly_without_noise(seed):
    world = market.simulate(seed)
    design = oracle.market_design(world)
    floor = oracle.floor(_noiseless(design, world.noise, world.tests))
    truth = {c: v["roas"] for c, v in market.truth(world)["channels"].items()}
    assert floor.truth == pytest.approx(truth, rel=1e-9)
    assert floor.estimate == pytest.approx(truth, rel=1e-6)
    assert floor.actual_mape < 1e-6


def test_the_oracle_uses_only_the_tests_the_platform_was_given():
    world = market.simulate(7)
    fewer = oracle.market_design(world, tested=world.tests["channel"].iloc[:1])
    assert len(fewer.tests) == 1
    tested = fewer.tests["channel"].iloc[0]
    assert oracle.floor(fewer).relative_se[tested] > 0
