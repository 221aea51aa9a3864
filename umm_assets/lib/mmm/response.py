"""Media response from stored posterior draws, in numpy (no model, no PyTensor).

The ``mmm_posterior`` stage stores ``parameter_draws`` (long: draw, channel, geo, name,
value) and a JSON-able ``spec`` (adstock type, ``l_max``, normalisation, saturation type,
channel and target scales). :class:`ResponseModel` turns them into cached arrays of shape
``(draw, geo, channel)`` and evaluates, per draw and vectorised:

- :meth:`ResponseModel.response` — steady-state weekly revenue at a constant weekly spend,
  with its analytic derivative (marginal ROAS). For the budget optimiser: pure numpy on
  cached arrays, no compilation per call.
- :meth:`ResponseModel.window_lift_draws` — incremental revenue of one channel over a
  date window against the counterfactual "that channel's spend is zero in the window"
  (days prorated into weeks), given the weekly spend history: the model's counterpart of
  an incrementality test.

The formulas are pymc-marketing's (``pymc_marketing.mmm.transformers``): adstock is a
convolution with kernel ``w`` over ``l_max`` weeks (``ConvMode.After``, adstock before
saturation), normalised to sum to one by default; the model works on spend divided by
``channel_scale`` and revenue divided by ``target_scale``; a channel's weekly
contribution is ``target_scale · beta · sat(adstock(spend) / channel_scale)``. At a
constant weekly spend ``s`` the adstocked spend is ``s · Σw``, so the steady-state weekly
revenue is ``target_scale · beta · sat(s · Σw / channel_scale)``. Tests check these
numbers against the fitted model's own ``channel_contribution`` and incrementality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from umm_assets.lib.contracts import NATIONAL
from umm_assets.lib.weeks import shares_inside

Q_LO, Q_HI = 0.05, 0.95  # every reported interval is the central 90 %


# ---------------------------------------------------------------------------- kernels


def adstock_weights(
    kind: str, l_max: int, normalize: bool, params: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Adstock kernel weights, shape ``params[...].shape + (l_max,)``.

    ``geometric``: ``alpha**l``; ``delayed``: ``alpha**((l - theta)**2)``;
    ``binomial``: ``(1 - l/(l_max + 1))**(1/alpha - 1)``; each divided by its sum when
    ``normalize``.
    """
    lags = np.arange(l_max, dtype=float)
    alpha = np.asarray(params["adstock_alpha"], dtype=float)[..., None]
    if kind == "geometric":
        w = alpha**lags
    elif kind == "delayed":
        theta = np.asarray(params["adstock_theta"], dtype=float)[..., None]
        w = alpha ** ((lags - theta) ** 2)
    elif kind == "binomial":
        w = (1 - lags / (l_max + 1)) ** (1 / alpha - 1)
    else:
        raise ValueError(f"unknown adstock {kind!r}")
    if normalize:
        w = w / w.sum(axis=-1, keepdims=True)
    return w


def saturation(
    kind: str, x: np.ndarray, p: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Saturation curve (without ``beta``) and its derivative in ``x`` (scaled units).

    ``logistic``: ``(1 - e^{-lam x}) / (1 + e^{-lam x})``;
    ``hill``: ``x^s / (x^s + kappa^s)`` (pymc-marketing's ``hill_function``).
    """
    if kind == "logistic":
        lam = p["saturation_lam"]
        e = np.exp(-lam * x)
        return (1 - e) / (1 + e), 2 * lam * e / (1 + e) ** 2
    if kind == "hill":
        s, k = p["saturation_slope"], p["saturation_kappa"]
        xs = np.power(np.maximum(x, 0.0), s)
        ks = np.power(k, s)
        denom = xs + ks
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(x > 0, s * ks * xs / np.maximum(x, 1e-300) / denom**2, 0.0)
        # at x = 0 the derivative is ∞ (s<1), 1/k (s=1) or 0 (s>1)
        d0 = np.where(s < 1, np.inf, np.where(s == 1, 1 / k, 0.0))
        return xs / denom, np.where(x > 0, d, d0)
    raise ValueError(f"unknown saturation {kind!r}")


SATURATION_PARAMS = {
    "logistic": ("saturation_lam", "saturation_beta"),
    "hill": ("saturation_slope", "saturation_kappa", "saturation_beta"),
}
ADSTOCK_PARAMS = {
    "geometric": ("adstock_alpha",),
    "delayed": ("adstock_alpha", "adstock_theta"),
    "binomial": ("adstock_alpha",),
}


# ---------------------------------------------------------------------------- model


def geo_shares_array(spec: Mapping[str, Any]) -> np.ndarray | None:
    """``spec["geo_shares"]`` (each geo's share of a channel's spend) as a ``(G, C)`` array in spec
    order; ``None`` for a spec without it (spend then splits evenly over geos)."""
    if "geo_shares" not in spec:
        return None
    return np.array([[spec["geo_shares"][g][c] for c in spec["channels"]] for g in spec["geos"]])


@dataclass(frozen=True)
class ResponseModel:
    """Posterior draws of every channel's response, as cached numpy arrays.

    Attributes
    ----------
    channels, geos : tuple[str, ...]
        Labels of the channel and geo axes (``("national",)`` for national models).
    draws : np.ndarray
        Draw ids, shape ``(D,)``.
    params : dict[str, np.ndarray]
        Parameter arrays of shape ``(D, G, C)``.
    channel_scale : np.ndarray
        ``(G, C)`` divisor of spend in the model.
    target_scale : np.ndarray
        ``(G,)`` divisor of revenue in the model.
    weights : np.ndarray
        Adstock kernel ``(D, G, C, l_max)``.
    spec : dict
        The spec the model was built from.
    """

    channels: tuple[str, ...]
    geos: tuple[str, ...]
    draws: np.ndarray
    params: dict[str, np.ndarray]
    channel_scale: np.ndarray
    target_scale: np.ndarray
    weights: np.ndarray
    spec: dict[str, Any]

    @classmethod
    def from_draws(cls, parameter_draws: pd.DataFrame, spec: Mapping[str, Any]) -> ResponseModel:
        """Build from the stored ``parameter_draws`` table and ``spec`` dict.

        Parameters
        ----------
        parameter_draws : pd.DataFrame
            Long table ``draw, channel, geo, name, value`` (see ``summaries``).
        spec : Mapping
            ``adstock``, ``l_max``, ``normalize``, ``saturation``, ``channels``,
            ``geos``, ``channel_scale`` ({geo: {channel: v}}), ``target_scale`` ({geo: v}).
        """
        channels = tuple(spec["channels"])
        geos = tuple(spec["geos"])
        needed = ADSTOCK_PARAMS[spec["adstock"]] + SATURATION_PARAMS[spec["saturation"]]
        df = parameter_draws[parameter_draws["name"].isin(needed)]
        draws = np.sort(df["draw"].unique())
        params: dict[str, np.ndarray] = {}
        for name in needed:
            sub = df[df["name"] == name]
            cube = (
                sub.set_index(["draw", "geo", "channel"])["value"]
                .unstack("channel")
                .reindex(columns=list(channels))
            )
            arr = np.stack(
                [cube.xs(g, level="geo").reindex(draws).to_numpy() for g in geos], axis=1
            )
            if np.isnan(arr).any():
                raise ValueError(f"parameter_draws lack {name} for some draw/geo/channel")
            params[name] = arr
        cs = np.array([[spec["channel_scale"][g][c] for c in channels] for g in geos], float)
        ts = np.array([spec["target_scale"][g] for g in geos], float)
        weights = adstock_weights(
            spec["adstock"], int(spec["l_max"]), bool(spec["normalize"]), params
        )
        return cls(channels, geos, draws, params, cs, ts, weights, dict(spec))

    # -- steady state ---------------------------------------------------------------
    @property
    def n_draws(self) -> int:
        """Number of posterior draws."""
        return len(self.draws)

    def channel_index(self, channel: str) -> int:
        """Position of ``channel`` on the channel axis (raises KeyError if unknown)."""
        try:
            return self.channels.index(channel)
        except ValueError:
            raise KeyError(f"unknown channel {channel!r}; known: {list(self.channels)}") from None

    def response(
        self,
        spend: np.ndarray,
        *,
        geo_shares: np.ndarray | None = None,
        derivative: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Steady-state weekly revenue per draw and channel at constant weekly spend.

        Parameters
        ----------
        spend : array, shape ``(..., C)``
            Weekly national spend per channel (input money), channels in
            ``self.channels`` order.
        geo_shares : array, shape ``(G, C)``, optional
            How national spend splits over geos (columns sum to 1). Default: equal
            shares — pass :meth:`default_geo_shares` style shares for geo models.
        derivative : bool
            Also return d revenue / d spend (marginal ROAS), same shape.

        Returns
        -------
        np.ndarray, shape ``(D, ..., C)``
            Weekly revenue (input money), summed over geos; and its derivative.
        """
        spend = np.asarray(spend, dtype=float)
        G = len(self.geos)
        shares = (
            np.full((G, len(self.channels)), 1.0 / G)
            if geo_shares is None
            else np.asarray(geo_shares, float)
        )
        lead = spend.ndim - 1

        # broadcast to (D, ..., G, C)
        def expand(a: np.ndarray) -> np.ndarray:  # (D, G, C) -> (D, 1.., G, C)
            return a.reshape(a.shape[:1] + (1,) * lead + a.shape[1:])

        wsum = expand(self.weights.sum(axis=-1))
        cs = self.channel_scale.reshape((1,) * (lead + 1) + self.channel_scale.shape)
        ts = self.target_scale.reshape((1,) * (lead + 1) + (G, 1))
        s_geo = spend[..., None, :] * shares  # (..., G, C)
        x = s_geo[None] * wsum / cs
        p = {k: expand(v) for k, v in self.params.items()}
        sat, dsat = saturation(self.spec["saturation"], x, p)
        beta = p["saturation_beta"]
        rev = (ts * beta * sat).sum(axis=-2)
        if not derivative:
            return rev
        d = (ts * beta * dsat * wsum / cs * shares).sum(axis=-2)
        return rev, d

    def steady_state(self, geo_shares: np.ndarray | None = None):
        """A fast ``spend (C,) -> (revenue (D, C), marginal (D, C))`` for optimizers.

        Same numbers as :meth:`response` with ``derivative=True`` for one spend vector, with every
        spend-independent array (scales, kernel sums, ``kappa ** slope``) computed once.
        """
        G, C = len(self.geos), len(self.channels)
        shares = np.full((G, C), 1.0 / G) if geo_shares is None else np.asarray(geo_shares, float)
        per_unit = self.weights.sum(axis=-1) / self.channel_scale * shares  # (D, G, C): scaled input per money
        amplitude = self.target_scale[None, :, None] * self.params["saturation_beta"]  # (D, G, C)
        kind = self.spec["saturation"]
        if kind == "logistic":
            lam = self.params["saturation_lam"]

            def evaluate(spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                e = np.exp(-lam * (per_unit * spend))
                revenue = amplitude * (1 - e) / (1 + e)
                marginal = amplitude * 2 * lam * e / (1 + e) ** 2 * per_unit
                return revenue.sum(axis=1), marginal.sum(axis=1)

            return evaluate
        if kind == "hill":
            slope = self.params["saturation_slope"]
            kappa_s = np.power(self.params["saturation_kappa"], slope)

            def evaluate(spend: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                x = np.maximum(per_unit * spend, 1e-300)
                xs = np.exp(slope * np.log(x))
                denominator = xs + kappa_s
                revenue = amplitude * xs / denominator
                marginal = amplitude * slope * kappa_s * xs / (x * denominator**2) * per_unit
                return revenue.sum(axis=1), marginal.sum(axis=1)

            return evaluate
        return lambda spend: self.response(spend, geo_shares=shares, derivative=True)

    # -- time series ----------------------------------------------------------------
    def weekly_contributions(
        self, spend_history: pd.DataFrame, channel: str, *, geo: str | None = None
    ) -> tuple[pd.DatetimeIndex, np.ndarray]:
        """Per-draw weekly revenue contribution of ``channel`` for a spend history.

        Parameters
        ----------
        spend_history : pd.DataFrame
            Weekly spend, long or wide (see :meth:`window_lift_draws`).
        channel : str
            Channel name.
        geo : str, optional
            One geo of a geo model; ``None`` sums over geos.

        Returns
        -------
        (weeks, np.ndarray of shape ``(D, T)``)
            The history's weeks (gaps filled with zero spend) and contributions.
        """
        series = _spend_series(spend_history, channel, self.geos)
        weeks = pd.date_range(series.index.min(), series.index.max(), freq="7D")
        series = series.reindex(weeks, fill_value=0.0)
        c = self.channel_index(channel)
        geo_idx = range(len(self.geos)) if geo is None else [self._geo_index(geo)]
        out = np.zeros((self.n_draws, len(weeks)))
        for g in geo_idx:
            out += self._contrib(series[self.geos[g]].to_numpy(float), g, c)
        return weeks, out

    def _contrib(self, x: np.ndarray, g: int, c: int) -> np.ndarray:
        """(T,) spend of one geo/channel → (D, T) weekly revenue contribution."""
        p = {k: v[:, g, c][:, None] for k, v in self.params.items()}
        ad = _convolve(x, self.weights[:, g, c, :]) / self.channel_scale[g, c]
        sat, _ = saturation(self.spec["saturation"], ad, p)
        return self.target_scale[g] * p["saturation_beta"] * sat

    # -- window lift ----------------------------------------------------------------
    def window_lift_draws(
        self,
        spend_history: pd.DataFrame,
        channel: str,
        start_date: str | pd.Timestamp,
        end_date: str | pd.Timestamp,
        *,
        geo: str | None = None,
        include_carryover: bool = False,
    ) -> np.ndarray:
        """Draws of one channel's incremental revenue over ``[start_date, end_date]``.

        Counterfactual: the channel's spend is zero on the window's days (a week
        partially inside the window keeps ``1 - days_inside/7`` of its spend); the
        other channels are unchanged. Lift = Σ over weeks of (contribution with actual
        spend − with counterfactual spend) × the share of the week inside the window,
        i.e. what a test reading revenue during the window measures. Carry-in from
        spend before the window is included (pass enough history: ≥ ``l_max`` weeks).

        Parameters
        ----------
        spend_history : pd.DataFrame
            Weekly spend, long (``week``, [``geo``], ``channel``, ``spend``) or wide
            (index week, one column per channel; for geo models a ``(week, geo)``
            MultiIndex). Weeks are Mondays; missing weeks count as zero spend.
        channel : str
            Channel name.
        start_date, end_date : date-like
            Inclusive test window (days).
        geo : str, optional
            Geo of a geo model; ``None`` sums over all geos (national test).
        include_carryover : bool
            Also count the lift carried into the ``l_max - 1`` weeks after the window
            (full weeks), as pymc-marketing's ``compute_incremental_contribution`` does.

        Returns
        -------
        np.ndarray, shape ``(D,)``
            Incremental revenue per draw (input money).
        """
        c = self.channel_index(channel)
        start, end = pd.Timestamp(start_date).normalize(), pd.Timestamp(end_date).normalize()
        if end < start:
            raise ValueError("end_date before start_date")
        series = _spend_series(spend_history, channel, self.geos)
        l_max = self.weights.shape[-1]
        first = min(series.index.min(), _monday(start) - pd.Timedelta(weeks=l_max))
        last = max(series.index.max(), _monday(end) + pd.Timedelta(weeks=l_max))
        weeks = pd.date_range(first, last, freq="7D")
        series = series.reindex(weeks, fill_value=0.0)
        inside = shares_inside(weeks, start, end)  # (T,)
        weight = inside.copy()
        if include_carryover:
            last_in = int(np.flatnonzero(inside > 0).max())
            weight[last_in + 1 : last_in + l_max] = 1.0
        geo_idx = range(len(self.geos)) if geo is None else [self._geo_index(geo)]
        total = np.zeros(self.n_draws)
        for g in geo_idx:
            x = series[self.geos[g]].to_numpy(float)
            diff = self._contrib(x, g, c) - self._contrib(x * (1 - inside), g, c)
            total += diff @ weight
        return total

    def weekly_spend_during(self, spend_history: pd.DataFrame, channel: str, start_date: str | pd.Timestamp,
                            end_date: str | pd.Timestamp, *, geo: str | None = None) -> float:
        """The channel's spend per week over ``[start_date, end_date]`` (summed over geos unless ``geo``):
        the spend level a test over those days measured the curve at."""
        series = _spend_series(spend_history, channel, self.geos)
        spend = series.sum(axis=1) if geo is None else series[geo]
        inside = shares_inside(spend.index, pd.Timestamp(start_date), pd.Timestamp(end_date))
        return float(spend.to_numpy(float) @ inside / inside.sum()) if inside.sum() > 0 else float("nan")

    def _geo_index(self, geo: str) -> int:
        try:
            return self.geos.index(geo)
        except ValueError:
            raise KeyError(f"unknown geo {geo!r}; known: {list(self.geos)}") from None


def _convolve(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``out[d, t] = Σ_l w[d, l] · x[t - l]`` (zero before the start), x (T,), w (D, L)."""
    T, L = len(x), w.shape[1]
    out = np.zeros((w.shape[0], T))
    for lag in range(min(L, T)):
        out[:, lag:] += w[:, lag : lag + 1] * x[None, : T - lag]
    return out


def _monday(d: pd.Timestamp) -> pd.Timestamp:
    return (d - pd.Timedelta(days=d.weekday())).normalize()


def _spend_series(history: pd.DataFrame, channel: str, geos: tuple[str, ...]) -> pd.DataFrame:
    """Weekly spend of ``channel`` as a frame indexed by week with one column per geo."""
    if "channel" in history.columns:  # long
        h = history[history["channel"].astype(str) == channel].copy()
        h["week"] = pd.to_datetime(h["week"])
        if "geo" not in h.columns or geos == (NATIONAL,):
            h["geo"] = NATIONAL
        wide = h.groupby(["week", "geo"])["spend"].sum().unstack("geo")
    else:
        if channel not in history.columns:
            raise KeyError(f"spend history has no column {channel!r}")
        s = history[channel]
        if isinstance(s.index, pd.MultiIndex):
            wide = s.groupby(level=[0, 1]).sum().unstack(level=1)
            if geos == (NATIONAL,):
                wide = wide.sum(axis=1).to_frame(NATIONAL)
        else:
            wide = s.to_frame(geos[0] if len(geos) == 1 else NATIONAL)
    wide.index = pd.to_datetime(wide.index)
    missing = [g for g in geos if g not in wide.columns]
    if missing and len(geos) > 1:
        raise KeyError(f"spend history lacks geos {missing}")
    return wide.reindex(columns=list(geos)).fillna(0.0).sort_index()
