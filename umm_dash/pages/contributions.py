"""Contributions: where the revenue of the model window came from, week by week and in total."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
import pandas as pd
from dash import Input, Output, State, callback

from umm_assets.lib.contracts import NATIONAL
from umm_dash.components import download
from umm_dash.components.cards import graph, page_header, section
from umm_dash.components.page import guard, page
from umm_dash.components.table import frame_table, number, text
from umm_dash.components.week import week_of
from umm_dash.data import MMM_POSTERIOR, current
from umm_dash.figures import contributions as figures
from umm_dash.figures.common import MONEY

dash.register_page(__name__, path="/contributions", name="Contributions", order=1,
                   title="Contributions · Unified-M")
TOTAL_COLUMNS = {"component": ("component", text), "mean": (f"window total ({MONEY})", number()),
                 "lower": ("90 % low", number()), "upper": ("90 % high", number())}


def _tables(week: str | None):
    return current().tables(MMM_POSTERIOR, week, "contributions", "fit")


def _geos(contributions: pd.DataFrame) -> list[str]:
    geos = sorted(contributions["geo"].astype(str).unique())
    return [NATIONAL, *(g for g in geos if g != NATIONAL)] if NATIONAL in geos else geos


@page("/contributions")
def layout(week: str | None, geo: str | None = None, **_):
    tables = _tables(week)
    geos = _geos(tables["contributions"])
    geo = geo if geo in geos else geos[0]
    return [
        page_header("Contributions", "Where revenue came from: the baseline (what would sell without media) and "
                                     "each channel, week by week over the model window.", week),
        dmc.Select(id="contributions-geo", data=geos, value=geo, label="Geo", w=220, allowDeselect=False,
                   style={"display": "block" if len(geos) > 1 else "none"}),
        section("Weekly revenue by source", graph("contributions-weekly", figures.weekly(
            tables["contributions"], tables.get("fit"), geo)),
            "Stacked means; hover a week for each source's 90 % interval. The black line is actual revenue.",
            actions=download.button("contributions-weekly")),
        section("Totals over the model window", [
            graph("contributions-waterfall", figures.waterfall(tables["contributions"], geo)),
            frame_table(figures.totals(tables["contributions"], geo), TOTAL_COLUMNS, id="contributions-totals"),
        ], "From the baseline to modelled revenue, channel by channel.",
            actions=download.button("contributions-totals")),
    ]


@callback(Output("contributions-weekly", "figure"), Output("contributions-waterfall", "figure"),
          Input("contributions-geo", "value"), State("_pages_location", "search"), prevent_initial_call=True)
@guard(lambda message: (dash.no_update, dash.no_update))
def by_geo(geo: str, search: str | None):
    tables = _tables(week_of(search))
    return figures.weekly(tables["contributions"], tables.get("fit"), geo), figures.waterfall(
        tables["contributions"], geo)


@download.table("contributions-weekly")
def _weekly(week: str | None) -> pd.DataFrame:
    return _tables(week)["contributions"]


@download.table("contributions-totals")
def _totals(week: str | None) -> pd.DataFrame:
    contributions = _tables(week)["contributions"]
    return pd.concat([figures.totals(contributions, g).assign(geo=g) for g in _geos(contributions)],
                     ignore_index=True)
