"""CSV download buttons: every table on a page can be downloaded as the stored numbers, unformatted.

A page registers how to build each table for a week (:func:`table`); the button's id names it, and one
pattern-matching callback serves every button on every page.
"""

from __future__ import annotations

from collections.abc import Callable

import dash_mantine_components as dmc
import pandas as pd
from dash import MATCH, Input, Output, State, callback, dcc, html

from umm_dash import access
from umm_dash.components.week import week_of

BUILDERS: dict[str, Callable[[str | None], pd.DataFrame]] = {}


def table(name: str):
    """Register ``fn(week) -> DataFrame`` as the downloadable table ``name`` (prefixed by its page)."""

    def register(fn: Callable[[str | None], pd.DataFrame]):
        BUILDERS[name] = fn
        return fn

    return register


def button(name: str, label: str = "CSV") -> html.Div:
    return html.Div([
        dmc.Button(label, id={"type": "umm-csv", "table": name}, variant="default", size="xs",
                   leftSection="⤓", className="umm-csv"),
        dcc.Download(id={"type": "umm-csv-file", "table": name}),
    ])


@callback(Output({"type": "umm-csv-file", "table": MATCH}, "data"),
          Input({"type": "umm-csv", "table": MATCH}, "n_clicks"),
          State({"type": "umm-csv", "table": MATCH}, "id"), State("_pages_location", "search"),
          prevent_initial_call=True)
def download(_, button_id: dict, search: str | None):
    name = button_id["table"]
    week = week_of(search)
    frame = BUILDERS[name](week)
    access.record("GET", f"/download/{name}.csv", query=f"week={week}" if week else "")
    return dcc.send_data_frame(frame.to_csv, f"{name}-{week or 'all'}.csv", index=False)
