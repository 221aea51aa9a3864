"""Budget planner page: the split per channel (current, recommended, a scenario) and the efficiency frontier."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from umm_dash.figures.common import INTERVAL, PER_WEEK, band, layout

SCENARIO_TRACE = 2  # the frontier's traces: band, line, scenario
SCENARIO_BARS = 2  # the split's traces with a scenario: current, recommended, scenario
SPLITS = (("current", "current split", "#adb5bd"), ("recommended", "recommended", "#1c7ed6"),
          ("scenario", "your scenario", "#f76707"))


def split(allocation: pd.DataFrame, scenario: pd.DataFrame | None = None) -> go.Figure:
    """Weekly spend per channel: current, recommended (whiskers: the bounds it was allowed to move within) and,
    if given, a scenario's split."""
    frame = allocation.sort_values("channel")
    if scenario is not None:
        frame = frame.merge(scenario[["channel", "recommended"]].rename(columns={"recommended": "scenario"}),
                            on="channel", how="left")
    figure = go.Figure()
    for column, name, colour in SPLITS:
        if column not in frame:
            continue
        whiskers = None
        if column == "recommended":
            whiskers = {"type": "data", "array": frame["upper_bound"] - frame[column],
                        "arrayminus": frame[column] - frame["lower_bound"], "color": "#495057", "width": 6}
        figure.add_trace(go.Bar(
            x=frame["channel"], y=frame[column], name=name, marker_color=colour, error_y=whiskers,
            customdata=frame[["lower_bound", "upper_bound"]].to_numpy(),
            hovertemplate=f"%{{x}} · {name}: %{{y:,.0f}} (allowed %{{customdata[0]:,.0f}} – "
                          "%{customdata[1]:,.0f})<extra></extra>"))
    figure.update_layout(barmode="group", bargap=0.25)
    return layout(figure, x="channel", y=f"spend ({PER_WEEK})", height=400)


def frontier(points: pd.DataFrame, budget: float, scenario: tuple[float, float] | None = None) -> go.Figure:
    """Expected weekly revenue of the best split at each total budget (50-150 % of this week's), with its
    90 % interval; the recommended budget and a scenario marked."""
    points = points.sort_values("budget")
    colour = "#1c7ed6"
    figure = go.Figure()
    band(figure, points["budget"], points["expected_revenue_lower"], points["expected_revenue_upper"], colour,
         "expected revenue", showlegend=True)
    figure.add_trace(go.Scatter(
        x=points["budget"], y=points["expected_revenue_mean"], mode="lines+markers", name="best split",
        line={"color": colour, "width": 2.5}, customdata=points[["uplift_mean", "uplift_lower", "uplift_upper"]],
        hovertemplate=f"budget %{{x:,.0f}}: revenue %{{y:,.0f}}; uplift vs current %{{customdata[0]:,.0f}} "
                      f"({INTERVAL} %{{customdata[1]:,.0f}} – %{{customdata[2]:,.0f}})<extra></extra>"))
    figure.add_vline(x=budget, line={"dash": "dot", "color": "#495057"},
                     annotation={"text": "this week's budget", "font": {"size": 11}})
    # always present (empty until solved), so a scenario only patches its x and y: SCENARIO_TRACE
    figure.add_trace(go.Scatter(x=[scenario[0]] if scenario else [], y=[scenario[1]] if scenario else [],
                                mode="markers", name="your scenario", showlegend=scenario is not None,
                                marker={"symbol": "star", "size": 16, "color": "#f76707"},
                                hovertemplate="scenario: budget %{x:,.0f}, revenue %{y:,.0f}<extra></extra>"))
    return layout(figure, x=f"total budget ({PER_WEEK})", y=f"expected revenue from media ({PER_WEEK})", height=400)
