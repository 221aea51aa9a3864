"""The experiment plan on a posterior whose channels are known to different degrees (the demo world's true curves,
200 draws around them): video very uncertain, search known almost exactly, the others in between."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib import allocate
from umm_assets.lib import experiment_plan as ep
from umm_assets.lib.mmm.response import ResponseModel

SPREAD = {"video": 0.5, "search": 0.01}  # lognormal sd of beta and kappa; the other channels 0.1
FAST = {"n_outcomes": 24, "durations": (4,)}  # what the module-wide plans use: a few seconds


def spread_posterior(truth, true_model, spread, n_draws=200, seed=0) -> ResponseModel:
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_draws):
        for c in true_model.channels:
            t, sd = truth["channels"][c], spread.get(c, 0.1)
            for name, value in (("adstock_alpha", t["alpha"]), ("saturation_slope", t["slope"]),
                                ("saturation_kappa", t["half_saturation"]), ("saturation_beta", t["beta"])):
                noise = rng.lognormal(0, sd) if name in ("saturation_kappa", "saturation_beta") else 1.0
                rows.append({"draw": d, "channel": c, "geo": "national", "name": name, "value": value * noise})
    return ResponseModel.from_draws(pd.DataFrame(rows), true_model.spec)


@pytest.fixture(scope="module")
def model(truth, true_model):
    return spread_posterior(truth, true_model, SPREAD)


@pytest.fixture(scope="module")
def spend(truth):
    weekly = truth["weekly"]
    return pd.DataFrame([{"week": pd.Timestamp(week), "channel": c, "spend": weekly["spend"][c][i]}
                         for c in weekly["spend"] for i, week in enumerate(weekly["week"])])


@pytest.fixture(scope="module")
def tests_table(truth):
    return pd.DataFrame(truth["tests"])


@pytest.fixture(scope="module")
def problem(model, current):
    return allocate.build_problem(model.channels, current)


@pytest.fixture(scope="module")
def result(model, spend, problem, tests_table):
    return ep.plan(model, spend, problem, tests_table, seed=0, **FAST)


@pytest.fixture(scope="module")
def other_seed(model, spend, problem, tests_table):
    return ep.plan(model, spend, problem, tests_table, seed=1, **FAST)


def best_by_channel(plan: ep.ExperimentPlan) -> pd.DataFrame:
    return plan.best.set_index("channel")


# --- the plan's behaviour ---------------------------------------------------------------------------------------


def test_the_uncertain_channel_ranks_first_and_the_known_one_gets_almost_nothing(result):
    designs, best = result.designs, best_by_channel(result)
    assert list(designs.columns) == ep.COLUMNS and designs["rank"].tolist() == list(range(1, len(designs) + 1))
    assert designs.iloc[0]["channel"] == "video" and best.loc["video", "worth_it"]
    video = best.loc["video", "value_per_week"]
    search = designs[designs["channel"] == "search"]
    assert (search["value_per_week"].abs() < 0.01 * video).all()  # a test cannot teach what is known
    assert (search["plan_change_share"] == 0).all() and not search["worth_it"].any()
    assert "search" in result.not_worth_testing and "video" not in result.not_worth_testing


def test_a_channel_whose_uncertainty_cannot_change_the_plan_gets_almost_nothing(model, spend, current, result,
                                                                                 tests_table):
    locked = allocate.build_problem(model.channels, current, locked=["video"])  # the plan may not move video
    plan = ep.plan(model, spend, locked, tests_table, channels=["video"], **FAST)
    free = result.designs[result.designs["channel"] == "video"]["value_per_week"].max()
    assert plan.designs["value_per_week"].abs().max() < 0.1 * free  # what is left: chance correlations of 200 draws
    # the interval still narrows: the test teaches, the plan just cannot use it
    assert (plan.designs["roas_halfwidth_after"] < plan.designs["roas_halfwidth_today"]).all()


def test_the_interval_narrows_after_a_test(result):
    d = result.designs
    assert (d["roas_halfwidth_after"] <= d["roas_halfwidth_today"] * 1.01).all()
    video_holdout = d[(d["channel"] == "video") & (d["kind"] == "holdout") & (d["spend_level"] == "usual")].iloc[0]
    assert video_holdout["roas_halfwidth_today"] > 0.8  # the prior is wide ...
    assert video_holdout["roas_halfwidth_after"] < 0.5 * video_holdout["roas_halfwidth_today"]  # ... a holdout reads it
    # a holdout reads a channel's level better than a +50 % change with the same noise in money
    increase = d[(d["channel"] == "video") & (d["kind"] == "increase") & (d["spend_level"] == "usual")].iloc[0]
    assert video_holdout["roas_halfwidth_after"] < increase["roas_halfwidth_after"]


def test_the_value_is_not_negative_beyond_its_monte_carlo_error(result):
    d = result.designs
    tolerance = 0.01 * result.settings["material_value_per_week"]  # the optimizer's own tolerance, in money
    assert (d["value_per_week"] + 3 * d["value_per_week_se"] + tolerance >= 0).all()
    assert (d["value_per_week_se"] > 0).any() and np.isfinite(d["value_per_week_se"]).all()
    assert (d["value_per_week_lower"] <= d["value_per_week"]).all()
    assert (d["value_per_week"] <= d["value_per_week_upper"]).all()


def test_the_ranking_is_stable_across_seeds_when_the_top_leads_by_more_than_its_error(result, other_seed):
    first = result.best.sort_values("net_value", ascending=False)
    top, runner_up = first.iloc[0], first.iloc[1]
    error = 2 * np.hypot(top["value_per_week_se"], runner_up["value_per_week_se"]) * top["horizon_weeks"]
    assert top["net_value"] - runner_up["net_value"] > error  # the premise holds in this world
    assert other_seed.best.sort_values("net_value", ascending=False).iloc[0]["channel"] == top["channel"]


def test_a_test_that_teaches_nothing_is_worth_nothing(model, spend, problem):
    plan = ep.plan(model, spend, problem, channels=["video"], noise_cv=1e4, **FAST)
    d = plan.designs
    assert (d["value_per_week"].abs() < 1e-6 * plan.settings["material_value_per_week"] * 1e3).all()
    assert (d["plan_change_share"] == 0).all() and not d["worth_it"].any()
    assert np.allclose(d["roas_halfwidth_after"], d["roas_halfwidth_today"], rtol=0.02)


def test_too_few_draws_for_a_precise_test_is_flagged_not_hidden(model, spend, problem):
    plan = ep.plan(model, spend, problem, channels=["video"], noise_cv=0.002, kinds=(ep.Kind.HOLDOUT,), **FAST)
    row = plan.designs.iloc[0]
    assert row["ess"] < ep.MIN_ESS and not row["reweighting_reliable"]
    assert any("video holdout" in note and "rough" in note for note in plan.notes)
    assert "rough: only ≈" in ep.sentence(row)


def test_a_holdouts_cost_is_positive_and_grows_with_its_weeks(model, spend, problem):
    start = ep.simulated_window(spend, model, 1)[0]
    usual = dict(zip(problem.channels, problem.current))
    steady = model.response(problem.current)  # (D, C) weekly revenue at the usual spend
    forgone = {}
    for weeks in (2, 4, 6):
        design = ep.Design("search", ep.Kind.HOLDOUT, weeks, ep.Level.USUAL, usual["search"])
        lifts = ep.design_lifts(model, design, start)
        forgone[weeks] = lifts["forgone"].mean()
        # the revenue of its weeks is lost, carry-over included; the test itself reads less (carry-in remains)
        assert forgone[weeks] == pytest.approx(weeks * steady[:, model.channel_index("search")].mean(), rel=0.1)
        assert (lifts["measured"] > 0).all() and (lifts["measured"] < lifts["forgone"]).all()
        assert design.spend_saved == pytest.approx(weeks * usual["search"])
    assert forgone[2] < forgone[4] < forgone[6] and forgone[6] / forgone[2] == pytest.approx(3, rel=0.1)
    plan = ep.plan(model, spend, problem, channels=["search"], kinds=(ep.Kind.HOLDOUT,), n_outcomes=8)
    costs = plan.designs.set_index("weeks").sort_index()["cost"]
    assert (costs > 0).all() and costs.is_monotonic_increasing  # search earns more than the plan's margin


def test_a_spend_increase_reads_the_curve_above_the_usual_spend(model, spend, problem):
    start = ep.simulated_window(spend, model, 1)[0]
    s = float(problem.current[model.channel_index("tv")])
    design = ep.Design("tv", ep.Kind.INCREASE, 4, ep.Level.USUAL, s)
    lifts = ep.design_lifts(model, design, start)
    spend_now, spend_up = problem.current.copy(), problem.current.copy()
    spend_up[model.channel_index("tv")] *= 1 + ep.SPEND_CHANGE
    extra = (model.response(spend_up) - model.response(spend_now))[:, model.channel_index("tv")]
    assert -lifts["forgone"].mean() == pytest.approx(4 * extra.mean(), rel=0.1)
    assert (lifts["measured"] > 0).all() and (lifts["measured"] < lifts["holdout"]).all()
    assert design.test_weekly_spend == pytest.approx(1.5 * s) and design.spend_saved == pytest.approx(-2 * s)


# --- the parts -----------------------------------------------------------------------------------------------------


def test_noise_comes_from_past_tests_scaled_to_four_weeks():
    tests = pd.DataFrame({
        "test_id": ["a", "b", "c"], "channel": ["tv"] * 3, "lift": [100.0, 200.0, 0.0],
        "lift_ci_lower": [100 - 1.645 * 20, 200 - 1.645 * 20, -10.0],
        "lift_ci_upper": [100 + 1.645 * 20, 200 + 1.645 * 20, 10.0],
        "start_date": ["2024-01-01"] * 3, "end_date": ["2024-01-28", "2024-02-25", "2024-01-28"]})
    noise = ep.noise_from_tests(tests)  # 20 % over 4 weeks; 10 % over 8 weeks is 14 % over 4; a zero lift is skipped
    assert noise.source == "past tests" and noise.n_tests == 2
    assert noise.cv == pytest.approx(np.median([0.2, 0.1 * np.sqrt(2)]), rel=1e-3)
    assert ep.noise_from_tests(None) == ep.Noise(ep.DEFAULT_NOISE_CV, "default")
    assert ep.noise_from_tests(tests.iloc[2:]).source == "default"


def test_candidate_designs_list_each_test_once():
    designs = ep.candidate_designs(["tv", "video", "radio"], {"tv": 100.0, "video": 100.0, "radio": 0.0},
                                   {"tv": 103.0, "video": 150.0, "radio": 50.0})
    count = pd.Series([(d.channel, d.level) for d in designs]).value_counts()
    assert count[("tv", ep.Level.USUAL)] == 6 and ("tv", ep.Level.RECOMMENDED) not in count  # within 5 %: the same
    assert count[("video", ep.Level.USUAL)] == 6 and count[("video", ep.Level.RECOMMENDED)] == 6
    assert ("radio", ep.Level.USUAL) not in count and count[("radio", ep.Level.RECOMMENDED)] == 6  # no spend today


def test_weighted_quantiles_cvar_and_resampling():
    rng = np.random.default_rng(0)
    values = rng.normal(size=400)
    uniform = np.full((1, 400), 1.0)
    got = ep.weighted_quantiles(values, uniform, (0.05, 0.5, 0.95))[0]
    assert np.allclose(got, np.quantile(values, (0.05, 0.5, 0.95), method="inverted_cdf"))
    point = np.zeros((1, 400))
    point[0, 7] = 1.0
    assert np.allclose(ep.weighted_quantiles(values, point, (0.05, 0.95))[0], values[7])
    ranks = np.arange(1.0, 101.0)
    assert ep.weighted_cvar(ranks[None, :], np.full((1, 100), 1.0), 0.25)[0] == pytest.approx(13.0)
    assert ep.systematic_resample(np.full(50, 0.02), 0.3).tolist() == list(range(50))
    assert set(ep.systematic_resample(np.eye(50)[3], 0.7).tolist()) == {3}


def test_a_sentence_a_marketer_reads(result):
    row = result.best.iloc[0].to_dict()
    text = ep.sentence(row)
    assert text.startswith(f"test {row['channel']} for {row['weeks']} weeks")
    today, after = 100 * row["roas_halfwidth_today"], 100 * row["roas_halfwidth_after"]
    assert f"interval ±{today:.0f} % → ±{after:.0f} %" in text
    assert "more revenue per week from a better split" in text and "worth it over 13 weeks" in text
    assert len(ep.sentences(result, best_only=True)) == result.designs["channel"].nunique()


def test_unknown_channel_is_refused_by_name(model, spend, problem):
    with pytest.raises(KeyError, match="radio"):
        ep.plan(model, spend, problem, channels=["radio"])


def test_the_recommended_spend_and_the_plain_mmm_guard_are_those_of_the_allocation(model, spend, problem):
    recommended = dict(zip(problem.channels, problem.current)) | {"video": 9000.0}
    plan = ep.plan(model, spend, problem, recommended=recommended, reference=allocate.Reference(model),
                   channels=["video"], kinds=(ep.Kind.HOLDOUT,), n_outcomes=8, durations=(4,))
    levels = plan.designs.set_index("spend_level")["weekly_spend"]
    assert levels["recommended"] == pytest.approx(9000.0)
    assert levels["usual"] == pytest.approx(problem.current[model.channel_index("video")])
    assert np.isfinite(plan.designs["value_per_week"]).all() and (plan.designs["optimizer_failures"] == 0).all()
