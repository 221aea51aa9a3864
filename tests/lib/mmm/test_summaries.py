import numpy as np
import pandas as pd

from umm_assets.lib.mmm.summaries import response_curves_table

DIAG_COLUMNS = {
    "rhat_max",
    "ess_bulk_min",
    "ess_tail_min",
    "divergences",
    "mape",
    "r2",
    "holdout_mape",
    "holdout_weeks",
    "ppc_coverage_90",
    "n_weeks",
    "window_start",
    "window_end",
    "sampler",
    "chains",
    "draws",
    "tune",
    "fit_seconds",
    "saturation",
    "adstock",
}


def test_roas_tables(example_summaries, example_fit):
    roas, draws = example_summaries.roas, example_summaries.roas_draws
    assert list(roas.columns[:2]) == ["channel", "spend"]
    assert {"contribution_mean", "roas_mean", "roas_p05", "roas_p50", "roas_p95"} <= set(
        roas.columns
    )
    spend = example_fit.frame.spend_wide().sum()
    np.testing.assert_allclose(roas.set_index("channel").spend, spend[roas.channel])
    assert (roas.roas_p05 <= roas.roas_p50).all() and (roas.roas_p50 <= roas.roas_p95).all()
    np.testing.assert_allclose(roas.contribution_mean / roas.spend, roas.roas_mean)
    n = example_fit.config.n_keep_draws
    assert list(draws.columns) == ["draw", "channel", "contribution", "roas"]
    assert len(draws) == n * 2 and set(draws.groupby("draw").channel.nunique()) == {2}


def test_contributions_add_up_to_the_fitted_mean(example_summaries, example_fit):
    con = example_summaries.contributions
    assert list(con.columns) == ["week", "geo", "component", "mean", "lower", "upper"]
    assert set(con.component) == {"baseline", "x1", "x2"}
    total = con.groupby("week")["mean"].sum()
    ts = float(example_fit.idata["constant_data"]["target_scale"])
    mu = (example_fit.idata["posterior"]["mu"] * ts).mean(("chain", "draw")).values
    np.testing.assert_allclose(total.to_numpy(), mu, rtol=1e-9)
    fit = example_summaries.fit
    np.testing.assert_allclose(fit.predicted_mean, mu, rtol=0.05)


def test_fit_table(example_summaries, example_fit):
    fit = example_summaries.fit
    assert list(fit.columns) == [
        "week",
        "geo",
        "actual",
        "predicted_mean",
        "predicted_lower",
        "predicted_upper",
    ]
    np.testing.assert_allclose(fit.actual, example_fit.frame.y)
    assert (fit.predicted_lower <= fit.predicted_upper).all()


def test_response_curves(example_summaries, example_fit):
    rc = example_summaries.response_curves
    assert list(rc.columns) == [
        "channel",
        "spend",
        "response_mean",
        "response_lower",
        "response_upper",
        "marginal_roas_mean",
        "marginal_roas_lower",
        "marginal_roas_upper",
        "current_spend",
    ]
    weekly = example_fit.frame.spend_wide()
    for c, g in rc.groupby("channel"):
        assert len(g) == 50 and g.spend.iloc[0] == 0 and g.response_mean.iloc[0] == 0
        assert g.spend.max() >= 2 * weekly[c].max() - 1e-9
        assert (np.diff(g.response_mean) >= 0).all()
        assert (np.diff(g.marginal_roas_mean) <= 1e-12).all()  # logistic: concave
        assert g.current_spend.iloc[0] == weekly[c].iloc[-13:].mean()


def test_parameters_and_draws(example_summaries):
    par = example_summaries.parameters
    assert list(par.columns) == ["parameter", "channel", "geo", "mean", "sd", "lower", "upper"]
    alpha = par[par.parameter == "adstock_alpha"]
    assert set(alpha.channel) == {"x1", "x2"}
    assert ((par.lower <= par["mean"]) & (par["mean"] <= par.upper)).all()
    assert any(p.startswith("gamma_control[") for p in par.parameter)
    pd_ = example_summaries.parameter_draws
    assert list(pd_.columns) == ["draw", "channel", "geo", "name", "value"]
    assert {
        "adstock_alpha",
        "saturation_lam",
        "saturation_beta",
        "channel_scale",
        "target_scale",
    } <= set(pd_.name)
    spec = example_summaries.spec
    assert spec["adstock"] == "geometric" and spec["channels"] == ["x1", "x2"]
    table = example_summaries.spec_table()
    assert len(table) == 2 and table.spec_json.nunique() == 1


def test_diagnostics_row(example_summaries, example_fit):
    d = example_summaries.diagnostics
    assert len(d) == 1 and DIAG_COLUMNS <= set(d.columns)
    row = d.iloc[0]
    assert row.n_weeks == 104 and row.holdout_weeks == 8 and row.chains == 2
    assert 0 < row.r2 <= 1 and 0 <= row.ppc_coverage_90 <= 1 and row.rhat_max > 0.9
    assert row.window_end == pd.Timestamp("2020-12-28")


def test_hill_curves_steeper_than_linear_at_zero_still_get_finite_marginal_roas():
    # draw 0 has slope 0.6 (infinitely steep at spend 0), draw 1 slope 1.5
    rows = [{"draw": d, "channel": "tv", "geo": "national", "name": name, "value": value}
            for d, slope in enumerate((0.6, 1.5))
            for name, value in (("adstock_alpha", 0.5), ("saturation_slope", slope), ("saturation_kappa", 0.4),
                                ("saturation_beta", 2.0))]
    spec = {"adstock": "geometric", "l_max": 8, "normalize": True, "saturation": "hill", "channels": ["tv"],
            "geos": ["national"], "channel_scale": {"national": {"tv": 1000.0}}, "target_scale": {"national": 100.0},
            "max_weekly_spend": {"tv": 800.0}, "current_spend": {"tv": 400.0}}
    curves = response_curves_table(pd.DataFrame(rows), spec)
    assert np.isfinite(curves[["marginal_roas_mean", "marginal_roas_lower", "marginal_roas_upper"]]).all().all()
    first = curves.iloc[0]
    step = curves["spend"].iloc[1]
    steep_first_step = 100 * 2.0 * (step / 1000) ** 0.6 / ((step / 1000) ** 0.6 + 0.4**0.6) / step
    # the upper quantile sits near the steep draw's first-step return (the other draw's slope at 0 is 0)
    assert 0.5 * steep_first_step < first["marginal_roas_upper"] <= steep_first_step * (1 + 1e-9)
