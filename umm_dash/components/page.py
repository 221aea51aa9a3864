"""What every page and callback does the same way: read the week from the URL, show an empty state when
the week is not materialized, keep tracebacks off the page (logged with a reference instead), and write
the page view to the audit log."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import dash_mantine_components as dmc

from umm_dash import access
from umm_dash.components.cards import empty_state, error_card, in_progress_state
from umm_dash.data import Missing, current

log = logging.getLogger("umm_dash")


def reference_for(where: str) -> str:
    """Log the exception being handled with a short reference, and return the reference."""
    reference = uuid.uuid4().hex[:8]
    log.exception("dashboard error %s in %s", reference, where)
    return reference


def missing(err: Missing) -> dmc.Alert:
    """What is missing and the command that makes it — or, while a run is making it, that run."""
    data = current()
    running = data.progress(err.asset, err.week)
    if running is None:
        return empty_state(str(err).capitalize(), err.command)
    link = f"{data.dagster_url}{running.ui_path()}" if data.dagster_url else None
    return in_progress_state(str(err), running.message, link)


def page(path: str) -> Callable:
    """Decorate a page's ``body(week, **query)``: it becomes the page's ``layout(**query)``."""

    def wrap(body: Callable) -> Callable:
        @functools.wraps(body)
        def layout(**query):
            if not access.has_request():  # Dash validating layouts at start-up: nothing to read yet
                return dmc.Stack([])
            asked = query.pop("week", None)
            status = 200
            try:
                week = current().week(asked)
                content = _stack(body(week, **query))
                if asked and week != asked:
                    content = dmc.Stack([_fallback(asked, week), content], gap="md")
            except Missing as err:
                status, content = 404, missing(err)
            except Exception:
                status, content = 500, error_card(reference_for(f"page {path}"))
            access.record("GET", path, status, urlencode({**({"week": asked} if asked else {}), **query}))
            return _stack(content)

        return layout

    return wrap


def guard(on_error: Callable[[dmc.Alert], object]) -> Callable:
    """Decorate a callback: a missing week or an unexpected error becomes ``on_error(message)`` (logged)."""

    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Missing as err:
                return on_error(missing(err))
            except Exception:
                return on_error(error_card(reference_for(f"callback {fn.__name__}")))

        return run

    return wrap


def _stack(content):
    return dmc.Stack(content, gap="md") if isinstance(content, list) else content


def _fallback(asked: str, week: str | None) -> dmc.Alert:
    shown = f"showing the newest, {week}" if week else "nothing is materialized yet"
    return dmc.Alert(f"The week of {asked} has no materialized model: {shown}.", color="yellow", variant="light")
