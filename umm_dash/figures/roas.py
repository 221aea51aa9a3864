"""ROAS & reconciliation page: a forest plot of every source per channel, and the tests in their own units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from umm_dash.figures.common import INTERVAL, MONEY, layout

# (label, column prefix or single column, marker, colour); drawn top to bottom within a channel
SOURCES = (
    ("MMM", "mmm_roas", "circle", "#868e96"),
    ("experiments", "tests_roas", "square", "#f76707"),
    ("attribution (raw)", "attribution_roas", "x", "#ae3ec9"),
    ("attribution (bias-corrected)", "attribution_roas_calibrated", "triangle-up", "#be4bdb"),
    ("reconciled", "roas", "diamond", "#1c7ed6"),
)
STEP = 0.16  # vertical offset between sources of one channel


def _estimate(row: pd.Series, prefix: str) -> tuple[float, float, float]:
    """(mean, lower, upper) of a source, NaN where it has no estimate (raw attribution has no interval)."""
    if f"{prefix}_mean" in row:
        return tuple(float(row.get(f"{prefix}_{k}", np.nan)) for k in ("mean", "lower", "upper"))
    value = float(row.get(prefix, np.nan))
    return value, np.nan, np.nan


def forest(reconciled: pd.DataFrame) -> go.Figure:
    """Per channel, each source's ROAS with its 90 % interval; the reconciled estimate is the diamond. The axis
    ends a little past the model's and the experiments' intervals: a source far outside (raw attribution can be
    off by a factor of ten) is drawn at the edge with its value written next to it."""
    frame = reconciled.sort_values("channel", ascending=False).reset_index(drop=True)
    edge = _edge(frame)
    figure = go.Figure()
    for k, (label, prefix, symbol, colour) in enumerate(SOURCES):
        rows = [(i, *_estimate(row, prefix)) for i, row in frame.iterrows()]
        rows = [r for r in rows if np.isfinite(r[1])]
        if not rows:
            continue
        y = [i + (len(SOURCES) // 2 - k) * STEP for i, *_ in rows]
        mean, lower, upper = (np.array([r[j] for r in rows]) for j in (1, 2, 3))
        shown = np.minimum(mean, edge)
        figure.add_trace(go.Scatter(
            x=shown, y=y, mode="markers", name=label,
            marker={"symbol": symbol, "size": 13 if label == "reconciled" else 10, "color": colour},
            error_x={"type": "data", "array": np.nan_to_num(np.minimum(upper, edge) - shown),
                     "arrayminus": np.nan_to_num(shown - np.minimum(lower, edge)), "visible": True,
                     "thickness": 2 if label == "reconciled" else 1.2, "width": 4},
            customdata=np.stack([[frame.loc[r[0], "channel"] for r in rows], mean, lower, upper], axis=1),
            hovertemplate=f"%{{customdata[0]}} · {label}: %{{customdata[1]:.2f}} ({INTERVAL} %{{customdata[2]:.2f}}"
                          " – %{customdata[3]:.2f})<extra></extra>"))
        for value, at in zip(mean, y, strict=True):
            if value > edge:
                figure.add_annotation(x=edge, y=at, text=f"{value:.1f} →", showarrow=False, xanchor="right",
                                      font={"size": 11, "color": colour}, yshift=9)
    figure.add_vline(x=1.0, line={"dash": "dot", "color": "#adb5bd"},
                     annotation={"text": "break-even", "font": {"size": 11, "color": "#868e96"}})
    figure.update_yaxes(tickvals=list(range(len(frame))), ticktext=list(frame["channel"]), showgrid=False,
                        zeroline=False, range=[-0.6, len(frame) - 0.4])
    for i in range(len(frame) - 1):  # a rule between channels, so each group of estimates reads as one
        figure.add_hline(y=i + 0.5, line={"color": "#e9ecef", "width": 1})
    figure.update_xaxes(range=[0, edge * 1.02])
    return layout(figure, x="ROAS (revenue per unit of spend)", y="channel", height=max(320, 110 * len(frame) + 80))


def _edge(frame: pd.DataFrame) -> float:
    """Where the ROAS axis ends: past every interval of the MMM, the experiments and the reconciliation."""
    columns = [c for c in ("mmm_roas_upper", "tests_roas_upper", "roas_upper") if c in frame]
    highest = np.nanmax(frame[columns].to_numpy(dtype=float)) if columns else 1.0
    return float(max(1.25 * highest, 1.5))


def tests(coverage: pd.DataFrame) -> go.Figure:
    """Each experiment's measured lift next to what the MMM and the reconciled model predict for the same
    channel, dates and spend (incremental revenue over the test, in the test's own units)."""
    measured = coverage.drop_duplicates("test_id").sort_values("test_id", ascending=False).reset_index(drop=True)
    position = {t: i for i, t in enumerate(measured["test_id"])}
    labels = [f"{r.test_id} ({r.channel})" for r in measured.itertuples()]
    figure = go.Figure()
    figure.add_trace(_lift_trace("measured by the test", measured, position, "lift", "lift_lower", "lift_upper",
                                 STEP, "#f76707", "square"))
    for source, colour, shift in (("mmm", "#868e96", 0.0), ("reconciled", "#1c7ed6", -STEP)):
        rows = coverage[coverage["source"] == source]
        if not rows.empty:
            name = "MMM prediction" if source == "mmm" else "reconciled prediction"
            figure.add_trace(_lift_trace(name, rows, position, "predicted_mean", "predicted_lower", "predicted_upper",
                                         shift, colour, "diamond" if source == "reconciled" else "circle"))
    figure.update_yaxes(tickvals=list(range(len(measured))), ticktext=labels, showgrid=False, zeroline=False,
                        range=[-0.6, len(measured) - 0.4])
    return layout(figure, x=f"incremental revenue ({MONEY})", y="experiment",
                  height=max(280, 90 * len(measured) + 90))


def _lift_trace(name: str, rows: pd.DataFrame, position: dict, mean: str, lower: str, upper: str, shift: float,
                colour: str, symbol: str) -> go.Scatter:
    centre = rows[mean].to_numpy(dtype=float)
    return go.Scatter(
        x=centre, y=[position[t] + shift for t in rows["test_id"]], mode="markers", name=name,
        marker={"symbol": symbol, "size": 11, "color": colour},
        error_x={"type": "data", "array": rows[upper].to_numpy(dtype=float) - centre,
                 "arrayminus": centre - rows[lower].to_numpy(dtype=float), "width": 4},
        customdata=np.stack([rows["test_id"], rows[lower], rows[upper]], axis=1),
        hovertemplate=f"%{{customdata[0]}} · {name}: %{{x:,.0f}} ({INTERVAL} %{{customdata[1]:,.0f}} – "
                      "%{customdata[2]:,.0f})<extra></extra>")
