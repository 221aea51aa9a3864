"""response.py reproduces the fitted model's own numbers from the stored draws."""

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib.mmm.response import ResponseModel, adstock_weights, geo_shares_array, saturation
from umm_assets.lib.mmm.summaries import thin_index


@pytest.fixture(scope="module")
def model(example_summaries):
    return ResponseModel.from_draws(example_summaries.parameter_draws, example_summaries.spec)


def _kept_samples(fit, n_keep):
    post = fit.idata["posterior"]
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    keep = thin_index(n_chain * n_draw, n_keep)
    return [divmod(int(k), n_draw) for k in keep]


def test_transforms_match_pymc_marketing():
    import pytensor.tensor as pt
    import pytensor.xtensor as ptx
    from pymc_marketing.mmm.transformers import (
        geometric_adstock,
        hill_function,
        logistic_saturation,
    )

    impulse = np.zeros(10)
    impulse[0] = 1.0
    x = ptx.as_xtensor(pt.as_tensor_variable(impulse), dims=("date",))
    pm_w = geometric_adstock(x, alpha=0.6, l_max=8, normalize=True, dim="date").eval()
    np.testing.assert_allclose(
        adstock_weights("geometric", 8, True, {"adstock_alpha": np.array(0.6)}), pm_w[:8]
    )
    grid = np.linspace(0, 2, 21)
    g = ptx.as_xtensor(pt.as_tensor_variable(grid), dims=("x",))
    np.testing.assert_allclose(
        saturation("logistic", grid, {"saturation_lam": 3.0})[0], logistic_saturation(g, 3.0).eval()
    )
    np.testing.assert_allclose(
        saturation("hill", grid, {"saturation_slope": 1.7, "saturation_kappa": 0.4})[0],
        hill_function(g, 1.7, 0.4).eval(),
    )


def test_contributions_match_model_draw_by_draw(example_fit, example_summaries, model):
    """numpy adstock + saturation on the training spend == model channel_contribution."""
    fit = example_fit
    ts = float(fit.idata["constant_data"]["target_scale"])
    cc = fit.idata["posterior"]["channel_contribution"] * ts
    samples = _kept_samples(fit, fit.config.n_keep_draws)
    spend = fit.frame.spend_wide()
    for c in fit.frame.channels:
        weeks, ours = model.weekly_contributions(spend, c)
        assert len(weeks) == fit.frame.n_weeks
        theirs = np.stack([cc.sel(channel=c).isel(chain=i, draw=j).values for i, j in samples])
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6 * ts)


def test_steady_state_and_derivative(model, example_summaries):
    spec = example_summaries.spec
    C = len(model.channels)
    s = np.array([spec["current_spend"][c] for c in model.channels])
    rev, d = model.response(s, derivative=True)
    assert rev.shape == (model.n_draws, C) and d.shape == rev.shape
    # steady state == contribution after l_max weeks of constant spend
    for j, c in enumerate(model.channels):
        hist = pd.DataFrame(
            {c: np.full(30, s[j])}, index=pd.date_range("2020-01-06", periods=30, freq="W-MON")
        )
        _, series = model.weekly_contributions(hist, c)
        np.testing.assert_allclose(series[:, -1], rev[:, j], rtol=1e-9)
    h = 1e-3 * s
    up, dn = model.response(s + h), model.response(s - h)
    np.testing.assert_allclose((up - dn) / (2 * h), d, rtol=1e-5)
    # vectorised over a grid of budgets: (D, n, C)
    grid = np.outer(np.linspace(0, 2, 7), s)
    assert model.response(grid, geo_shares=geo_shares_array(spec)).shape == (model.n_draws, 7, C)


def test_window_lift_matches_pymc_marketing_incrementality(example_fit, model):
    fit = example_fit
    start, end = pd.Timestamp("2020-03-02"), pd.Timestamp("2020-03-29")  # 4 whole weeks
    ours = model.window_lift_draws(fit.frame.spend_wide(), "x1", start, end, include_carryover=True)
    inc = fit.mmm.incrementality.compute_incremental_contribution(
        frequency="all_time", start_date=start, end_date=end, include_carryover=True
    )
    samples = _kept_samples(fit, fit.config.n_keep_draws)
    theirs = np.array([float(inc.sel(channel="x1").isel(chain=i, draw=j)) for i, j in samples])
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    # prorating: a 2-week window inside those weeks reads less than the 4-week one
    inside = model.window_lift_draws(
        fit.frame.spend_wide(), "x1", start, start + pd.Timedelta(days=13)
    )
    assert (
        inside <= model.window_lift_draws(fit.frame.spend_wide(), "x1", start, end) + 1e-9
    ).all()


def test_window_lift_accepts_long_history_and_prorates_days(example_tables, model):
    spend, _, _ = example_tables
    a = model.window_lift_draws(spend, "x2", "2020-06-01", "2020-06-14")
    half = model.window_lift_draws(spend, "x2", "2020-06-01", "2020-06-04")  # 4 days of week 1
    assert a.shape == (model.n_draws,) and (a >= half - 1e-9).all()
    with pytest.raises(KeyError):
        model.window_lift_draws(spend, "nope", "2020-06-01", "2020-06-14")
