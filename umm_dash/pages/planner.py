"""Budget planner: next week's recommended split, the efficiency frontier, and custom scenarios solved on the
server by the scenario solver the REST API uses (analysts only)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import dash
import dash_mantine_components as dmc
import pandas as pd
from dash import ALL, Input, Output, Patch, State, callback, ctx, dcc, html, no_update

from umm_assets.lib.allocate import InfeasibleBudget, UnknownChannel
from umm_assets.lib.serving.keys import Role
from umm_dash import access, verdicts
from umm_dash.components import download
from umm_dash.components.cards import banners, graph, kpi, page_header, section
from umm_dash.components.page import guard, page
from umm_dash.components.table import frame_table, number, text
from umm_dash.components.week import week_of
from umm_dash.data import ALLOCATION, current
from umm_dash.figures import planner as figures
from umm_dash.figures.common import MONEY, message

dash.register_page(__name__, path="/planner", name="Budget planner", order=4, title="Budget planner · Unified-M")
SCENARIO_PATH = "/planner/scenario"
PLAN_COLUMNS = {"channel": ("channel", text), "current": (f"current per week ({MONEY})", number()),
                "recommended": ("recommended", number()), "change": ("change", number()),
                "lower_bound": ("allowed from", number()), "upper_bound": ("allowed to", number()),
                "marginal_roas_recommended": ("marginal ROAS at recommended", number(2)),
                "hold_reason": ("note", text), "support": ("evidence", text)}


def _tables(week: str | None):
    return current().tables(ALLOCATION, week, "allocation", "summary", "frontier")


def plan_table(allocation: pd.DataFrame) -> pd.DataFrame:
    return allocation.assign(change=allocation["recommended"] - allocation["current"]).sort_values("channel")


def _plan_columns(frame: pd.DataFrame, split: str = "recommended") -> dict:
    columns = {k: v for k, v in PLAN_COLUMNS.items() if k in frame or k == "change"}  # notes only when stored
    return {**columns, "recommended": (split, columns["recommended"][1])}


@page("/planner")
def layout(week: str | None, **_):
    tables = _tables(week)
    allocation, summary = tables["allocation"], tables["summary"].iloc[0].to_dict()
    return [
        page_header("Budget planner", "How to split next week's budget, what it is expected to gain, and what "
                                      "another budget or constraint would do.", week,
                    f"objective: {_objective(summary)}"),
        *banners(verdicts.allocation(summary, allocation)),
        dmc.SimpleGrid(_kpis(summary), cols={"base": 1, "xs": 2, "lg": 3}, spacing="md"),
        section("Current and recommended split", [
            graph("planner-split", figures.split(allocation)),
            frame_table(plan_table(allocation), _plan_columns(allocation), id="planner-plan"),
        ], "Weekly spend per channel; the whiskers show the range each recommendation was allowed to move in.",
            actions=download.button("planner-plan")),
        section("Efficiency frontier", graph("planner-frontier", _frontier(tables, summary)),
                "The best expected revenue at each total budget: where the curve flattens, more budget buys little.",
                actions=download.button("planner-frontier")),
        section("Try a scenario", _form(allocation, summary),
                "Change the total budget, a channel's range, or lock a channel at its current spend, then solve."),
    ]


def _objective(summary: dict) -> str:
    if summary.get("objective") == "cvar":
        return f"protect the worst {float(summary.get('cvar_alpha', 0.25)):.0%} of outcomes (CVaR)"
    return "maximize expected revenue"


def _kpis(summary: dict) -> list:
    return [
        kpi("Weekly budget", f"{summary['budget']:,.0f}", f"{MONEY}; current split spends "
                                                          f"{summary.get('current_total', summary['budget']):,.0f}",
            id="planner-budget-kpi"),
        kpi("Expected uplift per week", f"{summary['uplift_mean']:+,.0f}",
            f"90 % interval {summary['uplift_lower']:+,.0f} – {summary['uplift_upper']:+,.0f}", id="planner-uplift"),
        kpi("Expected media revenue per week", f"{summary['expected_revenue_recommended']:,.0f}",
            f"from {summary['expected_revenue_current']:,.0f} with the current split", id="planner-revenue"),
    ]


def _frontier(tables, summary: dict):
    frontier = tables.get("frontier")
    if frontier is None or frontier.empty:
        return message("No frontier was stored for this week.")
    return figures.frontier(frontier, float(summary["budget"]))


# --- the scenario form ---------------------------------------------------------------------------


def _form(allocation: pd.DataFrame, summary: dict) -> html.Div:
    allowed = access.role() >= Role.analyst
    budget = float(summary["budget"])
    rows = [_channel_row(row, allowed) for row in allocation.sort_values("channel").itertuples()]
    notice = None if allowed else dmc.Alert(
        f"Scenarios need an analyst key; you are signed in as a {access.role().name}. You can still read the "
        "recommended plan above.", color="gray", variant="light", id="planner-viewer-note")
    return html.Div([
        notice,
        dmc.Group([
            dmc.NumberInput(id="planner-budget", label=f"Total weekly budget ({MONEY})", value=round(budget, 2),
                            min=0, step=max(round(budget / 100), 1), thousandSeparator=",", w=260,
                            disabled=not allowed, decimalScale=2),
            html.Div(dmc.Slider(id="planner-budget-slider", value=round(budget, 2), min=round(0.5 * budget),
                                max=round(1.5 * budget), step=max(round(budget / 200), 1), disabled=not allowed,
                                marks=[{"value": round(r * budget), "label": f"{r:.0%}"} for r in (0.5, 1.0, 1.5)],
                                label=None, updatemode="mouseup"), style={"flex": "1 1 240px", "minWidth": 200,
                                                                          "padding": "0 24px 18px 8px"}),
        ], align="flex-end", gap="lg", wrap="wrap"),
        dmc.Text("Per channel: lock keeps this week's spend; otherwise the split moves within the range.",
                 size="sm", c="dimmed", style={"margin": "12px 0 4px"}),
        dmc.Stack(rows, gap=6),
        dmc.Group([dmc.Button("Solve", id="planner-solve", disabled=not allowed),
                   html.Div([dmc.Button("Download scenario CSV", id="planner-download-button", variant="default",
                                        disabled=True, leftSection="⤓"), dcc.Download(id="planner-download")])],
                  gap="sm", style={"marginTop": 12}),
        dcc.Store(id="planner-scenario"),
        dcc.Loading(html.Div(id="planner-result", style={"marginTop": 12}), type="dot", delay_show=300),
        # drawn once with the page and patched by each solve: a redraw costs less than mounting a new graph
        html.Div(graph("planner-scenario-split", figures.split(allocation, allocation.assign(recommended=None))),
                 id="planner-scenario-figure", style={"display": "none"}),
    ])


def _channel_row(row, allowed: bool) -> dmc.Group:
    """Name and lock, then the range (kept together when a phone wraps the row)."""
    key = {"channel": row.channel}
    bound = {"min": 0, "thousandSeparator": ",", "w": 110, "size": "xs", "disabled": not allowed, "decimalScale": 2}
    return dmc.Group([
        dmc.Group([dmc.Text(row.channel, fw=500, w=70, size="sm"),
                   dmc.Checkbox(id={"type": "planner-lock", **key}, label="lock", checked=bool(row.locked),
                                disabled=not allowed),
                   dmc.Text(f"now {row.current:,.0f}", size="xs", c="dimmed", w=80)], gap="xs", wrap="nowrap"),
        dmc.Group([dmc.NumberInput(id={"type": "planner-min", **key}, value=round(float(row.lower_bound), 2),
                                   **bound, **{"aria-label": f"{row.channel} minimum"}),
                   dmc.Text("to", size="sm", c="dimmed"),
                   dmc.NumberInput(id={"type": "planner-max", **key}, value=round(float(row.upper_bound), 2),
                                   **bound, **{"aria-label": f"{row.channel} maximum"})], gap="xs", wrap="nowrap"),
    ], gap="xs", wrap="wrap", className="umm-planner-row")


@callback(Output("planner-budget", "value"), Output("planner-budget-slider", "value"),
          Input("planner-budget", "value"), Input("planner-budget-slider", "value"), prevent_initial_call=True)
def sync_budget(typed, slid):
    """The number box and the slider show one budget (typing moves the slider, dragging fills the box)."""
    if ctx.triggered_id == "planner-budget-slider":
        return slid, no_update
    return no_update, typed


# --- solving --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What the page shows for a scenario request, its audit status, and the stored split (for the CSV)."""

    children: list
    status: int
    stored: dict | None = None


def constraints(ids: Sequence[dict], locks: Sequence[bool], lows: Sequence, highs: Sequence
                ) -> tuple[dict[str, tuple[float | None, float | None]], list[str]]:
    """The form's rows as the solver's (bounds, locked): a locked channel keeps its current spend."""
    bounds, locked = {}, []
    for i, lock, low, high in zip(ids, locks, lows, highs, strict=True):
        if lock:
            locked.append(i["channel"])
        else:
            bounds[i["channel"]] = (_amount(low), _amount(high))
    return bounds, locked


def _amount(value) -> float | None:
    return None if value in (None, "") else float(value)


def solve(role: Role, week: str | None, budget, bounds: dict, locked: list[str]) -> Answer:
    """Solve a scenario for an analyst; refuse anyone else (403) and explain bad input (422)."""
    if role < Role.analyst:
        return Answer([_alert("Scenarios need an analyst key.", "red")], 403)
    if budget is None or float(budget) <= 0:
        return Answer([_alert("Enter a positive total budget.", "orange")], 422)
    for channel, (low, high) in bounds.items():
        if low is not None and high is not None and low > high:
            return Answer([_alert(f"{channel}: the lower bound {low:,.0f} is above the upper {high:,.0f}.",
                                  "orange")], 422)
    started = time.perf_counter()
    try:
        result = current().scenario(week, float(budget), bounds, locked)
    except (InfeasibleBudget, UnknownChannel) as err:
        return Answer([_alert(str(err), "orange")], 422)
    elapsed = (time.perf_counter() - started) * 1000
    frame = result.allocation.sort_values("channel")
    stored = {"week": week, "budget": float(budget), "rows": json.loads(frame.to_json(orient="records")),
              "summary": json.loads(pd.Series(result.summary).to_json())}  # JSON for the browser: NaN as null
    return Answer(_result(frame, result.summary, elapsed), 200, stored)


def _alert(text_: str, colour: str) -> dmc.Alert:
    return dmc.Alert(text_, color=colour, variant="light", id="planner-message")


def _result(frame: pd.DataFrame, summary: dict, elapsed_ms: float) -> list:
    total = float(frame["recommended"].sum())
    return [
        dmc.SimpleGrid([
            kpi("Scenario: expected uplift per week", f"{summary['uplift_mean']:+,.0f}",
                f"90 % interval {summary['uplift_lower']:+,.0f} – {summary['uplift_upper']:+,.0f} vs the current "
                "split", id="planner-scenario-uplift"),
            kpi("Scenario split total", f"{total:,.0f}", f"budget {summary['budget']:,.0f} · solver: "
                                                         f"{summary.get('status', '')} in {elapsed_ms:,.0f} ms",
                id="planner-scenario-total"),
        ], cols={"base": 1, "sm": 2}, spacing="md"),
        frame_table(plan_table(frame), _plan_columns(frame, "scenario"), id="planner-scenario-table"),
    ]


@callback(Output("planner-result", "children"), Output("planner-scenario", "data"),
          Output("planner-download-button", "disabled"), Output("planner-frontier", "figure"),
          Output("planner-scenario-split", "figure"), Output("planner-scenario-figure", "style"),
          Input("planner-solve", "n_clicks"),
          State("planner-budget", "value"), State({"type": "planner-lock", "channel": ALL}, "checked"),
          State({"type": "planner-min", "channel": ALL}, "value"), State({"type": "planner-max", "channel": ALL},
                                                                           "value"),
          State({"type": "planner-lock", "channel": ALL}, "id"), State("_pages_location", "search"),
          prevent_initial_call=True)
@guard(lambda message: ([message], None, True, no_update, no_update, {"display": "none"}))
def run(_, budget, locks, lows, highs, ids, search):
    week = week_of(search)
    bounds, locked = constraints(ids, locks, lows, highs)
    answer = solve(access.role(), week, budget, bounds, locked)
    access.record("POST", SCENARIO_PATH, answer.status, f"week={week}&budget={budget}")
    if answer.stored is None:
        return answer.children, None, True, no_update, no_update, {"display": "none"}
    # only the scenario's numbers travel: both figures are patched, not rebuilt and redrawn from scratch
    point, bars = Patch(), Patch()
    point["data"][figures.SCENARIO_TRACE].update(x=[answer.stored["budget"]], showlegend=True,
                                                 y=[answer.stored["summary"]["expected_revenue_recommended"]])
    bars["data"][figures.SCENARIO_BARS]["y"] = [row["recommended"] for row in answer.stored["rows"]]
    return answer.children, answer.stored, False, point, bars, {"display": "block"}


@callback(Output("planner-download", "data"), Input("planner-download-button", "n_clicks"),
          State("planner-scenario", "data"), prevent_initial_call=True)
def download_scenario(_, stored: dict | None):
    """The solved scenario as CSV (analysts only, like the solve itself)."""
    if stored is None or access.role() < Role.analyst:
        access.record("GET", "/download/planner-scenario.csv", 403)
        return no_update
    access.record("GET", "/download/planner-scenario.csv", query=f"week={stored['week']}")
    frame = pd.DataFrame(stored["rows"]).assign(budget=stored["budget"], week=stored["week"])
    return download.send_csv(frame, f"scenario-{stored['week']}-{stored['budget']:.0f}.csv")


@download.table("planner-plan")
def _plan(week: str | None) -> pd.DataFrame:
    return plan_table(_tables(week)["allocation"])


@download.table("planner-frontier")
def _frontier_table(week: str | None) -> pd.DataFrame:
    return _tables(week).require("frontier")
