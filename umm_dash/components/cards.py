"""Cards every page uses: a headline number, a section, the empty state, the error card, banners."""

from __future__ import annotations

from collections.abc import Sequence

import dash
import dash_mantine_components as dmc
from dash import Input, Output, dcc, html

GRAPH_CONFIG = {"displaylogo": False, "responsive": True,
                "modeBarButtonsToRemove": ["lasso2d", "select2d", "autoScale2d"],
                "toImageButtonOptions": {"format": "png", "scale": 2}}
TONES = {"fail": ("red", "Check failed"), "warn": ("orange", "Warning"), "info": ("blue", "Note")}


def kpi(label: str, value: str, detail: str = "", *, id: str | None = None, tone: str | None = None) -> dmc.Paper:
    """A headline number with a label above and a line of context below."""
    return dmc.Paper([
        dmc.Text(label, size="sm", c="dimmed", fw=500),
        dmc.Text(value, size="xl", fw=700, id=id or {"kpi": label}, style={"fontSize": 26},
                 **({"c": tone} if tone else {})),
        dmc.Text(detail, size="xs", c="dimmed"),
    ], withBorder=True, radius="md", p="md")


def section(title: str, children, description: str = "", *, actions=None) -> dmc.Paper:
    """A titled block of a page: what it shows in one line, then the figure or table."""
    header = dmc.Group([dmc.Stack([dmc.Title(title, order=4),
                                   dmc.Text(description, size="sm", c="dimmed") if description else None], gap=2),
                        actions], justify="space-between", align="flex-start", wrap="wrap")
    return dmc.Paper([header, html.Div(children, style={"marginTop": 12})], withBorder=True, radius="md", p="md")


def graph(id: str | dict, figure) -> dcc.Graph:
    """A figure that fills its column's width at the figure's own height (plotly's responsive mode would
    otherwise take the height of a container that has none)."""
    height = figure.layout.height or 420
    return dcc.Graph(id=id, figure=figure, config=GRAPH_CONFIG, className="umm-graph",
                     style={"height": f"{height}px", "width": "100%"})


def empty_state(what: str, command: str, detail: str = "") -> dmc.Alert:
    """What is missing, and the exact command that makes it."""
    return dmc.Alert([
        dmc.Text(detail or "Nothing to show for this week yet. Materialize it with:", size="sm"),
        dmc.Code(command, block=True, className="umm-command", style={"marginTop": 8}),
        dmc.Text("(from the project folder; or launch the same run from the Dagster UI). Reload the page once the "
                 "run has committed.", size="xs", c="dimmed", style={"marginTop": 6}),
    ], title=what, color="gray", variant="light", radius="md", className="umm-empty")


PROGRESS_POLL = "umm-progress-poll"
PROGRESS_POLL_SECONDS = 20

# while a run is making what the page needs, the page reloads itself every PROGRESS_POLL_SECONDS
dash.clientside_callback("function(n) { if (n) { window.location.reload(); } return window.dash_clientside.no_update; }",
                         Output(PROGRESS_POLL, "disabled"), Input(PROGRESS_POLL, "n_intervals"), prevent_initial_call=True)


def in_progress_state(what: str, message: str, link: str | None) -> dmc.Alert:
    """An asset week a run is making right now: which run, since when, and where to watch it."""
    watch = [dmc.Anchor("Watch the run in the Dagster UI", href=link, target="_blank", size="sm")] if link else []
    return dmc.Alert([
        dmc.Text(message[:1].upper() + message[1:] + ".", size="sm"),
        *watch,
        dmc.Text("The page reloads on its own until the run has committed.", size="xs", c="dimmed",
                 style={"marginTop": 6}),
        dcc.Interval(id=PROGRESS_POLL, interval=PROGRESS_POLL_SECONDS * 1000),
    ], title=what, color="blue", variant="light", radius="md", className="umm-in-progress")


def error_card(reference: str) -> dmc.Alert:
    """A failure without the traceback (that is in the server log, under ``reference``)."""
    return dmc.Alert(f"This part could not be shown. The details are in the dashboard's log (reference "
                     f"{reference}); reloading may help if the week was being rewritten.",
                     title="Something went wrong", color="red", variant="light", className="umm-error")


def banners(verdicts: Sequence) -> list[dmc.Alert]:
    """One alert per failed check or notable flag (``verdicts``: objects with ``tone``, ``title``, ``text``)."""
    return [dmc.Alert(v.text, title=v.title, color=TONES[v.tone][0], variant="light", radius="md",
                      className=f"umm-banner umm-banner-{v.tone}") for v in verdicts]


def page_header(title: str, question: str, week: str | None, lineage: str = "") -> dmc.Stack:
    """The page's title, the question it answers, and which week (and materialization) it shows."""
    subtitle = f"As of the week of {week}" if week else "No materialized week yet"
    return dmc.Stack([
        dmc.Title(title, order=2),
        dmc.Text(question, c="dimmed", size="sm"),
        dmc.Text(subtitle + (f" · {lineage}" if lineage else ""), size="xs", c="dimmed"),
    ], gap=2)
