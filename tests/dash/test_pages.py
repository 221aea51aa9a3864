"""Pages and callbacks called as plain functions (in a request context of the app, no browser)."""

from __future__ import annotations

import importlib
import json
from types import SimpleNamespace

import pandas as pd
import plotly
import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict

from umm_assets.lib.serving.keys import Role
from umm_dash.data import Missing, current

PAGES = ("overview", "contributions", "roas", "curves", "planner", "health", "history")


@pytest.fixture(scope="module")
def pages(dash_app):
    return SimpleNamespace(**{name: importlib.import_module(f"umm_dash.pages.{name}") for name in PAGES})


def rendered(component) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)


def test_every_page_renders_both_weeks_without_an_error(request_context, pages, api_world):
    older, newest = api_world.model_weeks
    for week in (older, newest):
        for name in PAGES:
            text = rendered(getattr(pages, name).layout(week=week))
            assert "umm-error" not in text, (name, week)
            assert f"As of the week of {week}" in text, (name, week)
            # as of the older week, the history has one week so far: it says how to backfill more
            assert ("umm-empty" in text) == (name == "history" and week == older), (name, week)


def test_a_week_without_a_model_falls_back_to_the_newest_and_says_so(request_context, pages, api_world):
    text = rendered(pages.overview.layout(week=api_world.weeks[-5]))
    assert f"The week of {api_world.weeks[-5]} has no materialized model" in text
    assert f"As of the week of {api_world.newest}" in text


def test_a_missing_asset_week_names_the_command_that_makes_it(request_context, api_world):
    from umm_dash.components.page import page

    week = api_world.weeks[-5]
    with pytest.raises(Missing) as missing:
        current().tables("allocation", week, "allocation")
    assert missing.value.command == f".venv/bin/umm materialize --partition {week} --select allocation,experiment_plan"

    def body(week, **_):
        current().tables("reconciled_lift", api_world.weeks[-5], "reconciled")

    text = rendered(page("/probe")(body)(week=api_world.newest))
    assert "umm-empty" in text
    assert f".venv/bin/umm materialize --partition {week} --select reconciled_lift,allocation,experiment_plan" in text


def test_the_roas_page_says_which_test_to_run_next(request_context, pages, api_world):
    from umm_assets.lib.storage import Warehouse

    designs = Warehouse(api_world.data_dir).read("experiment_plan", api_world.newest, "designs")
    summary = Warehouse(api_world.data_dir).read("experiment_plan", api_world.newest, "summary").iloc[0]
    text = rendered(pages.roas.layout(week=api_world.newest))
    assert "Which test to run next" in text and "roas-experiments" in text
    assert json.dumps(f"{summary['top_sentence']}.")[1:-1] in text  # as escaped in the rendered JSON
    worth = designs.loc[designs["best"]].sort_values("rank")["worth_it"].iloc[0]
    assert ("Next: " in text) == bool(worth) and ("the best candidate: " in text) == (not worth)
    for channel in designs.loc[designs["best"], "channel"]:
        assert f'"{channel}"' in text
    assert "roas-experiment-plan" in text  # its CSV download


def test_an_error_shows_a_reference_and_never_the_traceback(request_context, caplog):
    from umm_dash.components.page import page

    def body(week, **_):
        raise RuntimeError("secret internals")

    text = rendered(page("/probe")(body)(week=None))
    assert "umm-error" in text and "secret internals" not in text and "Traceback" not in text
    assert "secret internals" in caplog.text  # logged on the server, with the reference shown


def test_the_week_selector_writes_the_chosen_week_into_the_url(request_context, api_world):
    from umm_dash.components import week

    older, newest = api_world.model_weeks
    assert week.week_of(None) == newest and week.week_of(f"?week={older}") == older
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": f"{week.SELECT_ID}.value", "value": older}]))
    search, _, _ = week.sync("?geo=national", older)
    assert search == f"?geo=national&week={older}"
    context_value.set(AttributeDict(triggered_inputs=[{"prop_id": "_pages_location.search", "value": search}]))
    _, value, options = week.sync(search, None)
    assert value == older and [o["value"] for o in options] == [newest, older]


def test_the_planner_says_where_a_move_leaves_the_measured_spend_and_health_names_the_shape_kept(
        request_context, pages, api_world):
    allocation = current().tables("allocation", api_world.newest, "allocation")["allocation"]
    text = rendered(pages.planner.layout(week=api_world.newest))
    assert "\"evidence\"" in text
    assert all(json.dumps(v)[1:-1] in text for v in allocation["support"])
    for note in allocation.loc[allocation["support_note"] != "", "support_note"]:
        assert json.dumps(note)[1:-1] in text  # a warning banner per flagged channel, with its numbers
    diagnostics = current().tables("mmm_posterior", api_world.newest, "diagnostics")["diagnostics"].iloc[0]
    health = rendered(pages.health.layout(week=api_world.newest))
    assert f"Saturation kept: {diagnostics['saturation']}; carry-over: {diagnostics['adstock']}" in health


def test_a_scenario_sums_to_its_budget_and_keeps_a_locked_channel(request_context, pages, api_world):
    allocation = current().tables("allocation", api_world.newest, "allocation")["allocation"].set_index("channel")
    budget = float(allocation["current"].sum()) * 1.1
    ids = [{"channel": c} for c in allocation.index]
    locks = [c == "tv" for c in allocation.index]
    bounds, locked = pages.planner.constraints(ids, locks, [0.0] * len(ids), [None] * len(ids))
    assert locked == ["tv"] and "tv" not in bounds
    answer = pages.planner.solve(Role.analyst, api_world.newest, budget, bounds, locked)
    assert answer.status == 200
    rows = pd.DataFrame(answer.stored["rows"]).set_index("channel")
    assert rows["recommended"].sum() == pytest.approx(budget, rel=1e-6)
    assert rows.at["tv", "recommended"] == pytest.approx(allocation.at["tv", "current"])


def test_a_viewer_cannot_solve_and_bad_input_is_explained(request_context, pages, api_world):
    assert pages.planner.solve(Role.viewer, api_world.newest, 1000.0, {}, []).status == 403
    assert pages.planner.solve(Role.analyst, api_world.newest, -5, {}, []).status == 422
    channel = "tv"
    inverted = pages.planner.solve(Role.analyst, api_world.newest, 1000.0, {channel: (10.0, 5.0)}, [])
    assert inverted.status == 422 and "lower bound" in rendered(inverted.children)
    everything = current().tables("allocation", api_world.newest, "allocation")["allocation"]["channel"].tolist()
    infeasible = pages.planner.solve(Role.analyst, api_world.newest, 1.0, {}, everything)
    assert infeasible.status == 422


def test_history_compares_the_selected_week_with_the_previous_one(request_context, pages, api_world):
    older, newest = api_world.model_weeks
    frame = current().history()
    table = pages.history.changes(frame, newest).set_index("channel")
    before = frame[frame["as_of"] == older].set_index("channel")
    pd.testing.assert_series_equal(table["roas_before"], before["roas_mean"], check_names=False)
    assert pages.history.changes(frame, older).empty
