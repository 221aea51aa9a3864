"""Fitting plumbing with short chains: progress, compile reuse, save/load, holdout, idempotence."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib.mmm.calibration import lift_tests_to_calibration
from umm_assets.lib.mmm.fit import MMMFitter, Phase, load_mmm, save_fit
from umm_assets.lib.mmm.frame import build_model_frame
from umm_assets.lib.mmm.model import build_mmm


def test_fit_runs_every_phase_in_order(example_fit, fitter):
    phases = [p for p, _ in fitter.events]
    order = [
        Phase.BUILD,
        Phase.COMPILE,
        Phase.SAMPLING,
        Phase.DETERMINISTICS,
        Phase.POSTERIOR_PREDICTIVE,
        Phase.HOLDOUT,
    ]
    first = [phases.index(p.value) for p in order]
    assert first == sorted(first)
    sampling = [d for p, d in fitter.events if p == "sampling" and d.get("done")]
    assert sampling[0]["draws_done"] == 2 * (200 + 200)
    groups = set(example_fit.idata.children)
    assert {"posterior", "posterior_predictive", "fit_data", "constant_data"} <= groups
    assert example_fit.holdout is not None and 0 <= example_fit.holdout.mape < 0.5
    assert len(example_fit.holdout.predicted) == 8


def test_reused_compilation_samples_the_new_window(fitter, example_fit):
    """Window B reuses window A's compilation and still fits B's data, not A's."""
    a = example_fit.frame
    # same shape, different data: a strong extra trend on revenue
    t = np.linspace(0.0, 1.0, a.n_weeks)
    b = dataclasses.replace(a, y=a.y + 0.6 * a.y.mean() * t)
    assert b.shape_key() == a.shape_key()
    reused = fitter.fit(b, holdout=False)
    assert reused.compile_reused and fitter.cache_hits >= 1
    cd = reused.idata["constant_data"]
    np.testing.assert_array_equal(cd["target_data"].values, b.y.to_numpy())
    post = reused.idata["posterior"]
    assert list(pd.DatetimeIndex(post["date"].values)) == list(b.weeks)
    assert not np.isnan(post["channel_contribution"].values).any()
    mu = (post["mu"] * float(cd["target_scale"])).mean(("chain", "draw")).values

    def rise(v):
        v = np.asarray(v)
        return v[-20:].mean() - v[:20].mean()

    # the fitted level follows B's rise, not A's
    assert abs(rise(mu) - rise(b.y)) < 0.25 * abs(rise(b.y) - rise(a.y))


def test_save_load_round_trip(example_fit, tmp_path):
    path = save_fit(example_fit, tmp_path / "posterior.nc")
    loaded = load_mmm(path)
    assert loaded.channel_columns == list(example_fit.frame.channels)
    a = example_fit.idata["posterior"]["saturation_lam"].values
    np.testing.assert_array_equal(loaded.idata["posterior"]["saturation_lam"].values, a)
    np.testing.assert_array_equal(
        loaded.idata["posterior"]["channel_contribution"].values,
        example_fit.idata["posterior"]["channel_contribution"].values,
    )
    assert loaded.id == example_fit.mmm.id


def test_idempotent_same_data_and_seed(example_frame, example_summaries, fast_config, fitter):
    """A second fitter (fresh compile, as in a new process) gives identical summaries."""
    from umm_assets.lib.mmm.summaries import summarize

    again = MMMFitter(fast_config, reuse_compilation=fitter.reuse_compilation).fit(example_frame)
    assert not again.compile_reused
    again = summarize(again)
    for name, table in example_summaries.tables().items():
        other = again.tables()[name]
        if name == "diagnostics":
            timing = [c for c in table.columns if c.endswith("_seconds") or c == "compile_reused"]
            table, other = table.drop(columns=timing), other.drop(columns=timing)
        pd.testing.assert_frame_equal(table, other, obj=name)


def test_lift_test_conversion_holdout_form(example_frame):
    w = example_frame.spend_wide()
    start = pd.Timestamp("2020-06-01")
    weeks = pd.date_range(start, periods=4, freq="W-MON")
    tests = pd.DataFrame(
        {
            "test_id": ["a", "b", "c"],
            "channel": ["x1", "x1", "nope"],
            "start_date": [start] * 3,
            "end_date": [start + pd.Timedelta(days=27)] * 3,
            "lift": [400.0, 100.0, 1.0],
            "lift_ci_lower": [200.0, 50.0, 0.0],
            "lift_ci_upper": [600.0, 150.0, 2.0],
            "confidence": [0.9, 0.9, 0.9],
            "spend": [np.nan, 0.25 * w.loc[weeks, "x1"].sum(), np.nan],
        }
    )
    cal, notes = lift_tests_to_calibration(tests, example_frame)
    assert list(cal.columns) == ["channel", "x", "delta_x", "delta_y", "sigma"]
    assert len(cal) == 2 and any("'nope'" in n for n in notes)
    unit = w.loc[weeks, "x1"].mean()
    assert cal.x.tolist() == [0.0, 0.0]
    np.testing.assert_allclose(cal.delta_x, [unit, unit])
    np.testing.assert_allclose(cal.delta_y, [100.0, 100.0])  # 400/4 ; 100/4 scaled by 1/0.25
    sd = 400 / (2 * 1.6448536269514722) / 4
    np.testing.assert_allclose(cal.sigma, [sd, sd])


def test_calibration_adds_lift_likelihood(example_frame, fast_config):
    cal = pd.DataFrame(
        {"channel": ["x1"], "x": [0.0], "delta_x": [0.3], "delta_y": [800.0], "sigma": [100.0]}
    )
    mmm = build_mmm(example_frame, fast_config, calibration=cal)
    assert "lift_measurements" in mmm.model.named_vars


def test_geo_frame_builds_hierarchical_model(geo_tables, fast_config):
    spend, outcomes, controls = geo_tables
    frame = build_model_frame(spend, outcomes, controls, window_weeks=104)
    mmm = build_mmm(frame, fast_config)
    post_dims = mmm.model.named_vars_to_dims
    assert post_dims["saturation_beta"] == ("geo", "channel")
    assert post_dims["saturation_lam"] == ("channel",)
    assert post_dims["adstock_alpha"] == ("channel",)
    assert mmm.scalers["_target"].dims == ("geo",)


def test_min_weeks_refusal(example_tables):
    from umm_assets.lib.mmm.frame import InsufficientHistory

    spend, outcomes, controls = example_tables
    with pytest.raises(InsufficientHistory, match="at least 52 weeks"):
        build_model_frame(spend, outcomes, controls, end_week="2018-12-31")
