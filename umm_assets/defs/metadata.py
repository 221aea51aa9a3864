"""Dagster metadata helpers shared by the stages: markdown tables and small embedded plots."""

import base64
import io

import dagster as dg
import pandas as pd


def table_md(frame: pd.DataFrame, *, digits: int = 3, rows: int = 30) -> dg.MetadataValue:
    if frame.empty:
        return dg.MetadataValue.md("_(no rows)_")
    return dg.MetadataValue.md(frame.head(rows).round(digits).to_markdown(index=False))


def line_plot_md(frame: pd.DataFrame, x: str, lines: dict[str, str], *, band: tuple[str, str] | None = None,
                 title: str = "") -> dg.MetadataValue:
    """A PNG line plot embedded in markdown (the Dagster UI renders it in the materialization's metadata)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3), dpi=90)
    if band:
        ax.fill_between(frame[x], frame[band[0]], frame[band[1]], alpha=0.25, label="90 % interval")
    for column, label in lines.items():
        ax.plot(frame[x], frame[column], label=label, linewidth=1.2)
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![{title}](data:image/png;base64,{encoded})")
