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
        label = t.get("test_id", i)
        channel = str(t["channel"])
        if channel not in frame.channels:
            notes.append(f"test {label}: channel {channel!r} not in the model; skipped")
            continue
        start, end = pd.Timestamp(t["start_date"]), pd.Timestamp(t["end_date"])
        days = (end - start).days + 1
        if days <= 0:
            notes.append(f"test {label}: end before start; skipped")
            continue
        n_weeks = days / 7.0
        sd_total = _row_lift_sd(t)
        test_spend = float(t["spend"]) if pd.notna(t.get("spend", np.nan)) else None
        geo = t.get("geo", None)
        geo = None if geo is None or pd.isna(geo) or geo == NATIONAL else str(geo)
        weights = shares_inside(frame.weeks, start, end)

        if frame.is_geo and geo is None:
            per_geo = {
                g: float((spend_geo.xs(g, level=GEO)[channel] * weights).sum()) / n_weeks
                for g in frame.geos
            }
            total = sum(per_geo.values())
            if total <= 0:
                notes.append(f"test {label}: {channel!r} has no spend in the window; skipped")
                continue
            f = min(test_spend / n_weeks / total, 1.0) if test_spend else 1.0
            G = len(frame.geos)
            for g, s in per_geo.items():
                share = s / total
                if s <= 0:
                    continue
                rows.append(
                    _row(
                        channel,
                        g,
                        s,
                        t["lift"] * share / n_weeks / f,
                        sd_total * share * np.sqrt(G) / n_weeks / f,
                    )
                )
            continue
        if frame.is_geo:
            if geo not in frame.geos:
                notes.append(f"test {label}: geo {geo!r} not in the model; skipped")
                continue
            unit = float((spend_geo.xs(geo, level=GEO)[channel] * weights).sum()) / n_weeks
        else:
            if geo is not None and test_spend is None:
                notes.append(f"test {label}: geo test on a national model needs 'spend'; skipped")
                continue
            unit = float((spend_geo[channel] * weights).sum()) / n_weeks
        if unit <= 0:
            if test_spend is None:
                notes.append(f"test {label}: {channel!r} has no spend in the window; skipped")
                continue
            unit = test_spend / n_weeks
        f = min(test_spend / n_weeks / unit, 1.0) if test_spend else 1.0
        rows.append(
            _row(
                channel,
                geo if frame.is_geo else None,
                unit,
                float(t["lift"]) / n_weeks / f,
                sd_total / n_weeks / f,
            )
        )
    cols = ["channel", *([GEO] if frame.is_geo else []), "x", "delta_x", "delta_y", "sigma"]
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=cols), notes
    return df[cols], notes


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
