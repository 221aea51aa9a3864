"""Contributions page: weekly revenue split into baseline and channels, and the window's totals."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from umm_dash.figures.common import ACTUAL_COLOUR, BASELINE_COLOUR, INTERVAL, MONEY, PER_WEEK, colours, layout

BASELINE = "baseline"


def weekly(contributions: pd.DataFrame, fit: pd.DataFrame | None, geo: str) -> go.Figure:
    """Stacked areas of the mean weekly baseline and channel contributions, the actual revenue on top; each
    channel's 90 % interval is in its hover text."""
    frame = contributions[contributions["geo"] == geo].sort_values("week")
    channels = sorted(c for c in frame["component"].unique() if c != BASELINE)
    palette = colours(channels)
    figure = go.Figure()
    for component in [BASELINE, *channels]:
        part = frame[frame["component"] == component]
        figure.add_trace(go.Scatter(
            x=part["week"], y=part["mean"], name=component, stackgroup="revenue", mode="lines",
            line={"width": 0.5, "color": palette.get(component, BASELINE_COLOUR)},
            customdata=part[["lower", "upper"]].to_numpy(),
            hovertemplate=f"{component}: %{{y:,.0f}} ({INTERVAL} %{{customdata[0]:,.0f}} – %{{customdata[1]:,.0f}})"
                          "<extra></extra>"))
    if fit is not None and not fit.empty:
        actual = fit[fit["geo"] == geo].sort_values("week")
        figure.add_trace(go.Scatter(x=actual["week"], y=actual["actual"], name="actual revenue", mode="lines",
                                    line={"color": ACTUAL_COLOUR, "width": 2},
                                    hovertemplate="actual: %{y:,.0f}<extra></extra>"))
    figure.update_layout(hovermode="x unified")
    return layout(figure, x="week (Monday)", y=f"revenue ({PER_WEEK})", height=440)


def totals(contributions: pd.DataFrame, geo: str) -> pd.DataFrame:
    """Window totals per component: mean with its 90 % interval (the intervals of weekly sums are not additive,
    so each component's total interval is the sum of its weekly bounds: a conservative band)."""
    frame = contributions[contributions["geo"] == geo]
    out = frame.groupby("component", as_index=False)[["mean", "lower", "upper"]].sum()
    order = [BASELINE, *sorted(c for c in out["component"] if c != BASELINE)]
    return out.set_index("component").reindex([c for c in order if c in set(out["component"])]).reset_index()


def waterfall(contributions: pd.DataFrame, geo: str) -> go.Figure:
    """The model window's revenue built up from the baseline, channel by channel, to the modelled total."""
    table = totals(contributions, geo)
    measures = ["absolute", *["relative"] * (len(table) - 1), "total"]
    figure = go.Figure(go.Waterfall(
        x=[*table["component"], "total"], y=[*table["mean"], 0], measure=measures,
        text=[f"{v / 1e6:,.2f} M" for v in table["mean"]] + [f"{table['mean'].sum() / 1e6:,.2f} M"],
        textposition="outside", connector={"line": {"color": "#ced4da"}},
        increasing={"marker": {"color": "#1c7ed6"}}, totals={"marker": {"color": "#495057"}},
        hovertemplate="%{x}: %{y:,.0f}<extra></extra>"))
    figure.update_yaxes(rangemode="tozero")
    return layout(figure, x="component", y=f"revenue over the model window ({MONEY})", height=380, legend=False)
