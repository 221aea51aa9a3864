"""A table of a frame, formatted for reading (not for copying: every table also downloads as CSV)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import dash_mantine_components as dmc
import numpy as np
import pandas as pd

Format = Callable[[object], object]  # a cell's text (or a small component)


def number(digits: int = 0) -> Format:
    return lambda v: "–" if _missing(v) else f"{float(v):,.{digits}f}"


def percent(digits: int = 0) -> Format:
    return lambda v: "–" if _missing(v) else f"{100 * float(v):,.{digits}f} %"


def signed_percent(digits: int = 0) -> Format:
    return lambda v: "–" if _missing(v) else f"{100 * float(v):+,.{digits}f} %"


def timestamp(v: object) -> str:
    """An ISO time as 'YYYY-MM-DD HH:MM UTC'."""
    if _missing(v):
        return "–"
    moment = pd.Timestamp(str(v))
    moment = moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


STATUS_COLOURS = {"fresh": "green", "stale": "orange", "missing": "gray"}


def status_badge(v: object) -> dmc.Badge:
    return dmc.Badge(text(v), color=STATUS_COLOURS.get(str(v), "gray"), variant="light")


def text(v: object) -> str:
    return "–" if _missing(v) else str(v)


def yes_no(v: object) -> str:
    return "–" if _missing(v) else ("yes" if bool(v) else "no")


def _missing(v: object) -> bool:
    return v is None or (isinstance(v, float | np.floating) and not np.isfinite(v)) or v is pd.NaT or v == ""


def frame_table(frame: pd.DataFrame, columns: Mapping[str, tuple[str, Format]], *, id: str | None = None,
                min_width: int = 560) -> dmc.TableScrollContainer:
    """``columns``: frame column -> (heading, formatter); scrolls sideways on narrow screens."""
    head = dmc.TableThead(dmc.TableTr([dmc.TableTh(heading) for heading, _ in columns.values()]))
    body = dmc.TableTbody([dmc.TableTr([dmc.TableTd(fmt(row.get(col))) for col, (_, fmt) in columns.items()])
                           for row in frame.to_dict("records")])
    table = dmc.Table([head, body], striped=True, highlightOnHover=True, tabularNums=True, fz="sm",
                      className="umm-table",
                      **({"id": id} if id else {}))
    return dmc.TableScrollContainer(table, minWidth=min_width, type="native")
