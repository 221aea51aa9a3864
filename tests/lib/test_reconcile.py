"""Reconciliation on posteriors with a known distortion: the demo world's true curves, with one
channel's effect inflated, as the "MMM"; the tests and attribution are the world's own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib import demo
from umm_assets.lib.reconcile import (
    FusionMethod,
    Posterior,
    ReconcileConfig,
    RefitNotConverged,
    attribution_signal,
    reconcile,
    sources_disagree,
    evidence_from_tests,
)

DRAWS = 300


@pytest.fixture(scope="module")
def world():
    return demo.simulate(seed=3, weeks=100)


def spend_long(world) -> pd.DataFrame:
    frame = world.spend.rename_axis("week").reset_index().melt(id_vars="week", var_name="channel", value_name="spend")
    return frame.assign(geo="national")


def lift_tests(world) -> pd.DataFrame:
    return world.tests.drop(columns=["true_lift"]).assign(geo="national")


def distorted_posterior(world, inflate: dict[str, float], noise: float = 0.05) -> Posterior:
    """Draws of the true curves with each channel's beta multiplied by ``inflate`` (and a little noise)."""
    truth = world.truth(seed=3)
    model = demo.true_response_model(truth)
    rng = np.random.default_rng(0)
    rows, contributions = [], []
    spend = spend_long(world)
    for d in range(DRAWS):
        for c in model.channels:
            t = truth["channels"][c]
            factor = inflate.get(c, 1.0) * rng.lognormal(0, noise)
            for name, value in (("adstock_alpha", t["alpha"]), ("saturation_slope", t["slope"]),
                                ("saturation_kappa", t["half_saturation"]), ("saturation_beta", t["beta"] * factor)):
                rows.append({"draw": d, "channel": c, "geo": "national", "name": name, "value": value})
    draws = pd.DataFrame(rows)
    posterior_model = Posterior(draws, model.spec, pd.DataFrame()).model()
    for c in model.channels:
        _, weekly = posterior_model.weekly_contributions(spend, c)
        contributions.append(pd.DataFrame({"draw": range(DRAWS), "channel": c, "contribution": weekly.sum(axis=1)}))
    spec = {**model.spec, "geo_shares": {"national": {c: 1.0 for c in model.channels}},
            "max_weekly_spend": world.spend.max().to_dict(), "current_spend": world.spend.tail(13).mean().to_dict()}
    return Posterior(draws, spec, pd.concat(contributions, ignore_index=True))


def median_roas(result) -> dict[str, float]:
    return result.tables["roas_draws"].groupby("channel")["roas"].median().to_dict()


def test_tests_are_compared_with_the_model_in_their_own_units(world):
    posterior = distorted_posterior(world, {})
    evidence, notes = evidence_from_tests(posterior.model(), lift_tests(world), spend_long(world),
                                    (world.weeks[0], world.weeks[-1]))
    assert not notes and len(evidence) == len(world.tests)
    for e, true_lift in zip(evidence, world.tests["true_lift"]):
        # the undistorted model predicts exactly what the world's go-dark test measured (before noise)
        assert np.median(e.predicted) == pytest.approx(true_lift, rel=0.06)


def test_bayesian_fusion_corrects_a_tested_channel_and_leaves_untested_ones(world):
    tested = world.tests["channel"].tolist()
    untested = [c for c in world.spend.columns if c not in tested]
    posterior = distorted_posterior(world, {tested[0]: 2.0})
    result = reconcile(posterior, lift_tests(world), spend_long(world), None,
                       ReconcileConfig(method=FusionMethod.BAYESIAN, tau=0.5))
    truth, before, after = world.true_roas(), posterior.contribution_matrix, median_roas(result)
    mmm_roas = result.tables["reconciled"].set_index("channel")["mmm_roas_mean"]
    assert mmm_roas[tested[0]] == pytest.approx(2 * truth[tested[0]], rel=0.1)
    assert after[tested[0]] == pytest.approx(truth[tested[0]], rel=0.15)  # pulled back from 2×
    for c in untested:
        assert after[c] == pytest.approx(mmm_roas[c], rel=0.05)  # no information, no change
    table = result.tables["reconciled"].set_index("channel")
    assert table.loc[tested[0], "weight_tests"] > 0.5 and (table.loc[untested, "weight_tests"] == 0).all()
    coverage = result.tables["test_coverage"]
    assert not coverage[(coverage.source == "mmm") & (coverage.channel == tested[0])]["covered"].iloc[0]
    assert coverage[coverage.source == "reconciled"]["covered"].all()
    assert result.tables["summary"]["disagreements"].iloc[0] >= 1  # MMM and test disagreed on that channel
    del before


def test_an_unconverged_calibrated_refit_falls_back_to_bayesian_fusion(world):
    tested = world.tests["channel"].iloc[0]
    posterior = distorted_posterior(world, {tested: 2.0})

    def refit():
        raise RefitNotConverged("R-hat 1.100 > 1.01")

    config = ReconcileConfig(method=FusionMethod.CALIBRATED, tau=0.5)
    fallback = reconcile(posterior, lift_tests(world), spend_long(world), None, config, refit=refit)
    bayesian = reconcile(posterior, lift_tests(world), spend_long(world), None,
                         ReconcileConfig(method=FusionMethod.BAYESIAN, tau=0.5))
    assert fallback.tables["summary"]["method"].iloc[0] == FusionMethod.BAYESIAN
    assert any("did not converge (R-hat 1.100 > 1.01)" in note for note in fallback.notes)
    pd.testing.assert_frame_equal(fallback.tables["roas_draws"], bayesian.tables["roas_draws"])


def test_weighted_average_uses_the_configured_weights_over_available_sources(world):
    tested = world.tests["channel"].iloc[0]
    posterior = distorted_posterior(world, {tested: 2.0})
    weights = {"mmm": 0.2, "tests": 0.8, "attribution": 0.0}
    result = reconcile(posterior, lift_tests(world), spend_long(world), None,
                       ReconcileConfig(method=FusionMethod.WEIGHTED, weights=weights))
    table = result.tables["reconciled"].set_index("channel")
    assert table.loc[tested, "weight_tests"] == pytest.approx(0.8) and table.loc[tested, "weight_mmm"] == 0.2
    expected = 0.2 * table.loc[tested, "mmm_roas_mean"] + 0.8 * table.loc[tested, "tests_roas_mean"]
    assert table.loc[tested, "roas_mean"] == pytest.approx(expected, rel=1e-6)  # the reported tests ROAS is the fused one
    untested = [c for c in table.index if table.loc[c, "n_tests"] == 0]
    assert (table.loc[untested, "weight_mmm"] == 1.0).all()


def attribution_with(world, biases: dict[str, float]) -> pd.DataFrame:
    rows = [{"week": w, "geo": "national", "channel": c, "model": "last_click",
             "attributed_revenue": world.contributions.loc[w, c] * biases[c], "attributed_conversions": np.nan}
            for w in world.weeks for c in world.spend.columns]
    return pd.DataFrame(rows)


def test_attribution_bias_comes_from_tests_and_a_disagreeing_bias_is_not_pooled(world):
    evidence, _ = evidence_from_tests(distorted_posterior(world, {}).model(), lift_tests(world), spend_long(world),
                                (world.weeks[0], world.weeks[-1]))
    channels = list(world.spend.columns)
    biases = {c: b for c, b in zip(channels, (0.2, 2.5, 1.0, 0.6, 0.4))}
    signal = attribution_signal(attribution_with(world, biases), spend_long(world), evidence, channels, 0.25)
    for c in world.tests["channel"]:
        # attributed over the test's days / measured lift = the bias (up to the test's noise)
        assert np.exp(signal.log_bias[c][0]) == pytest.approx(biases[c], rel=0.25)
        assert signal.source[c] == "tests"
    assert all(c not in signal.log_bias for c in channels if c not in set(world.tests["channel"]))
    assert "disagree" in signal.note


def test_a_consistent_bias_lets_untested_channels_gain_from_attribution(world):
    tested = set(world.tests["channel"])
    untested = [c for c in world.spend.columns if c not in tested][0]
    posterior = distorted_posterior(world, {untested: 1.8})
    attribution = attribution_with(world, {c: 1.5 for c in world.spend.columns})  # one bias for every channel
    plain = reconcile(posterior, lift_tests(world), spend_long(world), None,
                      ReconcileConfig(method=FusionMethod.BAYESIAN))
    fused = reconcile(posterior, lift_tests(world), spend_long(world), attribution,
                      ReconcileConfig(method=FusionMethod.BAYESIAN))
    truth = world.true_roas()[untested]
    table = fused.tables["reconciled"].set_index("channel")
    assert table.loc[untested, "attribution_bias_source"] == "pooled over tested channels"
    assert table.loc[untested, "weight_attribution"] > 0
    assert abs(median_roas(fused)[untested] - truth) < abs(median_roas(plain)[untested] - truth)


def test_disagreement_means_non_overlapping_intervals():
    row = {"mmm_roas_lower": 1.0, "mmm_roas_upper": 2.0, "tests_roas_mean": 3.0, "tests_roas_lower": 2.5,
           "tests_roas_upper": 3.5, "attribution_roas_calibrated_mean": np.nan}
    assert sources_disagree(row)
    assert not sources_disagree({**row, "tests_roas_lower": 1.9})
