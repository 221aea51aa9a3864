"""Wide model frame for the MMM, built from the platform's long weekly tables.

The validated inputs are long: spend per (week, geo, channel), outcomes per (week, geo),
controls per (week, geo) with any numeric columns. pymc-marketing wants one row per
(date[, geo]) with one column per channel and control. :func:`build_model_frame` pivots,
joins, cuts the trailing window and records every silent-looking decision in
``ModelFrame.warnings`` so the asset can surface it.

Rules (each one logged in ``warnings`` when it fires):

- The window is the trailing ``window_weeks`` weeks of outcomes ending at ``end_week``
  (fewer if less history exists); fewer than ``min_weeks`` raises
  :class:`InsufficientHistory`.
- Geo dimension only when the outcomes have more than one distinct geo *and* spend is
  given per geo. Spend per geo with national outcomes is summed to national; national
  spend with geo outcomes sums the outcomes to national (spend cannot be split
  honestly). Geos that miss outcome weeks inside the window are dropped.
- Channels with zero spend over the window are dropped (their ROAS is undefined).
- Controls: non-numeric columns, columns with any missing value in the window, and
  columns constant over the window are dropped. The kept ones are centred and divided by
  their largest absolute deviation (pymc-marketing does not scale controls and shares
  one ``gamma_control`` prior across them); the contribution of all controls together
  is unchanged by this, only the individual coefficients are rescaled.
- Channel names are kept exactly as given and referred to by name, never by position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from umm_assets.lib.contracts import NATIONAL

DATE = "date"
GEO = "geo"
_RESERVED = {DATE, GEO, "week", "channel", "control", "y", "revenue", "conversions"}


class InsufficientHistory(ValueError):
    """The window holds fewer weeks of outcomes than the model needs."""


class FrameError(ValueError):
    """The inputs cannot be turned into a model frame (the message says why)."""


@dataclass(frozen=True)
class ModelFrame:
    """Inputs of one MMM fit, wide, with names.

    Attributes
    ----------
    X : pd.DataFrame
        Columns ``date`` (weekly Mondays), ``geo`` (only for geo models), one column per
        channel (weekly spend, input money) and per control (centred and scaled).
    y : pd.Series
        Target aligned with ``X`` rows (input money), named ``target``.
    channels : tuple[str, ...]
        Channel names exactly as in the input, sorted.
    controls : tuple[str, ...]
        Kept control columns (names as in ``X``).
    geos : tuple[str, ...]
        Geo labels for a geo model, ``()`` for a national one.
    weeks : pd.DatetimeIndex
        The window's weeks, ascending.
    target : str
        Name of the target column (``revenue``).
    control_scaling : dict[str, tuple[float, float]]
        ``{control: (centre, scale)}`` applied to the raw control values.
    warnings : tuple[str, ...]
        Human-readable notes on data dropped or reshaped.
    """

    X: pd.DataFrame
    y: pd.Series
    channels: tuple[str, ...]
    controls: tuple[str, ...]
    geos: tuple[str, ...]
    weeks: pd.DatetimeIndex
    target: str = "revenue"
    control_scaling: dict[str, tuple[float, float]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def is_geo(self) -> bool:
        """True when the model has a geo dimension."""
        return len(self.geos) > 0

    @property
    def dims(self) -> tuple[str, ...]:
        """pymc-marketing ``dims`` argument."""
        return (GEO,) if self.is_geo else ()

    @property
    def n_weeks(self) -> int:
        """Number of weeks in the window."""
        return len(self.weeks)

    @property
    def window_start(self) -> pd.Timestamp:
        """First week of the window."""
        return self.weeks[0]

    @property
    def window_end(self) -> pd.Timestamp:
        """Last week of the window."""
        return self.weeks[-1]

    def spend_wide(self, *, by_geo: bool = False) -> pd.DataFrame:
        """Weekly spend per channel (input money), national sum unless ``by_geo``.

        Returns a frame indexed by week (or by week and geo) with one column per channel.
        """
        cols = list(self.channels)
        if by_geo and self.is_geo:
            return self.X.set_index([DATE, GEO])[cols]
        if self.is_geo:
            return self.X.groupby(DATE)[cols].sum()
        return self.X.set_index(DATE)[cols]

    def shape_key(self) -> tuple:
        """Everything that fixes the compiled model's shapes (for compile reuse)."""
        return (self.n_weeks, self.channels, self.controls, self.geos)

    def first_weeks(self, n_weeks: int) -> ModelFrame:
        """The same frame restricted to its first ``n_weeks`` weeks (holdout training set)."""
        keep = self.weeks[:n_weeks]
        mask = self.X[DATE].isin(keep).to_numpy()
        return ModelFrame(
            X=self.X.loc[mask].reset_index(drop=True),
            y=self.y.loc[mask].reset_index(drop=True),
            channels=self.channels,
            controls=self.controls,
            geos=self.geos,
            weeks=keep,
            target=self.target,
            control_scaling=self.control_scaling,
            warnings=self.warnings,
        )


def _week_index(values: pd.Series) -> pd.Series:
    out = pd.to_datetime(values)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_localize(None)
    return out.dt.normalize()


def _geo_col(df: pd.DataFrame) -> pd.Series:
    if GEO in df.columns:
        return df[GEO].fillna(NATIONAL).astype(str)
    return pd.Series(NATIONAL, index=df.index)


def build_model_frame(
    spend: pd.DataFrame,
    outcomes: pd.DataFrame,
    controls: pd.DataFrame | None = None,
    *,
    end_week: pd.Timestamp | str | None = None,
    window_weeks: int = 156,
    min_weeks: int = 52,
    target: str = "revenue",
) -> ModelFrame:
    """Pivot the long validated tables into the wide frame of one MMM window.

    Parameters
    ----------
    spend : pd.DataFrame
        Long spend: ``week``, ``geo``, ``channel``, ``spend`` (input money per week);
        other columns ignored.
    outcomes : pd.DataFrame
        Long outcomes: ``week``, ``geo``, ``revenue`` (and optionally ``conversions``).
    controls : pd.DataFrame or None
        Long controls: ``week``, ``geo``, then numeric control columns. May be None/empty.
    end_week : Timestamp or str, optional
        Last week of the window (inclusive); default the newest outcome week.
    window_weeks : int
        Trailing window length.
    min_weeks : int
        Minimum number of weeks; fewer raises :class:`InsufficientHistory`.
    target : str
        Outcome column to model.

    Returns
    -------
    ModelFrame
        The wide frame with names and warnings.

    Raises
    ------
    InsufficientHistory
        Fewer than ``min_weeks`` weeks in the window.
    FrameError
        Missing columns, gaps in the national outcome weeks, no channel with spend,
        a channel name clashing with a reserved column name.
    """
    warns: list[str] = []
    out, sp = _long_inputs(spend, outcomes, target)
    weeks = _window(out, sp, end_week, window_weeks, min_weeks)
    out, sp, geos = _geos(out[out["week"].isin(weeks)], sp[sp["week"].isin(weeks)], len(weeks), warns)
    channels = _channels(sp, target, warns)
    return _wide_frame(out, sp, controls, weeks, geos, channels, target, warns)


def _long_inputs(spend: pd.DataFrame, outcomes: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Outcomes (week, geo, y) and spend (week, geo, channel, spend) with normalized weeks and geo labels."""
    for name, df, cols in (
        ("spend", spend, ("week", "channel", "spend")),
        ("outcomes", outcomes, ("week", target)),
    ):
        if df is None or len(df) == 0:
            raise FrameError(f"{name} is empty")
        if missing := [c for c in cols if c not in df.columns]:
            raise FrameError(f"{name} lacks columns {missing}")

    out = pd.DataFrame(
        {
            "week": _week_index(outcomes["week"]),
            GEO: _geo_col(outcomes),
            "y": outcomes[target].astype(float),
        }
    )
    sp = pd.DataFrame(
        {
            "week": _week_index(spend["week"]),
            GEO: _geo_col(spend),
            "channel": spend["channel"].astype(str),
            "spend": spend["spend"].astype(float).fillna(0.0),
        }
    )
    return out, sp


def _window(
    out: pd.DataFrame,
    sp: pd.DataFrame,
    end_week: pd.Timestamp | str | None,
    window_weeks: int,
    min_weeks: int,
) -> pd.DatetimeIndex:
    """The trailing ``window_weeks`` weeks of outcomes ending at ``end_week``, refused if they have gaps."""
    end = pd.Timestamp(end_week).normalize() if end_week is not None else out["week"].max()
    all_weeks = pd.DatetimeIndex(sorted(out.loc[out["week"] <= end, "week"].unique()))
    if len(all_weeks) == 0:
        raise InsufficientHistory(f"no outcome weeks on or before {end.date()}")
    weeks = all_weeks[-window_weeks:]
    if end_week is not None and weeks[-1] != end:
        raise FrameError(f"outcomes have no row for the as-of week {end.date()} (newest: {weeks[-1].date()})")
    expected = pd.date_range(weeks[0], weeks[-1], freq="7D")
    if len(expected) != len(weeks):
        gaps = expected.difference(weeks)
        raise FrameError(
            f"outcomes miss {len(gaps)} week(s) inside the window, e.g. "
            f"{', '.join(str(d.date()) for d in gaps[:5])}"
        )
    # a week with no spend row at all is a week that is missing, not a week of zero spend (a channel
    # without a row in a week that has rows is zero: the raw contract)
    gaps = expected.difference(pd.DatetimeIndex(sp["week"].unique()))
    if len(gaps):
        raise FrameError(f"spend has no row for {len(gaps)} week(s) inside the window, e.g. "
                         f"{', '.join(str(d.date()) for d in gaps[:5])}")
    if len(weeks) < min_weeks:
        raise InsufficientHistory(
            f"the MMM needs at least {min_weeks} weeks of outcomes; the window ending "
            f"{end.date()} has {len(weeks)} ({weeks[0].date()} … {weeks[-1].date()})"
        )
    return weeks


def _geos(
    out: pd.DataFrame, sp: pd.DataFrame, n_weeks: int, warns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """The model's geos (``(NATIONAL,)`` for a national model) and the outcomes and spend of those geos."""
    sp, geo_model = _geo_decision(out, sp, warns)
    if geo_model:
        out, sp = _drop_partial_geos(out, sp, n_weeks, warns)
        geos = tuple(sorted(out[GEO].unique()))
        if len(geos) >= 2:
            return out, sp, geos
        warns.append("fewer than 2 complete geos left: national model")
    return out.assign(**{GEO: NATIONAL}), sp.assign(**{GEO: NATIONAL}), (NATIONAL,)


def _geo_decision(out: pd.DataFrame, sp: pd.DataFrame, warns: list[str]) -> tuple[pd.DataFrame, bool]:
    """Whether the model has a geo dimension, and the spend of its geos."""
    out_geos = sorted(out[GEO].unique())
    sp_geos = sorted(sp[GEO].unique())
    if len(out_geos) <= 1:
        if len(sp_geos) > 1:
            warns.append(f"spend given for {len(sp_geos)} geos, outcomes national: spend summed")
        return sp, False
    if not set(sp_geos) & set(out_geos):
        warns.append(
            f"outcomes have {len(out_geos)} geos but spend is not given per geo "
            f"({sp_geos}); outcomes summed to national"
        )
        return sp, False
    if extra := sorted(set(sp_geos) - set(out_geos)):
        warns.append(f"spend rows of geos without outcomes ignored: {extra}")
        sp = sp[sp[GEO].isin(out_geos)]
    if no_spend := sorted(set(out_geos) - set(sp_geos)):
        warns.append(
            f"geos with outcomes but no spend rows (zero spend assumed): {no_spend}"
        )
    return sp, True


def _drop_partial_geos(
    out: pd.DataFrame, sp: pd.DataFrame, n_weeks: int, warns: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = out.groupby(GEO)["week"].nunique()
    partial = sorted(counts[counts < n_weeks].index)
    if partial:
        warns.append(f"geos dropped for missing outcome weeks in the window: {partial}")
        out = out[~out[GEO].isin(partial)]
        sp = sp[~sp[GEO].isin(partial)]
    return out, sp


def _channels(sp: pd.DataFrame, target: str, warns: list[str]) -> list[str]:
    """The channels with spend in the window, sorted."""
    totals = sp.groupby("channel")["spend"].sum()
    channels = sorted(totals.index)
    if zero := [c for c in channels if totals[c] <= 0]:
        warns.append(f"channels with zero spend in the window dropped: {zero}")
        channels = [c for c in channels if totals[c] > 0]
    if not channels:
        raise FrameError("no channel has spend in the window")
    if clash := sorted(set(channels) & (_RESERVED | {target})):
        raise FrameError(f"channel names clash with reserved column names: {clash}")
    return channels


def _wide_frame(
    out: pd.DataFrame,
    sp: pd.DataFrame,
    controls: pd.DataFrame | None,
    weeks: pd.DatetimeIndex,
    geos: tuple[str, ...],
    channels: list[str],
    target: str,
    warns: list[str],
) -> ModelFrame:
    """One row per week (and geo): the channels' spend, the target and the kept controls."""
    geo_model = len(geos) > 1  # a national model's one geo is NATIONAL
    y_long = out.groupby(["week", GEO], as_index=False)["y"].sum()
    index = pd.MultiIndex.from_product([weeks, list(geos)], names=["week", GEO])
    wide = (
        sp[sp["channel"].isin(channels)]
        .pivot_table(index=["week", GEO], columns="channel", values="spend", aggfunc="sum")
        .reindex(index)
        .reindex(columns=channels)
        .fillna(0.0)
    )
    ctrl_wide, ctrl_names, scaling = _controls(controls, weeks, geos, set(channels), warns)

    frame = wide.join(y_long.set_index(["week", GEO])["y"])
    if ctrl_wide is not None:
        frame = frame.join(ctrl_wide)
    frame = frame.reset_index().rename(columns={"week": DATE})
    if not geo_model:
        frame = frame.drop(columns=[GEO])
    frame = frame.sort_values([DATE] + ([GEO] if geo_model else [])).reset_index(drop=True)
    y = frame.pop("y").rename(target)
    if y.isna().any():
        raise FrameError("outcomes have missing values inside the window")
    X = frame[[DATE] + ([GEO] if geo_model else []) + channels + ctrl_names]
    return ModelFrame(
        X=X,
        y=y,
        channels=tuple(channels),
        controls=tuple(ctrl_names),
        geos=tuple(geos) if geo_model else (),
        weeks=pd.DatetimeIndex(weeks),
        target=target,
        control_scaling=scaling,
        warnings=tuple(warns),
    )


def _controls(
    controls: pd.DataFrame | None,
    weeks: pd.DatetimeIndex,
    geos: tuple[str, ...],
    channel_names: set[str],
    warns: list[str],
) -> tuple[pd.DataFrame | None, list[str], dict[str, tuple[float, float]]]:
    if controls is None or len(controls) == 0:
        return None, [], {}
    if "week" not in controls.columns:
        raise FrameError("controls lack column 'week'")
    ctl = controls.copy()
    ctl["week"] = _week_index(ctl["week"])
    ctl[GEO] = _geo_col(ctl)
    ctl = ctl[ctl["week"].isin(weeks)]
    cols = [c for c in ctl.columns if c not in ("week", GEO)]
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(ctl[c])]
    if non_num := sorted(set(cols) - set(numeric)):
        warns.append(f"non-numeric control columns dropped: {non_num}")
    if not numeric:
        return None, [], {}

    ctl_geos = set(ctl[GEO].unique())
    if set(geos) <= ctl_geos:
        ctl = ctl[ctl[GEO].isin(geos)]
    elif ctl_geos == {NATIONAL} or not (ctl_geos & set(geos)):
        # national controls broadcast to every geo (or geo controls averaged for a
        # national model)
        if ctl_geos != {NATIONAL} and geos == (NATIONAL,):
            warns.append(f"controls given per geo averaged to national ({sorted(ctl_geos)})")
        elif len(geos) > 1:
            warns.append("national controls applied to every geo")
        ctl = ctl.groupby("week", as_index=False)[numeric].mean()
        ctl = pd.concat([ctl.assign(**{GEO: g}) for g in geos], ignore_index=True)
    else:
        ctl = ctl[ctl[GEO].isin(geos)]
    index = pd.MultiIndex.from_product([weeks, list(geos)], names=["week", GEO])
    wide = ctl.groupby(["week", GEO])[numeric].mean().reindex(index)

    kept: list[str] = []
    scaling: dict[str, tuple[float, float]] = {}
    for c in numeric:
        col = wide[c].astype(float)
        if col.isna().any():
            warns.append(
                f"control {c!r} dropped: it does not cover the whole window "
                f"({int(col.isna().sum())} of {len(col)} rows missing)"
            )
            continue
        centre = float(col.mean())
        scale = float((col - centre).abs().max())
        if not np.isfinite(scale) or scale <= 1e-12 * max(1.0, abs(centre)):
            warns.append(f"control {c!r} dropped: constant over the window")
            continue
        kept.append(c)
        scaling[c] = (centre, scale)
        wide[c] = (col - centre) / scale
    rename = {c: f"control_{c}" for c in kept if c in channel_names or c in _RESERVED}
    if rename:
        warns.append(f"controls renamed to avoid clashing with channel/reserved names: {rename}")
    wide = wide[kept].rename(columns=rename)
    scaling = {rename.get(c, c): v for c, v in scaling.items()}
    names = [rename.get(c, c) for c in kept]
    return (wide if names else None), names, scaling
