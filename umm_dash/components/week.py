"""The as-of week selector: one dropdown in the header, kept in the URL (``?week=YYYY-MM-DD``), so a link
reproduces the view and every page reads its week from the query string."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlencode

import dash_mantine_components as dmc
from dash import Input, Output, callback, ctx, no_update

from umm_dash.data import current

PARAM = "week"
SELECT_ID = "shell-week"


def week_of(search: str | None) -> str | None:
    """The week a URL's query string asks for, resolved to a materialized one (default: the newest)."""
    asked = parse_qs((search or "").lstrip("?")).get(PARAM, [None])[0]
    return current().week(asked)


def label(week: str) -> str:
    return f"Week of {dt.date.fromisoformat(week):%d %b %Y}"


def selector() -> dmc.Select:
    return dmc.Select(id=SELECT_ID, data=[], value=None, allowDeselect=False, searchable=True, w=200,
                      placeholder="no weeks yet", comboboxProps={"shadow": "md"}, checkIconPosition="right",
                      **{"aria-label": "as-of week"})


def options(weeks: list[str]) -> list[dict]:
    return [{"value": w, "label": label(w)} for w in reversed(weeks)]


def search_with(search: str | None, week: str) -> str:
    """The query string with ``week`` replaced (other parameters kept)."""
    query = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
    query[PARAM] = week
    return "?" + urlencode(query)


@callback(Output("_pages_location", "search"), Output(SELECT_ID, "value"), Output(SELECT_ID, "data"),
          Input("_pages_location", "search"), Input(SELECT_ID, "value"))
def sync(search: str | None, chosen: str | None):
    """URL -> dropdown on navigation; dropdown -> URL when the user picks a week (one callback: no cycle)."""
    weeks = current().weeks()
    if ctx.triggered_id == SELECT_ID and chosen:
        return search_with(search, chosen), no_update, no_update
    return no_update, week_of(search), options(weeks)
