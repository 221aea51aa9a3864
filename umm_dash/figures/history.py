"""History page: how ROAS and the recommended split moved across the materialized as-of weeks."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from umm_dash.figures.common import INTERVAL, PER_WEEK, band, colours, layout

BANDS_FROM = 6  # with fewer weeks, error bars read better than bands
ROW_HEIGHT = 150


def roas(history: pd.DataFrame, selected: str | None = None) -> go.Figure:
    """One row per channel: its reconciled ROAS (the MMM's where a week has no reconciliation) by as-of week with
    the 90 % interval, so each channel's movement reads on its own scale."""
    palette = colours(history["channel"])
    channels = sorted(palette)
    figure = make_subplots(rows=len(channels), cols=1, shared_xaxes=True, vertical_spacing=0.25 / len(channels),
                           subplot_titles=channels)
    few = history["as_of"].nunique() < BANDS_FROM
    for row, channel in enumerate(channels, start=1):
        rows = history[history["channel"] == channel].sort_values("as_of")
        source = "roas" if rows["roas_mean"].notna().any() else "mmm_roas"
        mean, lower, upper = (rows[f"{source}_{k}"] for k in ("mean", "lower", "upper"))
        if not few:
            band(figure, rows["as_of"], lower, upper, palette[channel], channel, row=row, col=1)
        figure.add_trace(go.Scatter(
            x=rows["as_of"], y=mean, mode="lines+markers", name=channel, line={"color": palette[channel], "width": 2},
            customdata=rows[[f"{source}_lower", f"{source}_upper"]],
            error_y={"type": "data", "array": upper - mean, "arrayminus": mean - lower, "width": 4} if few else None,
            hovertemplate=f"{channel}: %{{y:.2f}} ({INTERVAL} %{{customdata[0]:.2f}} – %{{customdata[1]:.2f}})"
                          "<extra></extra>"), row=row, col=1)
        figure.update_yaxes(title_text="ROAS", rangemode="tozero", row=row, col=1)
    _mark(figure, selected)
    figure.update_xaxes(title_text="as-of week (Monday)", row=len(channels), col=1)
    return layout(figure, x="", y="", height=ROW_HEIGHT * len(channels) + 90, legend=False)


def split(history: pd.DataFrame, selected: str | None = None) -> go.Figure:
    """The recommended weekly spend per channel, stacked, by as-of week."""
    palette = colours(history["channel"])
    figure = go.Figure()
    for channel, rows in history.sort_values("as_of").groupby("channel", sort=True):
        figure.add_trace(go.Bar(x=rows["as_of"], y=rows["recommended"], name=channel, marker_color=palette[channel],
                                customdata=rows[["current"]],
                                hovertemplate=f"{channel}: recommended %{{y:,.0f}} (current %{{customdata[0]:,.0f}})"
                                              "<extra></extra>"))
    figure.update_layout(barmode="stack", hovermode="x unified")
    _mark(figure, selected)
    return layout(figure, x="as-of week (Monday)", y=f"recommended spend ({PER_WEEK})", height=400)


def _mark(figure: go.Figure, selected: str | None) -> None:
    if selected:
        figure.add_vline(x=selected, line={"dash": "dot", "color": "#495057"})
    figure.update_xaxes(type="category" if figure.data and len({str(x) for t in figure.data for x in t.x}) < 4
                        else "date")
