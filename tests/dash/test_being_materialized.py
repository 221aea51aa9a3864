"""The dashboard's empty state while a run makes the week: which run, since when, a link to it in the Dagster UI,
and a poll that reloads the page until it has committed; without a run, the command that makes the week."""

from __future__ import annotations

import json

import flask
import plotly

from umm_assets.lib.serving.progress import InProgress
from umm_dash.components.cards import PROGRESS_POLL
from umm_dash.components.page import missing
from umm_dash.data import EXTENSION, Data, Missing

WEEK = "2026-11-23"


def _render(component) -> str:
    return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder)


def _lookup(asset: str, week: str | None) -> InProgress | None:
    return InProgress(asset, week, "running", 1796280000.0, run_id="1a2b3c4d5e6f") if asset == "allocation" else None


def test_a_week_being_materialized_shows_its_run_and_polls():
    app = flask.Flask(__name__)
    app.extensions[EXTENSION] = Data(reader=None, progress=_lookup, dagster_url="http://127.0.0.1:3000")
    with app.app_context():
        shown = _render(missing(Missing("allocation", WEEK)))
        assert f"allocation is not materialized for the week of {WEEK}" in shown
        assert "Being materialized \\u2014 run 1a2b3c4d, started 2026-12-03 06:40:00 UTC." in shown
        assert "http://127.0.0.1:3000/runs/1a2b3c4d5e6f" in shown and PROGRESS_POLL in shown

        idle = _render(missing(Missing("mmm_posterior", WEEK)))
        assert f".venv/bin/umm materialize --partition {WEEK} --select mmm_posterior,reconciled_lift,allocation,experiment_plan" in idle
        assert PROGRESS_POLL not in idle and "Being materialized" not in idle
