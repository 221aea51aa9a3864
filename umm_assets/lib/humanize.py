"""Numbers, durations and links for people: what the Dagster UI and the run log show of a materialization.

Pure (no Dagster): ``umm_assets/defs/metadata.py`` wraps these into metadata values.

- :func:`duration` — ``7 min 12 s``, ``52.3 s``.
- :class:`FitTime` and :func:`step_time_line` — where a model step's time went.
- :func:`cell` / :func:`formatted_records` — a table's values as text: money with thousands separators
  (``2,891,080``, never ``2.89108e+06``), ROAS with 2 decimals, shares as percentages.
- :func:`headline_key`, :func:`channel_figures`, :func:`blended_roas` — figures worth an entry of their own.
- :func:`dash_page_url` — a dashboard page for a week.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np
import pandas as pd

MISSING = "—"


# --- durations -------------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``52.3 s`` under a minute, ``7 min 12 s`` under an hour, ``1 h 5 min`` above."""
    seconds = max(float(seconds), 0.0)
    if round(seconds, 1) < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes} min {rest} s"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h {rest} min"


# the fitter's timings (``FitResult.timings``) shown for each fit, in this order
FIT_PARTS = ("compile", "sampling", "holdout")


@dataclass(frozen=True)
class FitTime:
    """One model fit's time: ``seconds`` of wall clock over all its attempts (a fit that did not converge is
    sampled again, longer), each attempt's summaries included; ``parts`` the fitter's own timers
    (``FitResult.timings``) summed over the attempts."""

    label: str
    seconds: float
    parts: Mapping[str, float] = field(default_factory=dict)
    attempts: int = 1
    compile_reused: bool = False

    @classmethod
    def of(cls, label: str, attempts: Sequence[tuple[float, Mapping[str, float], bool]]) -> FitTime:
        """From each attempt's (wall-clock seconds, the fitter's timings, whether its compilation was reused)."""
        parts = {part: sum(float(t.get(part, 0.0)) for _, t, _ in attempts)
                 for part in FIT_PARTS if any(part in t for _, t, _ in attempts)}
        return cls(label, sum(s for s, _, _ in attempts), parts, len(attempts),
                   bool(attempts) and all(reused for _, _, reused in attempts))

    def describe(self) -> str:
        """``logistic fit 3 min 41 s (compile 52.0 s, sampling 2 min 30 s, holdout 12.0 s)``."""
        shown = [f"{part} {duration(s)}{' (reused)' if part == 'compile' and self.compile_reused else ''}"
                 for part, s in self.parts.items()]
        tries = f" in {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.label + ' ' if self.label else ''}fit {duration(self.seconds)}{tries}" + (
            f" ({', '.join(shown)})" if shown else "")


def step_time_line(where: str, total: float, fits: Sequence[FitTime], *, rest: str = "the rest",
                   detail: str = "") -> str:
    """Where a step's time went, e.g. ``mmm_posterior[2026-11-23]: 156 weeks, 7 min 12 s in all — logistic fit
    3 min 41 s (…), hill fit 3 min 18 s (…), window, choice and saving 13.0 s``. ``rest`` names what the
    remainder (``total`` minus the fits) was spent on."""
    remainder = max(total - sum(f.seconds for f in fits), 0.0)
    parts = [f.describe() for f in fits] + [f"{rest} {duration(remainder)}"]
    return f"{where}: {detail + ', ' if detail else ''}{duration(total)} in all — {', '.join(parts)}"


# --- numbers in tables -----------------------------------------------------------------------------------

# by column name (first match wins); every other float is an amount (money, revenue, spend, lift)
_KINDS = (
    ("precise", re.compile(r"rhat|pareto_k")),
    ("elpd", re.compile(r"elpd")),
    ("count", re.compile(r"(^|_)(ess|divergences|n|weeks|iterations)(_|$)")),
    ("percent", re.compile(r"^weight_|coverage|mape|wape")),
    ("ratio", re.compile(r"roas|bias|^shift_|ratio|alpha|^r2$")),
)


def column_kind(name: str) -> str:
    """How a float column is shown: ``precise`` (3 decimals: R-hat, Pareto k), ``elpd`` (2 decimals),
    ``count`` (whole, thousands separators), ``percent`` (shares: weights, coverage, MAPE), ``ratio``
    (2 decimals: ROAS, bias) or ``amount`` (thousands separators; whole units from 100 up)."""
    return next((kind for kind, pattern in _KINDS if pattern.search(name)), "amount")


def amount(value: float) -> str:
    """Money and other amounts: ``2,891,080`` (whole units from 100 up), ``45.30`` below."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def cell(value: object, kind: str = "amount") -> str:
    """One value as text for a person (missing values: an em dash)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat() if value == value.normalize() else value.isoformat(sep=" ")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if kind == "precise":
            return f"{value:.3f}"
        if kind == "elpd":
            return f"{value:,.2f}"
        if kind == "count":
            return f"{value:,.0f}"
        if kind == "percent":
            return f"{value * 100:.1f} %"
        if kind == "ratio":
            return f"{value:,.2f}"
        return amount(value)
    return str(value)


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def formatted_records(frame: pd.DataFrame, *, rows: int | None = None) -> list[dict[str, str]]:
    """The frame's rows as text, each column in its kind (:func:`column_kind`)."""
    shown = frame if rows is None else frame.head(rows)
    kinds = {c: column_kind(str(c)) for c in shown.columns}
    return [{str(c): cell(v, kinds[c]) for c, v in row.items()} for _, row in shown.iterrows()]


def fields_frame(record: pd.Series | Mapping) -> pd.DataFrame:
    """A one-row table (diagnostics, a summary) as ``field | value`` rows, each value already text."""
    return pd.DataFrame([{"field": str(k), "value": cell(v, column_kind(str(k)))} for k, v in record.items()])


# --- headline figures ------------------------------------------------------------------------------------


def headline_key(prefix: str, name: object) -> str:
    """A metadata key such as ``roas_paid_social`` for channel ``Paid Social``."""
    slug = re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
    return f"{prefix}_{slug or 'unnamed'}"


def channel_figures(frame: pd.DataFrame, column: str, *, prefix: str = "roas", digits: int = 2,
                    limit: int = 10, by: str | None = "spend") -> dict[str, float]:
    """``{prefix}_{channel}: value`` (rounded) per channel, the ``limit`` largest by ``by`` (all if fewer),
    in channel order; missing values are left out."""
    rows = frame
    if by in frame and len(frame) > limit:
        rows = frame.nlargest(limit, by)
    rows = rows.sort_values("channel")
    return {headline_key(prefix, r["channel"]): round(float(r[column]), digits)
            for _, r in rows.iterrows() if pd.notna(r[column])}


def blended_roas(spend: Iterable[float], revenue: Iterable[float]) -> float | None:
    """Incremental revenue per unit of spend over all channels (None without spend)."""
    total = float(np.nansum(list(spend)))
    return round(float(np.nansum(list(revenue))) / total, 2) if total > 0 else None


# --- links -----------------------------------------------------------------------------------------------


def dash_page_url(base: str, page: str, week: str | None = None) -> str:
    """A dashboard page, e.g. ``http://127.0.0.1:8050/roas?week=2026-11-23``."""
    url = f"{base.rstrip('/')}/{page.lstrip('/')}"
    return f"{url}?{urlencode({'week': week})}" if week else url
