import numpy as np
import pandas as pd
import pytest

from umm_assets.lib.mmm.frame import FrameError, InsufficientHistory, build_model_frame


def _tables(weeks=60, geos=("national",), channels=("Paid Search", "tv"), seed=0):
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2023-01-02", periods=weeks, freq="W-MON")
    spend = pd.DataFrame(
        [
            {"week": w, "geo": g, "channel": c, "spend": float(rng.uniform(0, 100))}
            for w in idx
            for g in geos
            for c in channels
        ]
    )
    outcomes = pd.DataFrame(
        [{"week": w, "geo": g, "revenue": float(rng.uniform(900, 1100))} for w in idx for g in geos]
    )
    controls = pd.DataFrame(
        [{"week": w, "geo": g, "price": float(rng.uniform(0.9, 1.1))} for w in idx for g in geos]
    )
    return spend, outcomes, controls


def test_pivot_keeps_channel_names_and_aligns_rows():
    spend, outcomes, controls = _tables()
    f = build_model_frame(spend, outcomes, controls)
    assert f.channels == ("Paid Search", "tv")
    assert list(f.X.columns) == ["date", "Paid Search", "tv", "price"]
    assert f.n_weeks == 60 and not f.is_geo and f.dims == ()
    w = pd.Timestamp("2023-02-06")
    expect = spend[(spend.week == w) & (spend.channel == "tv")].spend.item()
    assert f.X.loc[f.X.date == w, "tv"].item() == expect
    assert f.y[f.X.date == w].item() == outcomes[outcomes.week == w].revenue.item()
    # controls centred and scaled into [-1, 1]
    assert abs(f.X["price"].mean()) < 1e-12 and f.X["price"].abs().max() == pytest.approx(1.0)


def test_trailing_window_and_min_weeks_refusal():
    spend, outcomes, controls = _tables(weeks=120)
    f = build_model_frame(spend, outcomes, controls, window_weeks=80, end_week="2024-12-30")
    assert f.window_end == pd.Timestamp("2024-12-30") and f.n_weeks == 80
    with pytest.raises(InsufficientHistory, match="at least 52 weeks.*has 40"):
        build_model_frame(spend, outcomes, controls, end_week="2023-10-02")


def test_controls_not_covering_window_constant_or_text_are_dropped_with_warnings():
    spend, outcomes, controls = _tables()
    controls["promo"] = 1.0
    controls["note"] = "x"
    controls["partial"] = np.where(controls.week < "2023-03-01", np.nan, 1.0) + np.arange(
        len(controls)
    )
    f = build_model_frame(spend, outcomes, controls)
    assert f.controls == ("price",)
    text = " ".join(f.warnings)
    assert "'partial' dropped" in text and "'promo' dropped: constant" in text and "note" in text


def test_geo_outcomes_give_a_geo_model():
    spend, outcomes, controls = _tables(geos=("north", "south"))
    f = build_model_frame(spend, outcomes, controls)
    assert f.geos == ("north", "south") and f.dims == ("geo",)
    assert len(f.X) == 2 * 60 and set(f.X.geo) == {"north", "south"}
    assert f.spend_wide().shape == (60, 2)


def test_geo_spend_with_national_outcomes_is_summed():
    spend, _, _ = _tables(geos=("north", "south"))
    _, outcomes, controls = _tables()
    f = build_model_frame(spend, outcomes, controls)
    assert not f.is_geo
    total = spend[spend.channel == "tv"].groupby("week").spend.sum()
    np.testing.assert_allclose(f.X["tv"].to_numpy(), total.to_numpy())
    assert any("spend summed" in w for w in f.warnings)


def test_national_spend_with_geo_outcomes_sums_outcomes():
    spend, _, _ = _tables()
    _, outcomes, controls = _tables(geos=("north", "south"))
    f = build_model_frame(spend, outcomes, controls)
    assert not f.is_geo
    assert any("outcomes summed to national" in w for w in f.warnings)
    np.testing.assert_allclose(f.y.to_numpy(), outcomes.groupby("week").revenue.sum().to_numpy())


def test_zero_spend_channel_dropped_and_missing_outcome_week_raises():
    spend, outcomes, controls = _tables()
    spend.loc[spend.channel == "tv", "spend"] = 0.0
    f = build_model_frame(spend, outcomes, controls)
    assert f.channels == ("Paid Search",)
    assert any("zero spend" in w for w in f.warnings)
    with pytest.raises(FrameError, match="miss 1 week"):
        build_model_frame(spend, outcomes.drop(index=10), controls)


def test_missing_spend_rows_mean_zero_and_no_controls_is_fine():
    spend, outcomes, _ = _tables()
    spend = spend.drop(index=spend.index[(spend.channel == "tv")][:5])
    f = build_model_frame(spend, outcomes, None)
    assert f.controls == () and (f.X["tv"].iloc[:5] == 0).all()


def test_a_week_without_any_spend_row_or_the_as_of_weeks_outcome_is_a_gap_not_zero():
    spend, outcomes, controls = _tables()
    week = spend["week"].unique()[20]
    with pytest.raises(FrameError, match=f"spend has no row for 1 week.*{pd.Timestamp(week).date()}"):
        build_model_frame(spend[spend.week != week], outcomes, controls)
    last = outcomes["week"].max()
    with pytest.raises(FrameError, match=f"no row for the as-of week {last.date()}"):
        build_model_frame(spend, outcomes[outcomes.week != last], controls, end_week=last)


def test_reserved_channel_name_is_refused():
    spend, outcomes, controls = _tables(channels=("date", "tv"))
    with pytest.raises(FrameError, match="reserved"):
        build_model_frame(spend, outcomes, controls)
