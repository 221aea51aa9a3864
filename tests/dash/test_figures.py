"""Figure builders on the stored tables of the served world: the figure shows the stored numbers, and every
axis is titled with its unit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from umm_assets.lib.serving import history
from umm_assets.lib.serving.reader import open_reader
from umm_dash.figures import contributions, curves, health, planner, roas
from umm_dash.figures import history as history_figures


@pytest.fixture(scope="module")
def stored(api_world):
    """Every table of the newest week's model chain, by (asset, table)."""
    reader = open_reader(str(api_world.data_dir))
    out = {}
    for asset in ("mmm_posterior", "reconciled_lift", "allocation"):
        commit = reader.resolve(asset, None)
        out |= {(asset, name): reader.table(commit, name) for name in commit.tables}
    out["history"] = history.history(reader).frame
    return out


def titles(figure: go.Figure) -> list[str]:
    axes = figure.layout.to_plotly_json()
    return [(axis.get("title") or {}).get("text", "") for key, axis in axes.items() if key.startswith(("xaxis", "yaxis"))]


def assert_units(figure: go.Figure, *units: str) -> None:
    text = " ".join(titles(figure))
    for unit in units:
        assert unit in text, (unit, text)


def trace(figure: go.Figure, name: str) -> go.Scatter:
    return next(t for t in figure.data if t.name == name)


def test_weekly_contributions_stack_the_stored_means_under_the_actual(stored):
    table, fit = stored[("mmm_posterior", "contributions")], stored[("mmm_posterior", "fit")]
    figure = contributions.weekly(table, fit, "national")
    tv = table[(table["component"] == "tv") & (table["geo"] == "national")].sort_values("week")
    np.testing.assert_allclose(trace(figure, "tv").y, tv["mean"])
    np.testing.assert_allclose(trace(figure, "actual revenue").y, fit.sort_values("week")["actual"])
    assert_units(figure, "week", "input currency per week")


def test_the_waterfall_adds_up_to_the_modelled_total(stored):
    table = stored[("mmm_posterior", "contributions")]
    figure = contributions.waterfall(table, "national")
    totals = contributions.totals(table, "national")
    assert list(figure.data[0].x) == [*totals["component"], "total"]
    assert totals["component"].iloc[0] == "baseline"
    np.testing.assert_allclose(figure.data[0].y[:-1], totals["mean"])
    assert_units(figure, "input currency")


def test_the_forest_plot_shows_each_source_and_the_reconciled_roas(stored):
    reconciled = stored[("reconciled_lift", "reconciled")]
    figure = roas.forest(reconciled)
    ordered = reconciled.sort_values("channel", ascending=False)
    np.testing.assert_allclose(trace(figure, "reconciled").x, ordered["roas_mean"])
    np.testing.assert_allclose(trace(figure, "MMM").x, ordered["mmm_roas_mean"])
    assert len(trace(figure, "experiments").x) == int(reconciled["tests_roas_mean"].notna().sum())
    assert_units(figure, "ROAS", "revenue per unit of spend")


def test_experiments_are_shown_in_their_own_units(stored):
    coverage = stored[("reconciled_lift", "test_coverage")]
    figure = roas.tests(coverage)
    measured = coverage.drop_duplicates("test_id").sort_values("test_id", ascending=False)
    np.testing.assert_allclose(trace(figure, "measured by the test").x, measured["lift"])
    assert_units(figure, "incremental revenue", "input currency")


def test_response_curves_mark_current_and_recommended_spend(stored):
    table = stored[("reconciled_lift", "response_curves")]
    allocation = stored[("allocation", "allocation")].set_index("channel")
    curve = table[table["channel"] == "tv"]
    spends = {"current": allocation.at["tv", "current"], "recommended": allocation.at["tv", "recommended"]}
    figure = curves.channel(curve, spends, "#1c7ed6", detail=True)
    assert trace(figure, "recommended spend").x[0] == pytest.approx(spends["recommended"])
    marked = curves.marks(curve, spends).set_index("mark")
    grid = curve.sort_values("spend")
    assert marked.at["current", "response"] == pytest.approx(np.interp(spends["current"], grid["spend"],
                                                                        grid["response_mean"]))
    assert_units(figure, "weekly spend", "input currency per week", "marginal ROAS")


def test_the_split_and_the_frontier_show_the_stored_plan(stored):
    allocation = stored[("allocation", "allocation")]
    summary = stored[("allocation", "summary")].iloc[0]
    split = planner.split(allocation)
    np.testing.assert_allclose(trace(split, "recommended").y, allocation.sort_values("channel")["recommended"])
    assert_units(split, "input currency per week")
    frontier = planner.frontier(stored[("allocation", "frontier")], float(summary["budget"]), (1000.0, 2000.0))
    assert trace(frontier, "your scenario").x[0] == 1000.0
    assert_units(frontier, "total budget", "input currency per week")


def test_the_fit_marks_weeks_outside_the_interval(stored):
    fit = stored[("mmm_posterior", "fit")]
    figure = health.fit(fit, "national")
    actual = trace(figure, "actual")
    outside = ((fit["actual"] < fit["predicted_lower"]) | (fit["actual"] > fit["predicted_upper"])).sum()
    assert sum(c == "#e03131" for c in actual.marker.color) == outside
    assert_units(figure, "week", "input currency per week")


def test_history_figures_have_one_point_per_as_of_week(stored, api_world):
    frame: pd.DataFrame = stored["history"]
    assert sorted(frame["as_of"].unique()) == api_world.model_weeks
    figure = history_figures.roas(frame, api_world.newest)
    lines = [t for t in figure.data if t.mode == "lines+markers"]
    assert len(lines) == frame["channel"].nunique() and all(len(t.x) == len(api_world.model_weeks) for t in lines)
    split = history_figures.split(frame, api_world.newest)
    assert sum(t.y[-1] for t in split.data) == pytest.approx(frame[frame["as_of"] == api_world.newest]
                                                             ["recommended"].sum())
    assert_units(split, "as-of week", "input currency per week")
