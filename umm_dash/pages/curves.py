"""Response curves: how much weekly revenue each channel returns at each level of weekly spend, and what the
next unit of spend returns (marginal ROAS) at the current and the recommended spend."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
import pandas as pd
from dash import Input, Output, State, callback, html

from umm_dash.components import download
from umm_dash.components.cards import graph, page_header, section
from umm_dash.components.page import guard, page
from umm_dash.components.table import frame_table, number, text
from umm_dash.components.week import week_of
from umm_dash.data import ALLOCATION, MMM_POSTERIOR, RECONCILED_LIFT, current
from umm_dash.figures import curves as figures
from umm_dash.figures.common import MONEY, colours

dash.register_page(__name__, path="/curves", name="Response curves", order=3, title="Response curves · Unified-M")
SOURCES = {"reconciled": RECONCILED_LIFT, "mmm": MMM_POSTERIOR}
ALL = "all"
MARGINAL_COLUMNS = {"channel": ("channel", text), "current": (f"current spend per week ({MONEY})", number()),
                    "marginal_current": ("marginal ROAS at current", number(2)),
                    "recommended": ("recommended per week", number()),
                    "marginal_recommended": ("marginal ROAS at recommended", number(2))}


def spends(curves: pd.DataFrame, allocation: pd.DataFrame | None) -> dict[str, dict[str, float]]:
    """Per channel, the weekly spends to mark: current (the plan's, else the curve's) and recommended."""
    out = {c: {"current": float(rows["current_spend"].iloc[0])} for c, rows in curves.groupby("channel")}
    if allocation is not None:
        for row in allocation.itertuples():
            out.setdefault(row.channel, {}).update(current=float(row.current), recommended=float(row.recommended))
    return out


def marginal_table(curves: pd.DataFrame, marked: dict[str, dict[str, float]]) -> pd.DataFrame:
    rows = []
    for channel, curve in curves.groupby("channel", sort=True):
        points = figures.marks(curve, marked.get(channel, {})).set_index("mark")
        rows.append({"channel": channel,
                     **{k: points["spend"].get(k) for k in ("current", "recommended")},
                     **{f"marginal_{k}": points["marginal_roas"].get(k) for k in ("current", "recommended")}})
    return pd.DataFrame(rows, columns=["channel", "current", "marginal_current", "recommended",
                                       "marginal_recommended"])


def _load(week: str | None, source: str):
    data = current()
    curves = data.optional(SOURCES[source], week, "response_curves") if source == "reconciled" else None
    if curves is None:
        source, curves = "mmm", data.tables(MMM_POSTERIOR, week, "response_curves")
    plan = data.optional(ALLOCATION, week, "allocation")
    return source, curves["response_curves"], spends(curves["response_curves"], plan and plan["allocation"])


def content(week: str | None, source: str, channel: str) -> list:
    """The figures for one view: every channel small, or one channel in detail with its marginal ROAS."""
    source, curves, marked = _load(week, source)
    palette = colours(curves["channel"])
    if channel in palette:
        rows = curves[curves["channel"] == channel]
        return [graph("curves-detail", figures.channel(rows, marked.get(channel, {}), palette[channel], detail=True))]
    cells = [dmc.Paper([dmc.Text(name, fw=600, size="sm"), graph({"type": "curves-small", "channel": name},
                        figures.channel(rows, marked.get(name, {}), palette[name]))], withBorder=True, p="xs")
             for name, rows in curves.groupby("channel", sort=True)]
    return [dmc.SimpleGrid(cells, cols={"base": 1, "sm": 2, "xl": 3}, spacing="sm")]


@page("/curves")
def layout(week: str | None, channel: str = ALL, source: str = "reconciled", **_):
    source_used, curves, marked = _load(week, source if source in SOURCES else "reconciled")
    names = sorted(curves["channel"].unique())
    return [
        page_header("Response curves", "What a week's spend in each channel returns in revenue, and what the next "
                                       "unit of spend would return, at the current and the recommended spend.", week),
        dmc.Group([
            dmc.SegmentedControl(id="curves-channel", value=channel if channel in names else ALL,
                                 data=[{"value": ALL, "label": "All channels"}, *names]),
            dmc.SegmentedControl(id="curves-source", value=source_used,
                                 data=[{"value": "reconciled", "label": "Reconciled"},
                                       {"value": "mmm", "label": "MMM only"}]),
        ], gap="sm", className="umm-controls"),
        section("Weekly revenue against weekly spend", html.Div(content(week, source_used, channel),
                                                                id="curves-content"),
                "Line: posterior mean; shade: 90 % interval. ● current spend, ★ recommended.",
                actions=download.button("curves-curves")),
        section("Marginal ROAS", frame_table(marginal_table(curves, marked), MARGINAL_COLUMNS, id="curves-marginal"),
                "Revenue from the next unit of weekly spend: above 1 it still pays back.",
                actions=download.button("curves-marginal")),
    ]


@callback(Output("curves-content", "children"), Input("curves-channel", "value"), Input("curves-source", "value"),
          State("_pages_location", "search"), prevent_initial_call=True)
@guard(lambda message: [message])
def switch(channel: str, source: str, search: str | None):
    return content(week_of(search), source, channel)


@download.table("curves-curves")
def _curves(week: str | None) -> pd.DataFrame:
    return _load(week, "reconciled")[1]


@download.table("curves-marginal")
def _marginal(week: str | None) -> pd.DataFrame:
    _, curves, marked = _load(week, "reconciled")
    return marginal_table(curves, marked)
