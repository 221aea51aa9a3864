"""Model health page: the model's fit against the actual revenue."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from umm_dash.figures.common import ACTUAL_COLOUR, PER_WEEK, band, layout


def fit(frame: pd.DataFrame, geo: str) -> go.Figure:
    """Predicted weekly revenue with its 90 % interval against the actual; weeks outside the interval in red."""
    frame = frame[frame["geo"] == geo].sort_values("week")
    colour = "#1c7ed6"
    figure = go.Figure()
    band(figure, frame["week"], frame["predicted_lower"], frame["predicted_upper"], colour, "predicted",
         showlegend=True)
    figure.add_trace(go.Scatter(x=frame["week"], y=frame["predicted_mean"], mode="lines", name="predicted",
                                line={"color": colour, "width": 2},
                                hovertemplate="predicted %{y:,.0f}<extra></extra>"))
    outside = (frame["actual"] < frame["predicted_lower"]) | (frame["actual"] > frame["predicted_upper"])
    figure.add_trace(go.Scatter(x=frame["week"], y=frame["actual"], mode="lines+markers", name="actual",
                                line={"color": ACTUAL_COLOUR, "width": 1.5},
                                marker={"size": 5, "color": ["#e03131" if o else ACTUAL_COLOUR for o in outside]},
                                hovertemplate="actual %{y:,.0f}<extra></extra>"))
    figure.update_layout(hovermode="x unified")
    return layout(figure, x="week (Monday)", y=f"revenue ({PER_WEEK})", height=400)
