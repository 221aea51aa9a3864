"""Response curves page: weekly revenue against weekly spend per channel, current and recommended spend marked."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from umm_dash.figures.common import INTERVAL, PER_WEEK, band, layout

MARKS = (("current", "circle", "#495057"), ("recommended", "star", "#e8590c"))


def marks(curve: pd.DataFrame, spends: dict[str, float]) -> pd.DataFrame:
    """Response and marginal ROAS (means) at the given weekly spends, read off the curve."""
    grid = curve["spend"].to_numpy(dtype=float)
    rows = []
    for label, spend in spends.items():
        if spend is None or not np.isfinite(spend):
            continue
        rows.append({"mark": label, "spend": spend,
                     "response": float(np.interp(spend, grid, curve["response_mean"].to_numpy(dtype=float))),
                     "marginal_roas": float(np.interp(spend, grid, curve["marginal_roas_mean"].to_numpy(dtype=float)))})
    return pd.DataFrame(rows, columns=["mark", "spend", "response", "marginal_roas"])


def channel(curve: pd.DataFrame, spends: dict[str, float], colour: str, *, detail: bool = False) -> go.Figure:
    """One channel's curve with its 90 % band and the marked spends; ``detail`` adds the marginal ROAS below."""
    curve = curve.sort_values("spend")
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.62, 0.38]) \
        if detail else go.Figure()
    row = {"row": 1, "col": 1} if detail else {}
    _curve(figure, curve, "response", colour, row)
    points = marks(curve, spends)
    _marks(figure, points, "response", row)
    if detail:
        _curve(figure, curve, "marginal_roas", colour, {"row": 2, "col": 1})
        _marks(figure, points, "marginal_roas", {"row": 2, "col": 1})
        figure.add_hline(y=1.0, line={"dash": "dot", "color": "#adb5bd"}, row=2, col=1)
        figure.update_yaxes(title_text="marginal ROAS (per unit of spend)", row=2, col=1)
        figure.update_xaxes(title_text=f"weekly spend ({PER_WEEK})", row=2, col=1)
        return layout(figure, x="", y=f"revenue ({PER_WEEK})", height=620)
    return layout(figure, x=f"weekly spend ({PER_WEEK})", y=f"revenue ({PER_WEEK})", height=300, legend=False)


def _curve(figure: go.Figure, curve: pd.DataFrame, what: str, colour: str, where: dict) -> None:
    band(figure, curve["spend"], curve[f"{what}_lower"], curve[f"{what}_upper"], colour, what, **where)
    label = "revenue" if what == "response" else "marginal ROAS"
    number = ",.0f" if what == "response" else ".2f"
    figure.add_trace(go.Scatter(x=curve["spend"], y=curve[f"{what}_mean"], mode="lines", name=label,
                                line={"color": colour, "width": 2.5},
                                customdata=curve[[f"{what}_lower", f"{what}_upper"]].to_numpy(),
                                hovertemplate=f"spend %{{x:,.0f}}: {label} %{{y:{number}}} ({INTERVAL} "
                                              f"%{{customdata[0]:{number}}} – %{{customdata[1]:{number}}})"
                                              "<extra></extra>"), **where)


def _marks(figure: go.Figure, points: pd.DataFrame, what: str, where: dict) -> None:
    for label, symbol, colour in MARKS:
        point = points[points["mark"] == label]
        if point.empty:
            continue
        figure.add_trace(go.Scatter(
            x=point["spend"], y=point[what], mode="markers", name=f"{label} spend",
            marker={"symbol": symbol, "size": 13, "color": colour, "line": {"color": "white", "width": 1}},
            legendgroup=label, showlegend=where.get("row", 1) == 1, customdata=point[["marginal_roas"]].to_numpy(),
            hovertemplate=f"{label}: spend %{{x:,.0f}}, revenue %{{y:,.0f}}, marginal ROAS "
                          "%{customdata[0]:.2f}<extra></extra>" if what == "response" else
                          f"{label}: marginal ROAS %{{y:.2f}} at spend %{{x:,.0f}}<extra></extra>"), **where)
