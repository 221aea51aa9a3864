"""The budget optimizer on known response curves (the demo world's truth)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import OptimizeResult

from umm_assets.lib import allocate, support
from umm_assets.lib.mmm.response import ResponseModel


def revenue(model, spend: np.ndarray) -> float:
    return float(model.response(spend).sum(axis=1).mean())


def test_optimum_beats_every_feasible_alternative(true_model, current):
    problem = allocate.build_problem(true_model.channels, current)
    result = allocate.allocate(true_model, problem)
    x = result.allocation["recommended"].to_numpy()
    assert result.summary["status"] == "optimal"
    assert x.sum() == pytest.approx(problem.budget) and (x >= problem.lower - 1e-6).all()
    assert (x <= problem.upper + 1e-6).all()
    best = revenue(true_model, x)
    rng = np.random.default_rng(1)
    for _ in range(2000):  # random feasible allocations never do better
        candidate = allocate._project(rng.uniform(problem.lower, problem.upper), problem)
        assert revenue(true_model, candidate) <= best + 1e-6 * best
    # interior channels share one marginal ROAS
    interior = (x > problem.lower + 1) & (x < problem.upper - 1)
    marginal = result.allocation["marginal_roas_recommended"].to_numpy()[interior]
    assert interior.sum() >= 2 and np.ptp(marginal) < 1e-3 * marginal.mean()
    assert result.summary["uplift_mean"] > 0


def test_bounds_and_locks_are_applied_by_channel_name(true_model, current):
    channels = true_model.channels
    assert list(channels) == sorted(channels)
    # named out of alphabetical order on purpose (pymc-marketing#2323 applied bounds by position)
    bounds = {"video": (0.0, 1000.0), "display": (9000.0, 9000.5)}
    problem = allocate.build_problem(channels, current, bounds=bounds, locked=["tv"])
    result = allocate.allocate(true_model, problem).allocation.set_index("channel")
    assert result.loc["video", "recommended"] <= 1000.0 + 1e-6
    assert 9000.0 - 1e-6 <= result.loc["display", "recommended"] <= 9000.5 + 1e-6
    assert result.loc["tv", "recommended"] == pytest.approx(current["tv"]) and result.loc["tv", "locked"]
    assert result["recommended"].sum() == pytest.approx(problem.budget)


def test_infeasible_and_invalid_requests(true_model, current):
    channels = true_model.channels
    with pytest.raises(allocate.InfeasibleBudget, match="above the sum of upper bounds"):
        allocate.build_problem(channels, current, budget=10 * sum(current.values()))
    with pytest.raises(allocate.InfeasibleBudget, match="below the sum of lower bounds"):
        allocate.build_problem(channels, current, budget=0.1 * sum(current.values()))
    with pytest.raises(allocate.InfeasibleBudget, match="non-negative"):
        allocate.build_problem(channels, current, budget=-5)
    with pytest.raises(allocate.InfeasibleBudget, match="tv are invalid"):
        allocate.build_problem(channels, current, bounds={"tv": (10.0, 5.0)})
    with pytest.raises(allocate.UnknownChannel, match="unknown channel 'radio'"):
        allocate.build_problem(channels, current, locked=["radio"])


def test_flat_gradients_are_reported_not_returned_as_optimal(true_model, current):
    flat = ResponseModel(true_model.channels, true_model.geos, true_model.draws,
                         {**true_model.params, "saturation_beta": np.zeros_like(true_model.params["saturation_beta"])},
                         true_model.channel_scale, true_model.target_scale, true_model.weights, true_model.spec)
    solution = allocate.optimize(flat, allocate.build_problem(flat.channels, current))
    assert solution.status == "failed" and "flat gradients" in solution.message


def test_a_one_iteration_exit_at_the_start_point_is_caught(true_model, current, monkeypatch):
    """pymc-marketing#1624/#1681: the optimizer returned its start point after one iteration."""
    monkeypatch.setattr(allocate, "minimize",
                        lambda fun, x0, **kw: OptimizeResult(x=x0, nit=1, success=True, message="Optimization terminated successfully"))
    solution = allocate.optimize(true_model, allocate.build_problem(true_model.channels, current))
    assert solution.status == "failed" and "after one iteration" in solution.message


def test_the_default_plan_protects_the_uplift_in_the_worst_draws(noisy_model, current):
    """The default objective maximizes the uplift over the current mix in the worst quarter of draws; the
    expected plan earns more on average and less in those draws."""
    assert (allocate.DEFAULT_OBJECTIVE, allocate.DEFAULT_CVAR_ALPHA) == (allocate.Objective.CVAR, 0.25)
    problem = allocate.build_problem(noisy_model.channels, current)
    expected = allocate.allocate(noisy_model, problem, objective=allocate.Objective.EXPECTED)
    cautious = allocate.allocate(noisy_model, problem)
    base = noisy_model.response(problem.current).sum(axis=1)

    def worst_quarter_uplift(x):
        uplift = np.sort(noisy_model.response(x).sum(axis=1) - base)
        return uplift[: int(np.ceil(0.25 * len(uplift)))].mean()

    x_exp, x_cvar = (r.allocation["recommended"].to_numpy() for r in (expected, cautious))
    assert worst_quarter_uplift(x_cvar) > worst_quarter_uplift(x_exp)
    assert revenue(noisy_model, x_exp) > revenue(noisy_model, x_cvar)
    assert worst_quarter_uplift(x_cvar) > 0 and cautious.summary["uplift_mean"] > 0
    assert (cautious.summary["objective"], cautious.summary["cvar_alpha"]) == ("cvar", 0.25)
    # the worst draws change as spend moves: the smoothed CVaR still lets the optimum be verified
    assert cautious.summary["status"] == "optimal", cautious.summary["message"]
    assert (allocate.frontier(noisy_model, problem)[0]["status"] == "optimal").all()
    assert expected.summary["uplift_lower"] < expected.summary["uplift_mean"] < expected.summary["uplift_upper"]


def test_frontier_is_increasing_and_spans_the_feasible_budgets(true_model, current):
    problem = allocate.build_problem(true_model.channels, current)
    table, allocations = allocate.frontier(true_model, problem)
    assert table["budget_ratio"].tolist() == list(allocate.FRONTIER_RATIOS)
    assert (np.diff(table["expected_revenue_mean"]) > 0).all()
    assert (table["uplift_mean"] >= -1e-6).all() and (table["status"] == "optimal").all()
    sums = allocations.groupby("budget")["recommended"].sum()
    assert np.allclose(sums.index, sums.to_numpy())


def draws_table(model: ResponseModel) -> pd.DataFrame:
    return pd.DataFrame([
        {"draw": int(d), "channel": c, "geo": "national", "name": n, "value": float(model.params[n][i, 0, j])}
        for n in model.params for i, d in enumerate(model.draws) for j, c in enumerate(model.channels)])


def test_scenario_solver_from_stored_tables(noisy_model, current):
    problem = allocate.build_problem(noisy_model.channels, current)
    stored = allocate.allocate(noisy_model, problem)
    tables = {
        "allocation": stored.allocation,
        "summary": pd.DataFrame([stored.summary]),
        "parameter_draws": draws_table(noisy_model),
        "spec": pd.DataFrame({"spec_json": [json.dumps(noisy_model.spec)]}),
    }
    same = allocate.solve_scenario(tables, problem.budget)
    assert np.allclose(same.allocation["recommended"], stored.allocation["recommended"], rtol=1e-4)
    bigger = allocate.solve_scenario(tables, problem.budget * 1.1, locked={"search": 5000.0})
    frame = bigger.allocation.set_index("channel")
    assert frame.loc["search", "recommended"] == pytest.approx(5000.0)
    assert frame["recommended"].sum() == pytest.approx(problem.budget * 1.1)
    with pytest.raises(allocate.UnknownChannel):
        allocate.solve_scenario(tables, problem.budget, bounds={"radio": (0, 1)})


@pytest.mark.parametrize("curve", ["hill", "logistic"])
def test_the_optimizers_fast_evaluator_matches_the_response_model(noisy_model, curve):
    model = noisy_model
    if curve == "logistic":
        params = {"adstock_alpha": model.params["adstock_alpha"], "saturation_beta": model.params["saturation_beta"],
                  "saturation_lam": 1.0 / model.params["saturation_kappa"]}
        model = ResponseModel(model.channels, model.geos, model.draws, params, model.channel_scale,
                              model.target_scale, model.weights, {**model.spec, "saturation": "logistic"})
    spend = np.array([5000.0, 12000.0, 9000.0, 20000.0, 0.0])
    revenue, marginal = model.steady_state()(spend)
    expected_revenue, expected_marginal = model.response(spend, derivative=True)
    np.testing.assert_allclose(revenue, expected_revenue, rtol=1e-10, atol=1e-9)  # zero spend: ~1e-300 vs exactly 0
    np.testing.assert_allclose(marginal[:, :4], expected_marginal[:, :4], rtol=1e-8)


def scaled(model: ResponseModel, channel: str, factor: float) -> ResponseModel:
    """The model with one channel's effect multiplied by ``factor``."""
    params = {k: v.copy() for k, v in model.params.items()}
    params["saturation_beta"][..., model.channel_index(channel)] *= factor
    return ResponseModel(model.channels, model.geos, model.draws, params, model.channel_scale, model.target_scale,
                         model.weights, model.spec)


def test_a_plan_the_plain_mmm_expects_to_lose_on_keeps_the_current_split(noisy_model, current):
    """The reconciled posterior thinks tv earns 5x what the MMM does: its plan piles money into tv. Under the
    plain MMM that plan loses revenue, so the current split is kept and the reason says why."""
    optimistic = scaled(noisy_model, "tv", 5.0)
    pessimistic = allocate.Reference(scaled(noisy_model, "tv", 0.2))
    problem = allocate.build_problem(noisy_model.channels, current)
    unguarded = allocate.allocate(optimistic, problem)
    assert pessimistic.uplift(problem, unguarded.allocation["recommended"].to_numpy())["mean"] < 0
    result = allocate.allocate(optimistic, problem, reference=pessimistic)
    assert result.summary["decision"] == allocate.Decision.KEPT_CURRENT
    assert "the plain MMM expects it to lose" in result.summary["decision_reason"]
    np.testing.assert_allclose(result.allocation["recommended"], problem.current, rtol=1e-9)
    assert result.summary["uplift_mean"] == pytest.approx(0, abs=1e-6)
    assert result.summary["uplift_mmm_mean"] == pytest.approx(0, abs=1e-6)
    agreeing = allocate.allocate(optimistic, problem, reference=allocate.Reference(optimistic))
    assert agreeing.summary["decision"] == allocate.Decision.RECOMMENDED
    assert agreeing.summary["uplift_mmm_mean"] == pytest.approx(agreeing.summary["uplift_mean"])


def test_scenarios_are_held_to_the_stored_mmm_and_report_held_channels(noisy_model, current):
    optimistic = scaled(noisy_model, "tv", 5.0)
    problem = allocate.build_problem(noisy_model.channels, current, locked=["display"])
    stored = allocate.with_holds(allocate.allocate(optimistic, problem), {"display": "display (untested): held"})
    tables = {"allocation": stored.allocation, "summary": pd.DataFrame([stored.summary]),
              "parameter_draws": draws_table(optimistic),
              "spec": pd.DataFrame({"spec_json": [json.dumps(noisy_model.spec)]}),
              "mmm_parameter_draws": draws_table(scaled(noisy_model, "tv", 0.2)),
              "mmm_spec": pd.DataFrame({"spec_json": [json.dumps(noisy_model.spec)]})}
    solved = allocate.solve_scenario(tables, problem.budget * 1.1)
    frame = solved.allocation.set_index("channel")
    assert solved.summary["decision"] == allocate.Decision.KEPT_CURRENT
    assert frame.loc["display", "hold_reason"] == "display (untested): held" and frame.loc["display", "locked"]
    assert (frame.drop(index="display")["hold_reason"] == "").all()
    assert frame["recommended"].sum() == pytest.approx(problem.budget * 1.1)


def test_the_scenario_solver_carries_the_stored_ranges(noisy_model, current):
    problem = allocate.build_problem(noisy_model.channels, current)
    stored = allocate.allocate(noisy_model, problem)
    low = {c: 0.5 * v for c, v in current.items()}
    ranges = pd.DataFrame({"channel": list(current), "weekly_spend_p05": list(low.values()),
                           "weekly_spend_p95": list(current.values())})
    allocation = support.with_support(stored.allocation, support.measured_ranges(ranges, None))
    tables = {"allocation": allocation, "summary": pd.DataFrame([stored.summary]),
              "parameter_draws": draws_table(noisy_model),
              "spec": pd.DataFrame({"spec_json": [json.dumps(noisy_model.spec)]})}
    solved = allocate.solve_scenario(tables, problem.budget * 1.5).allocation.set_index("channel")
    grown = solved["recommended"] > solved["current"] * 1.001  # 50 % more budget: past each current level
    assert grown.any() and (solved.loc[grown, "support"] == support.ABOVE).all()
