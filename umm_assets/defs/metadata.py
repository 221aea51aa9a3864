"""Dagster metadata helpers shared by the stages: tables and figures formatted for people (the formatting
itself is :mod:`umm_assets.lib.humanize`), links, and small embedded plots.

Tables are ``MetadataValue.table`` (the UI draws a real table, no "[Show Markdown]" click) whose values are
text already formatted: ``2,891,080``, ROAS ``3.12``, shares ``42.0 %``. Headline figures (a channel's ROAS,
the blended ROAS, the plan's uplift) are entries of their own, numbers the UI shows inline and plots over
the partitions' materializations."""

import base64
import io
from collections.abc import Mapping

import dagster as dg
import pandas as pd

from umm_assets.lib import humanize

_DISPLAY = {"precise": "3 decimals", "elpd": "2 decimals", "count": "whole number", "percent": "percent",
            "ratio": "2 decimals", "amount": "thousands separators, whole units from 100 up"}


def _column_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_float_dtype(series):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    return "string"


def table(frame: pd.DataFrame, *, rows: int = 30) -> dg.MetadataValue:
    """A table the Dagster UI draws as one; each value formatted by its column (:func:`humanize.cell`), each
    column's type that of the data, its description how it is shown."""
    if frame.empty:
        return dg.MetadataValue.md("_(no rows)_")
    columns = [dg.TableColumn(str(c), type=(kind := _column_type(frame[c])),
                              description=f"shown with {_DISPLAY[humanize.column_kind(str(c))]}"
                              if kind == "float" else None)
               for c in frame.columns]
    records = [dg.TableRecord(r) for r in humanize.formatted_records(frame, rows=rows)]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


def fields(record: pd.Series | Mapping) -> dg.MetadataValue:
    """A one-row table (diagnostics, a summary) as ``field | value`` rows: readable where a row of 20
    columns is not."""
    return table(humanize.fields_frame(record), rows=len(record))


def table_md(frame: pd.DataFrame, *, rows: int = 30) -> dg.MetadataValue:
    """The same formatting as :func:`table`, as a markdown table (numbers right-aligned)."""
    if frame.empty:
        return dg.MetadataValue.md("_(no rows)_")
    shown = pd.DataFrame(humanize.formatted_records(frame, rows=rows), columns=[str(c) for c in frame.columns])
    align = ["right" if humanize.is_numeric(frame[c]) else "left" for c in frame.columns]
    return dg.MetadataValue.md(shown.to_markdown(index=False, disable_numparse=True, colalign=align))


def figures(values: Mapping[str, object]) -> dict[str, dg.MetadataValue]:
    """Headline figures as entries the UI shows inline: floats, ints and text (None is left out)."""
    out = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            out[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            out[key] = dg.MetadataValue.float(value)
        else:
            out[key] = dg.MetadataValue.text(str(value))
    return out


def dashboard_link(base_url: str | None, page: str, week: str) -> dict[str, dg.MetadataValue]:
    """``{"dashboard": <the page for the week>}``, or nothing without a dashboard address."""
    return {"dashboard": dg.MetadataValue.url(humanize.dash_page_url(base_url, page, week))} if base_url else {}


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
