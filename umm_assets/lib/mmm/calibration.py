"""Finished incrementality tests → pymc-marketing lift-test calibration rows.

See :func:`lift_tests_to_calibration` for the mapping and its stated approximations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from umm_assets.lib.weeks import shares_inside

from .frame import GEO, NATIONAL, ModelFrame


def lift_sd(lift: float, lower: float, upper: float, confidence: float | None = None) -> float:
    """Standard deviation of a test's measured lift from its interval ``lower``..``upper`` at ``confidence``
    (default 0.9); never 0, so a test reported with a zero-width interval cannot become an
    infinite-precision likelihood."""
    from scipy.stats import norm

    confidence = 0.9 if confidence is None or pd.isna(confidence) else float(confidence)
    z = float(norm.ppf(0.5 + confidence / 2))
    return max((float(upper) - float(lower)) / (2 * z), 1e-9 * max(abs(float(lift)), 1.0))


def _row_lift_sd(test: pd.Series) -> float:
    return lift_sd(test["lift"], test["lift_ci_lower"], test["lift_ci_upper"], test.get("confidence"))


def lift_tests_to_calibration(
    tests: pd.DataFrame, frame: ModelFrame
) -> tuple[pd.DataFrame, list[str]]:
    """Convert finished incrementality tests to ``add_lift_test_measurements`` rows.

    A test row has ``channel``, ``start_date``, ``end_date``, ``lift`` (total incremental
    revenue over the test window), ``lift_ci_lower``, ``lift_ci_upper``, optional
    ``confidence`` (of that interval, default 0.9), ``spend`` (channel spend in the test
    cells over the window) and ``geo``.

    Mapping ("holdout form", per-week averages). pymc-marketing compares
    ``saturation(x + delta_x) − saturation(x)`` — the steady-state weekly response of the
    curve, adstock excluded — with ``delta_y``, in input money per week. A test measures
    the revenue the channel's spend in the test cells produced against no spend, so:

    - ``n_weeks`` = test days / 7; ``S`` = the channel's weekly spend in the model unit
      (national, or the test's geo in a geo model) averaged over the test window
      (prorated by days), from the frame.
    - ``f`` = share of the unit's spend that was in the test cells = ``(spend / n_weeks)
      / S`` if ``spend`` is given (capped at 1), else 1 (the whole unit went dark).
    - ``x = 0``, ``delta_x = S``, ``delta_y = lift / n_weeks / f``,
      ``sigma = (ci_upper − ci_lower) / (2·z) / n_weeks / f`` with ``z`` the normal
      quantile of ``(1 + confidence) / 2``. Scaling by ``1/f`` assumes the test cells
      respond like a slice of the unit (homogeneous geos).
    - A national test on a geo model is split over geos by their spend share ``s_g``
      (``delta_y`` × ``s_g``, ``sigma`` × ``s_g·√G``, which keeps the test's total
      information about a common effect).

    Approximations, stated: the within-window lift of a go-dark test misses the
    carry-over outside the window, and pymc-marketing's term ignores adstock; both make
    short tests of long-carry-over channels read low. ``response.window_lift_draws``
    gives the exact model counterpart for comparisons.

    Returns
    -------
    (pd.DataFrame, list[str])
        Rows ``channel``, [``geo``], ``x``, ``delta_x``, ``delta_y``, ``sigma``, and notes
        on tests skipped (unknown channel, no spend in the window and no ``spend`` given).
    """
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    spend_geo = frame.spend_wide(by_geo=True) if frame.is_geo else frame.spend_wide()
    for i, t in tests.reset_index(drop=True).iterrows():
        try:
            test = _LiftTest.of(t, frame)
            if frame.is_geo and test.geo is None:
                rows += _geo_split_rows(test, frame, spend_geo)
            else:
                rows.append(_unit_row(test, frame, spend_geo))
        except _Skipped as why:
            notes.append(f"test {t.get('test_id', i)}: {why}; skipped")
    cols = ["channel", *([GEO] if frame.is_geo else []), "x", "delta_x", "delta_y", "sigma"]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=cols), notes
    return df[cols], notes


class _Skipped(Exception):
    """A test the calibration leaves out; the message says why."""


@dataclass(frozen=True)
class _LiftTest:
    """One test as the mapping of :func:`lift_tests_to_calibration` reads it."""

    channel: str
    geo: str | None  # None: national
    n_weeks: float  # the test's days / 7
    weights: np.ndarray  # the share of each model week inside the test
    lift: Any
    sd: float  # of the lift
    spend: float | None  # in the test cells over the test

    @classmethod
    def of(cls, t: pd.Series, frame: ModelFrame) -> _LiftTest:
        channel = str(t["channel"])
        if channel not in frame.channels:
            raise _Skipped(f"channel {channel!r} not in the model")
        start, end = pd.Timestamp(t["start_date"]), pd.Timestamp(t["end_date"])
        days = (end - start).days + 1
        if days <= 0:
            raise _Skipped("end before start")
        sd = _row_lift_sd(t)
        spend = float(t["spend"]) if pd.notna(t.get("spend", np.nan)) else None
        geo = t.get("geo", None)
        geo = None if geo is None or pd.isna(geo) or geo == NATIONAL else str(geo)
        return cls(channel, geo, days / 7.0, shares_inside(frame.weeks, start, end), t["lift"], sd, spend)

    def weekly_spend(self, unit_spend: pd.DataFrame) -> float:
        """The channel's weekly spend in a model unit (weekly rows, a column per channel) over the test."""
        return float((unit_spend[self.channel] * self.weights).sum()) / self.n_weeks

    def cells_share(self, unit: float) -> float:
        """``f``: the share of the unit's weekly spend ``unit`` that was in the test cells."""
        return min(self.spend / self.n_weeks / unit, 1.0) if self.spend else 1.0


def _geo_split_rows(test: _LiftTest, frame: ModelFrame, spend_geo: pd.DataFrame) -> list[dict[str, Any]]:
    """A national test on a geo model: a row per geo with spend, by its share of the channel's spend."""
    per_geo = {g: test.weekly_spend(spend_geo.xs(g, level=GEO)) for g in frame.geos}
    total = sum(per_geo.values())
    if total <= 0:
        raise _Skipped(f"{test.channel!r} has no spend in the window")
    f = test.cells_share(total)
    G = len(frame.geos)
    rows = []
    for g, s in per_geo.items():
        share = s / total
        if s <= 0:
            continue
        # sigma × √G: the G rows together carry the test's information about an effect common to the geos
        rows.append(_row(test.channel, g, s, test.lift * share / test.n_weeks / f,
                         test.sd * share * np.sqrt(G) / test.n_weeks / f))
    return rows


def _unit_row(test: _LiftTest, frame: ModelFrame, spend_geo: pd.DataFrame) -> dict[str, Any]:
    """A test of one model unit: the national model, or one geo of a geo model."""
    if frame.is_geo:
        if test.geo not in frame.geos:
            raise _Skipped(f"geo {test.geo!r} not in the model")
        unit = test.weekly_spend(spend_geo.xs(test.geo, level=GEO))
    else:
        if test.geo is not None and test.spend is None:
            raise _Skipped("geo test on a national model needs 'spend'")
        unit = test.weekly_spend(spend_geo)
    if unit <= 0:
        if test.spend is None:
            raise _Skipped(f"{test.channel!r} has no spend in the window")
        unit = test.spend / test.n_weeks
    f = test.cells_share(unit)
    return _row(test.channel, test.geo if frame.is_geo else None, unit, float(test.lift) / test.n_weeks / f,
                test.sd / test.n_weeks / f)


def _row(channel: str, geo: str | None, unit: float, dy: float, sigma: float) -> dict:
    row: dict[str, Any] = {"channel": channel, "x": 0.0, "delta_x": unit}
    if geo is not None:
        row[GEO] = geo
    row.update(delta_y=float(dy), sigma=float(max(sigma, 1e-9)))
    return row


# --- exact-unit calibration ---------------------------------------------------------------------


@dataclass(frozen=True)
class ExactLiftTests:
    """Finished tests to observe in their own units inside the model (see :func:`add_exact_lift_tests`)."""

    tests: pd.DataFrame

    def __len__(self) -> int:
        return len(self.tests)


def add_exact_lift_tests(mmm: Any, tests: pd.DataFrame, frame: ModelFrame,
                         name: str = "lift_tests_exact") -> list[str]:
    """Add each test's measured lift as a likelihood on the model's own prediction of it.

    The prediction is what the test measures, in its units: the channel's modelled revenue over the
    test's days minus the same with that channel's spend switched off on those days (weeks partly
    inside the window are prorated; a test whose ``spend`` covers only a share ``f`` of the unit's
    spend switches off that share). It is computed in the model graph by cloning
    ``channel_contribution`` with ``channel_data`` replaced by the counterfactual, so adstock
    carry-in and carry-over and the saturation curve are exact, and every parameter is shared:
    untested channels move with the tested ones through the rest of the model. The observation is
    ``lift ~ Normal(prediction, sd)`` with ``sd = (ci_upper − ci_lower) / (2 z)``.

    Unlike pymc-marketing's ``add_lift_test_measurements`` (steady-state curve, no adstock), this
    does not read a short go-dark test of a long-carry-over channel as a small effect. Returns notes
    on tests left out.
    """
    import pymc as pm
    import pytensor.tensor as pt
    from pytensor.graph.replace import graph_replace
    from pytensor.xtensor import as_xtensor

    model = mmm.model
    contribution, data = model["channel_contribution"], model["channel_data"]
    dims = tuple(data.dims)
    shape = data.get_value().shape
    revenue = (contribution * model["target_scale"]).transpose(*dims)
    spend_geo = frame.spend_wide(by_geo=True) if frame.is_geo else frame.spend_wide()
    predictions, observed, sds, notes = [], [], [], []
    for i, t in tests.reset_index(drop=True).iterrows():
        label, channel = t.get("test_id", i), str(t["channel"])
        if channel not in frame.channels:
            notes.append(f"test {label}: channel {channel!r} not in the model; skipped")
            continue
        start, end = pd.Timestamp(t["start_date"]), pd.Timestamp(t["end_date"])
        weights = shares_inside(frame.weeks, start, end)
        if weights.sum() == 0:
            notes.append(f"test {label}: outside the model window; skipped")
            continue
        geo = t.get("geo", None)
        geo = None if geo is None or pd.isna(geo) or geo == NATIONAL or not frame.is_geo else str(geo)
        if geo is not None and geo not in frame.geos:
            notes.append(f"test {label}: geo {geo!r} not in the model; skipped")
            continue
        unit = spend_geo.xs(geo, level=GEO)[channel] if geo else (
            spend_geo.groupby(level=0).sum()[channel] if frame.is_geo else spend_geo[channel])
        unit_spend = float((unit.to_numpy() * weights).sum())
        share = 1.0
        if pd.notna(t.get("spend", np.nan)) and unit_spend > 0:
            share = min(float(t["spend"]) / unit_spend, 1.0)
        mask = np.ones(shape)
        c = frame.channels.index(channel)
        cut = 1 - share * weights
        if frame.is_geo:
            g = slice(None) if geo is None else frame.geos.index(geo)
            mask[:, g, c] = cut[:, None] if geo is None else cut
        else:
            mask[:, c] = cut
        counterfactual = graph_replace(revenue, {data: data * as_xtensor(pt.constant(mask), dims=dims)},
                                       strict=False)
        difference = (revenue - counterfactual).values  # (date, [geo,] channel)
        per_week = difference[..., c].sum(axis=1) if frame.is_geo else difference[:, c]
        if geo is not None:
            per_week = difference[:, frame.geos.index(geo), c]
        predictions.append((per_week * pt.constant(weights)).sum())
        sds.append(_row_lift_sd(t))
        observed.append(float(t["lift"]))
    if predictions:
        with model:
            pm.Normal(name, mu=pt.stack(predictions), sigma=np.array(sds), observed=np.array(observed))
    return notes
