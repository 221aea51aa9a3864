"""History: how each channel's ROAS and the recommended split moved across the materialized as-of weeks —
whether last quarter's recommendation still holds."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
import pandas as pd

from umm_dash.components import download
from umm_dash.components.cards import empty_state, graph, page_header, section
from umm_dash.components.page import page
from umm_dash.components.table import frame_table, number, text
from umm_dash.data import current
from umm_dash.figures import history as figures
from umm_dash.figures.common import MONEY

dash.register_page(__name__, path="/history", name="History", order=6, title="History · Unified-M")
COLUMNS = {"as_of": ("as of", text), "channel": ("channel", text), "roas_mean": ("ROAS", number(2)),
           "roas_lower": ("90 % low", number(2)), "roas_upper": ("90 % high", number(2)),
           "current": (f"current per week ({MONEY})", number()), "recommended": ("recommended", number()),
           "held": ("held", lambda v: "yes" if v else "")}
SHOWN_WEEKS = 4
CHANGE_COLUMNS = {"channel": ("channel", text), "roas_before": ("ROAS before", number(2)),
                  "roas_now": ("ROAS now", number(2)), "recommended_before": ("recommended before", number()),
                  "recommended_now": ("recommended now", number())}
BACKFILL = ".venv/bin/umm materialize --from {start} --to {end} --select mmm_posterior,reconciled_lift,allocation"


def changes(history: pd.DataFrame, week: str) -> pd.DataFrame:
    """Per channel, the selected week against the previous materialized week: ROAS and recommended spend."""
    weeks = sorted(history["as_of"].unique())
    if week not in weeks or weeks.index(week) == 0:
        return pd.DataFrame(columns=["channel", "roas_before", "roas_now", "recommended_before", "recommended_now"])
    before = weeks[weeks.index(week) - 1]
    pivot = history[history["as_of"].isin([before, week])].pivot(index="channel", columns="as_of",
                                                                 values=["roas_mean", "recommended"])
    return pd.DataFrame({"channel": pivot.index, "roas_before": pivot[("roas_mean", before)].to_numpy(),
                         "roas_now": pivot[("roas_mean", week)].to_numpy(),
                         "recommended_before": pivot[("recommended", before)].to_numpy(),
                         "recommended_now": pivot[("recommended", week)].to_numpy()}).reset_index(drop=True)


@page("/history")
def layout(week: str | None, **_):
    history = _history(week)
    weeks = sorted(history["as_of"].unique())
    body = [page_header("History", "How each channel's return and the recommended split moved from one as-of week "
                                   "to the next: does last quarter's recommendation still hold?", week,
                        f"{len(weeks)} materialized as-of week{'s' if len(weeks) != 1 else ''}")]
    if len(weeks) < 2:
        body.append(empty_state("Only one as-of week is materialized", BACKFILL.format(
            start=_weeks_before(week, 12), end=week), "A history needs the model chain for several weeks: backfill it "
                                                      "(one fit per week, a few minutes each), e.g. the last quarter:"))
    body += [
        section("ROAS by as-of week", graph("history-roas", figures.roas(history, week)),
                "Reconciled ROAS of each channel with its 90 % interval; the dotted line is the selected week."),
        section("Recommended weekly spend by as-of week", graph("history-split", figures.split(history, week)),
                "Stacked: the whole recommended budget, split by channel."),
        section("Since the previous as-of week", _changes(history, week),
                "Per channel: this week's ROAS and recommended spend next to the previous materialized week's."),
        section("Table", frame_table(_latest(history), COLUMNS, id="history-table", min_width=720),
                f"The latest {SHOWN_WEEKS} as-of weeks of the table GET /api/v1/history serves; the CSV has them all.",
                actions=download.button("history-table")),
    ]
    return body


def _latest(history: pd.DataFrame) -> pd.DataFrame:
    shown = sorted(history["as_of"].unique())[-SHOWN_WEEKS:]
    return history[history["as_of"].isin(shown)].sort_values(["as_of", "channel"], ascending=[False, True])


def _changes(history: pd.DataFrame, week: str | None):
    table = changes(history, week) if week else pd.DataFrame()
    if table.empty:
        return dmc.Text("Needs an earlier materialized as-of week to compare with.", size="sm", c="dimmed")
    return frame_table(table, CHANGE_COLUMNS, id="history-changes")


def _weeks_before(week: str | None, n: int) -> str:
    return (pd.Timestamp(week) - pd.Timedelta(weeks=n)).date().isoformat() if week else "W1"


@download.table("history-table")
def _history(week: str | None) -> pd.DataFrame:
    """Every materialized as-of week up to the selected one."""
    history = current().history()
    return history[history["as_of"] <= week] if week else history

