"""What every figure shares: the look, the channel colours, units in axis titles, interval bands."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

# one colour per channel, stable across pages (assigned in sorted channel order); baseline is grey
PALETTE = ("#1c7ed6", "#f76707", "#37b24d", "#ae3ec9", "#f59f00", "#0ca678", "#e64980", "#4263eb", "#74b816",
           "#868e96")
BASELINE_COLOUR = "#adb5bd"
ACTUAL_COLOUR = "#212529"
MONEY = "input currency"
PER_WEEK = f"{MONEY} per week"
INTERVAL = "90 % interval"


def colours(channels: Iterable[str]) -> dict[str, str]:
    return {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(sorted(set(channels)))}


def rgba(colour: str, alpha: float) -> str:
    """``#rrggbb`` as a CSS rgba() with this opacity (for interval bands)."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def layout(figure: go.Figure, *, x: str, y: str, height: int = 420, legend: bool = True) -> go.Figure:
    """The shared look: white template, axis titles with units, a horizontal legend above the plot."""
    figure.update_layout(
        template="plotly_white", height=height, margin={"l": 64, "r": 16, "t": 24, "b": 56},
        font={"family": "-apple-system, BlinkMacSystemFont, Segoe UI, Roboto, sans-serif", "size": 13},
        hoverlabel={"namelength": -1}, showlegend=legend,
        # above the plot: below it, a phone's wrapped legend runs into the x-axis title (the top margin grows)
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
    )
    if x:  # (subplots title their own axes)
        figure.update_layout(xaxis_title=_wrapped(x))
    if y:
        figure.update_layout(yaxis_title=_wrapped(y))
    return figure


def _wrapped(title: str, width: int = 30) -> str:
    """A long axis title on two lines (before its unit in brackets), so narrow figures do not cut it."""
    if len(title) <= width or " (" not in title:
        return title
    head, _, unit = title.partition(" (")
    return f"{head}<br>({unit}"


def band(figure: go.Figure, x: Sequence, lower: Sequence, upper: Sequence, colour: str, name: str, *,
         row: int | None = None, col: int | None = None, showlegend: bool = False) -> None:
    """A shaded 90 % interval between two lines (drawn as one closed polygon, no hover)."""
    xs = list(x)
    figure.add_trace(go.Scatter(x=xs + xs[::-1], y=list(upper) + list(lower)[::-1], fill="toself", mode="lines",
                                fillcolor=rgba(colour, 0.18), line={"width": 0}, hoverinfo="skip",
                                name=f"{name} ({INTERVAL})", legendgroup=name, showlegend=showlegend),
                     row=row, col=col)


def message(text: str, height: int = 240) -> go.Figure:
    """An empty figure that says why it is empty."""
    figure = go.Figure()
    figure.add_annotation(text=text, showarrow=False, font={"size": 14, "color": "#495057"}, x=0.5, y=0.5,
                          xref="paper", yref="paper")
    figure.update_layout(template="plotly_white", height=height, xaxis={"visible": False},
                         yaxis={"visible": False}, margin={"l": 8, "r": 8, "t": 8, "b": 8})
    return figure


def finite(values: Iterable) -> np.ndarray:
    return pd.to_numeric(pd.Series(list(values)), errors="coerce").to_numpy(dtype=float)
