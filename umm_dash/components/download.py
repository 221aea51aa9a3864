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
# a text cell starting with one of these is run as a formula by spreadsheets (CSV injection): channel names and
# other texts come from users' raw files, so they are written with a leading apostrophe (OWASP's advice)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _inert(value):
    if not isinstance(value, str) or not value.startswith(FORMULA_START) or _plain_number(value):
        return value
    return f"'{value}"


def _plain_number(text: str) -> bool:
    """A number held as text (``-1.5``) is no formula: it stays as it is."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell and column name that a spreadsheet would run as a formula made inert;
    numbers are left as they are."""
    out = frame.rename(columns=_inert)
    for column in out.columns[[not pd.api.types.is_numeric_dtype(t) for t in out.dtypes]]:
        out[column] = out[column].map(_inert)
    return out


def send_csv(frame: pd.DataFrame, filename: str) -> dict:
    """What a download callback returns: ``frame`` as CSV, safe to open in a spreadsheet."""
    return dcc.send_data_frame(csv_safe(frame).to_csv, filename, index=False)


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
    return send_csv(frame, f"{name}-{week or 'all'}.csv")
