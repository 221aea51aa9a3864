"""Tidy tables of a fitted MMM window (the Parquet summaries of ``mmm_posterior``).

:func:`summarize` returns :class:`MMMSummaries`. Money is in input units, spend and
response per week unless a column says otherwise; intervals are 90 % (5 % and 95 %
posterior quantiles). National rows carry ``geo = "national"``; geo models add per-geo
rows and a ``"national"`` row summed over geos draw by draw (so its interval is exact).

Tables and columns
------------------
``roas``            channel, spend (total over the window), contribution_mean,
                    contribution_p05, contribution_p95, roas_mean, roas_p05, roas_p50,
                    roas_p95. ROAS = contribution / spend over the window, per draw,
                    summed over geos.
``roas_draws``      draw, channel, contribution, roas (``n_keep_draws`` evenly thinned draws,
                    same ids across channels and across ``parameter_draws``).
``contributions``   week, geo, component ("baseline" or a channel), mean, lower, upper
                    (weekly revenue). baseline = intercept + trend + seasonality + controls.
``fit``             week, geo, actual, predicted_mean, predicted_lower, predicted_upper
                    (posterior predictive).
``response_curves`` channel, spend (weekly grid 0 … 2 × max observed weekly spend, 50
                    points), response_mean/lower/upper (steady-state weekly revenue),
                    marginal_roas_mean/lower/upper (at spend 0, draws of a Hill curve with
                    slope < 1 take the first grid step's return), current_spend (mean weekly spend of
                    the last 13 weeks).
``parameters``      parameter, channel ("" if none), geo ("" if none), mean, sd, lower, upper.
``parameter_draws`` draw, channel, geo, name, value: adstock and saturation parameters per
                    (geo, channel) plus ``channel_scale`` and ``target_scale`` (channel "").
``spec``            JSON-able dict for :class:`~.response.ResponseModel` (also as a table:
                    :meth:`MMMSummaries.spec_table`).
``diagnostics``     one row (see :func:`diagnostics_table`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .fit import FitResult
from .frame import GEO, NATIONAL, ModelFrame
from .response import ADSTOCK_PARAMS, Q_HI, Q_LO, SATURATION_PARAMS, ResponseModel, geo_shares_array
from umm_assets.lib.weeks import CURRENT_WEEKS

GRID_POINTS = 50


@dataclass(frozen=True)
class MMMSummaries:
    """All summary tables of one fit (see module docstring for columns)."""

    roas: pd.DataFrame
    roas_draws: pd.DataFrame
    contributions: pd.DataFrame
    fit: pd.DataFrame
    response_curves: pd.DataFrame
    parameters: pd.DataFrame
    parameter_draws: pd.DataFrame
    spec: dict[str, Any]
    diagnostics: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table by name, ``spec`` as :meth:`spec_table`."""
        return {
            "roas": self.roas,
            "roas_draws": self.roas_draws,
            "contributions": self.contributions,
            "fit": self.fit,
            "response_curves": self.response_curves,
            "parameters": self.parameters,
            "parameter_draws": self.parameter_draws,
            "spec": self.spec_table(),
            "diagnostics": self.diagnostics,
        }

    def spec_table(self) -> pd.DataFrame:
        """``spec`` as one row per (geo, channel) with the whole spec as JSON in ``spec_json``."""
        s = self.spec
        rows = [
            {
                "channel": c,
                "geo": g,
                "adstock": s["adstock"],
                "l_max": s["l_max"],
                "normalize": s["normalize"],
                "saturation": s["saturation"],
                "channel_scale": s["channel_scale"][g][c],
                "target_scale": s["target_scale"][g],
                "geo_share": s["geo_shares"][g][c],
                "current_spend": s["current_spend"][c],
            }
            for g in s["geos"]
            for c in s["channels"]
        ]
        out = pd.DataFrame(rows)
        out["spec_json"] = json.dumps(s, sort_keys=True)
        return out


# ---------------------------------------------------------------------------- helpers


def _posterior(result: FitResult):
    return result.idata["posterior"].to_dataset()


def _stack(da):
    """(chain, draw, ...) → (sample, ...) with sample = chain-major flat index."""
    return da.stack(sample=("chain", "draw")).transpose("sample", ...)


def thin_index(n_total: int, n_keep: int) -> np.ndarray:
    """Evenly spaced sample positions (deterministic) keeping at most ``n_keep``."""
    if n_keep >= n_total:
        return np.arange(n_total)
    return np.unique(np.linspace(0, n_total - 1, n_keep).round().astype(int))


def _scales(result: FitResult):
    cd = result.idata["constant_data"].to_dataset()
    return cd["target_scale"], cd["channel_scale"]


def _quantiles(values: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        values.mean(axis=axis),
        np.quantile(values, Q_LO, axis=axis),
        np.quantile(values, Q_HI, axis=axis),
    )


def _by_geo(da, frame) -> dict[str, np.ndarray]:
    """Samples (sample, date, ...) per geo label, plus the national sum for geo models."""
    s = _stack(da)
    if frame.is_geo:
        out = {g: s.sel({GEO: g}).values for g in frame.geos}
        out[NATIONAL] = s.sum(GEO).values
        return out
    return {NATIONAL: s.values}


# ---------------------------------------------------------------------------- tables


def contribution_samples(result: FitResult):
    """Per-draw weekly contributions in revenue units.

    Returns ``(channels, baseline)``: ``channel_contribution × target_scale`` with dims
    (chain, draw, date, [geo], channel) and ``mu × target_scale − Σ channels`` with dims
    (chain, draw, date, [geo]).
    """
    post = _posterior(result)
    ts, _ = _scales(result)
    channels = post["channel_contribution"] * ts
    mu = post["mu"] * ts
    baseline = mu - channels.sum("channel")
    return channels, baseline


def roas_tables(result: FitResult, keep: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``roas`` and ``roas_draws`` (thinned to sample positions ``keep``)."""
    channels, _ = contribution_samples(result)
    total = channels.sum("date")
    if GEO in total.dims:
        total = total.sum(GEO)
    samples = _stack(total).transpose("sample", "channel")
    names = [str(c) for c in samples["channel"].values]
    contrib = samples.values  # (S, C)
    weekly = result.frame.spend_wide().reindex(columns=names)
    spend = weekly.sum().to_numpy(float)
    roas = contrib / spend
    rows = []
    for j, c in enumerate(names):
        rows.append(
            {
                "channel": c,
                "spend": float(spend[j]),
                # the weekly spend levels the window saw (5th-95th percentile): where the curve is measured
                "weekly_spend_p05": float(weekly[c].quantile(Q_LO)),
                "weekly_spend_p95": float(weekly[c].quantile(Q_HI)),
                "contribution_mean": float(contrib[:, j].mean()),
                "contribution_p05": float(np.quantile(contrib[:, j], Q_LO)),
                "contribution_p95": float(np.quantile(contrib[:, j], Q_HI)),
                "roas_mean": float(roas[:, j].mean()),
                "roas_p05": float(np.quantile(roas[:, j], Q_LO)),
                "roas_p50": float(np.quantile(roas[:, j], 0.5)),
                "roas_p95": float(np.quantile(roas[:, j], Q_HI)),
            }
        )
    k = len(keep)
    draws = pd.DataFrame(
        {
            "draw": np.repeat(np.arange(k), len(names)),
            "channel": np.tile(names, k),
            "contribution": contrib[keep].ravel(),
            "roas": roas[keep].ravel(),
        }
    )
    return pd.DataFrame(rows), draws


def contributions_table(result: FitResult) -> pd.DataFrame:
    """Weekly baseline and channel contributions, mean and 90 % interval."""
    frame = result.frame
    channels, baseline = contribution_samples(result)
    weeks = frame.weeks
    parts = []
    geo_labels = list(frame.geos) + [NATIONAL] if frame.is_geo else [NATIONAL]
    base = _by_geo(baseline, frame)
    chan = _by_geo(channels.transpose("chain", "draw", "date", ..., "channel"), frame)
    names = [str(c) for c in channels["channel"].values]
    for g in geo_labels:
        comps = {"baseline": base[g]}
        for j, c in enumerate(names):
            comps[c] = chan[g][..., j]
        for comp, vals in comps.items():
            mean, lo, hi = _quantiles(vals)
            parts.append(
                pd.DataFrame(
                    {
                        "week": weeks,
                        "geo": g,
                        "component": comp,
                        "mean": mean,
                        "lower": lo,
                        "upper": hi,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True)


def fit_table(result: FitResult) -> pd.DataFrame:
    """Actual vs posterior-predictive revenue per week (and geo)."""
    frame = result.frame
    ts, _ = _scales(result)
    pp = result.idata["posterior_predictive"].to_dataset()["y"] * ts
    by = _by_geo(pp.transpose("chain", "draw", "date", ...), frame)
    actual = frame.X[[c for c in ("date", GEO) if c in frame.X.columns]].assign(
        actual=frame.y.to_numpy()
    )
    if frame.is_geo:
        act = {
            g: actual[actual[GEO] == g].sort_values("date")["actual"].to_numpy() for g in frame.geos
        }
        act[NATIONAL] = actual.groupby("date")["actual"].sum().sort_index().to_numpy()
    else:
        act = {NATIONAL: actual.sort_values("date")["actual"].to_numpy()}
    parts = []
    for g, vals in by.items():
        mean, lo, hi = _quantiles(vals)
        parts.append(
            pd.DataFrame(
                {
                    "week": frame.weeks,
                    "geo": g,
                    "actual": act[g],
                    "predicted_mean": mean,
                    "predicted_lower": lo,
                    "predicted_upper": hi,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def parameters_table(result: FitResult) -> pd.DataFrame:
    """Every posterior variable without a date axis: mean, sd and 90 % interval."""
    post = _posterior(result)
    rows = []
    for name, da in post.data_vars.items():
        if "date" in da.dims or name == "mu":
            continue
        extra = [d for d in da.dims if d not in ("chain", "draw", "channel", GEO)]
        s = _stack(da)
        other = [d for d in s.dims if d != "sample"]
        flat = s.values.reshape(s.sizes["sample"], -1)
        idx = (
            pd.MultiIndex.from_product([s[d].values for d in other], names=other) if other else [()]
        )
        for k, key in enumerate(idx):
            key = key if isinstance(key, tuple) else (key,)
            labels = dict(zip(other, key, strict=False))
            v = flat[:, k]
            suffix = ",".join(str(labels[d]) for d in extra)
            rows.append(
                {
                    "parameter": f"{name}[{suffix}]" if suffix else name,
                    "channel": str(labels.get("channel", "")),
                    "geo": str(labels.get(GEO, "")),
                    "mean": float(v.mean()),
                    "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                    "lower": float(np.quantile(v, Q_LO)),
                    "upper": float(np.quantile(v, Q_HI)),
                }
            )
    return pd.DataFrame(rows)


def spec_and_draws(result: FitResult, keep: np.ndarray) -> tuple[dict[str, Any], pd.DataFrame]:
    """``spec`` dict and the long ``parameter_draws`` table (thinned to ``keep``)."""
    frame, mmm, cfg = result.frame, result.mmm, result.config
    _require_response_form(mmm)
    geos = list(frame.geos) if frame.is_geo else [NATIONAL]
    channels = list(frame.channels)
    channel_scale, target_scale = _scales_by_geo(result, geos, channels)
    rows = [*_curve_parameter_draws(result, keep, geos, channels),
            *_scale_draws(channel_scale, target_scale, geos, channels, len(keep))]
    national = frame.spend_wide()
    current = national.loc[national.index.isin(frame.weeks[-CURRENT_WEEKS:])].mean()
    spec = {
        "version": 1,
        "adstock": cfg.adstock.value,
        "l_max": int(mmm.adstock.l_max),
        "normalize": bool(mmm.adstock.normalize),
        "adstock_mode": "After",
        "adstock_first": True,
        "saturation": cfg.saturation.value,
        "channels": channels,
        "geos": geos,
        "channel_scale": channel_scale,
        "target_scale": target_scale,
        "geo_shares": _geo_shares(frame, geos, channels),
        "current_spend": {c: float(current[c]) for c in channels},
        "max_weekly_spend": {c: float(national[c].max()) for c in channels},
        "window_start": str(frame.window_start.date()),
        "window_end": str(frame.window_end.date()),
        "n_draws": int(len(keep)),
        "model_config": cfg.to_dict(),  # what a calibrated refit must fit again
    }
    return spec, pd.concat(rows, ignore_index=True)


def _require_response_form(mmm) -> None:
    """The stored curves are evaluated by :class:`~.response.ResponseModel`, which implements this form only."""
    if getattr(mmm.adstock.mode, "name", str(mmm.adstock.mode)) != "After":
        raise ValueError("response summaries assume ConvMode.After adstock")
    if not mmm.adstock_first:
        raise ValueError("response summaries assume adstock before saturation")


def _curve_parameter_draws(result: FitResult, keep: np.ndarray, geos: list[str],
                           channels: list[str]) -> list[pd.DataFrame]:
    """The adstock and saturation parameters of the kept draws per geo and channel (one shared by the geos
    repeated for each)."""
    cfg = result.config
    post = _posterior(result)
    k = len(keep)
    parts = []
    for name in ADSTOCK_PARAMS[cfg.adstock.value] + SATURATION_PARAMS[cfg.saturation.value]:
        da = _stack(post[name])
        if GEO not in da.dims:
            da = da.expand_dims({GEO: geos}, axis=1)
        da = da.transpose("sample", GEO, "channel").sel(channel=channels, **{GEO: geos})
        vals = da.values[keep]  # (k, G, C)
        parts.append(
            pd.DataFrame(
                {
                    "draw": np.repeat(np.arange(k), len(geos) * len(channels)),
                    "channel": np.tile(channels, k * len(geos)),
                    "geo": np.tile(np.repeat(geos, len(channels)), k),
                    "name": name,
                    "value": vals.reshape(-1),
                }
            )
        )
    return parts


def _scales_by_geo(result: FitResult, geos: list[str],
                   channels: list[str]) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """The model's channel scales ``{geo: {channel: scale}}`` and target scales ``{geo: scale}`` (one shared by
    the geos repeated for each)."""
    ts, cs = _scales(result)
    cs_g = cs.expand_dims({GEO: geos}) if GEO not in cs.dims else cs
    cs_g = cs_g.transpose(GEO, "channel").sel(channel=channels, **{GEO: geos})
    ts_g = ts.expand_dims({GEO: geos}) if GEO not in ts.dims else ts.sel({GEO: geos})
    channel_scale = {
        g: {c: float(cs_g.sel({GEO: g, "channel": c})) for c in channels} for g in geos
    }
    target_scale = {g: float(ts_g.sel({GEO: g})) for g in geos}
    return channel_scale, target_scale


def _scale_draws(channel_scale: dict[str, dict[str, float]], target_scale: dict[str, float], geos: list[str],
                 channels: list[str], k: int) -> list[pd.DataFrame]:
    """The scales as rows of every draw, so that one draw's rows describe its curves in money."""
    parts = []
    for g in geos:
        parts.append(
            pd.DataFrame(
                {
                    "draw": np.repeat(np.arange(k), len(channels)),
                    "channel": np.tile(channels, k),
                    "geo": g,
                    "name": "channel_scale",
                    "value": np.tile([channel_scale[g][c] for c in channels], k),
                }
            )
        )
        parts.append(
            pd.DataFrame(
                {
                    "draw": np.arange(k),
                    "channel": "",
                    "geo": g,
                    "name": "target_scale",
                    "value": target_scale[g],
                }
            )
        )
    return parts


def _geo_shares(frame: ModelFrame, geos: list[str], channels: list[str]) -> dict[str, dict[str, float]]:
    """Each geo's share of each channel's spend in the last ``CURRENT_WEEKS`` weeks (the whole window for a
    channel without spend in them; equal shares for one without any): how a national plan is split over geos."""
    if not frame.is_geo:
        return {NATIONAL: {c: 1.0 for c in channels}}
    spend_geo = frame.spend_wide(by_geo=True)
    recent = frame.weeks[-CURRENT_WEEKS:]
    rec = spend_geo[spend_geo.index.get_level_values(0).isin(recent)].groupby(level=GEO).sum()
    full = spend_geo.groupby(level=GEO).sum()
    shares = {}
    for c in channels:
        col = rec[c] if rec[c].sum() > 0 else full[c]
        tot = col.sum()
        for g in geos:
            shares.setdefault(g, {})[c] = float(col[g] / tot) if tot > 0 else 1 / len(geos)
    return shares


def response_curves_table(parameter_draws: pd.DataFrame, spec: dict[str, Any]) -> pd.DataFrame:
    """Steady-state weekly revenue and marginal ROAS on a spend grid, per channel (national)."""
    model = ResponseModel.from_draws(parameter_draws, spec)
    shares = geo_shares_array(spec)
    parts = []
    C = len(model.channels)
    for j, c in enumerate(model.channels):
        top = 2.0 * spec["max_weekly_spend"][c]
        grid = np.linspace(0.0, top, GRID_POINTS)
        spend = np.zeros((GRID_POINTS, C))
        spend[:, j] = grid
        rev, d = model.response(spend, geo_shares=shares, derivative=True)
        r, m = rev[..., j], d[..., j]  # (D, grid)
        # a Hill curve with slope < 1 is infinitely steep at 0: those draws report the first step's return
        m[:, 0] = np.where(np.isfinite(m[:, 0]), m[:, 0], (r[:, 1] - r[:, 0]) / grid[1])
        rm, rl, ru = _quantiles(r)
        mm, ml, mu = _quantiles(m)
        parts.append(
            pd.DataFrame(
                {
                    "channel": c,
                    "spend": grid,
                    "response_mean": rm,
                    "response_lower": rl,
                    "response_upper": ru,
                    "marginal_roas_mean": mm,
                    "marginal_roas_lower": ml,
                    "marginal_roas_upper": mu,
                    "current_spend": spec["current_spend"][c],
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def diagnostics_table(result: FitResult, fit: pd.DataFrame) -> pd.DataFrame:
    """One row of convergence and fit diagnostics.

    Columns: rhat_max, ess_bulk_min, ess_tail_min (over every element of every free
    random variable), divergences, mape, wape, r2 (in-sample, posterior-predictive mean
    vs actual at the model's level: per geo for geo models; prefer wape when actuals
    come near zero), ppc_coverage_90 (share of actuals inside the 90 % predictive
    interval), holdout_mape, holdout_wape, holdout_coverage_90,
    holdout_weeks, elpd_loo, elpd_loo_se, loo_pareto_k_max (PSIS-LOO of the fitted weeks, see
    :func:`.fit.loo`), n_weeks, window_start, window_end, sampler, chains, draws, tune,
    target_accept, fit_seconds (wall of the whole fit incl. holdout), compile_seconds,
    sampling_seconds, holdout_seconds, compile_reused, saturation, adstock, n_geos,
    n_channels, n_controls, n_lift_tests.
    """
    import arviz as az

    cfg, frame = result.config, result.frame
    post = _posterior(result)
    free = [v.name for v in result.mmm.model.free_RVs if v.name in post]
    ds = post[free]
    ess_b, ess_t, rhat = az.ess(ds, method="bulk"), az.ess(ds, method="tail"), az.rhat(ds)
    stats = result.idata["sample_stats"].to_dataset()
    level = fit[fit["geo"] != NATIONAL] if frame.is_geo else fit
    err = level["predicted_mean"] - level["actual"]
    mape = float((err.abs() / level["actual"].abs()).mean())
    ss_res = float((err**2).sum())
    ss_tot = float(((level["actual"] - level["actual"].mean()) ** 2).sum())
    inside = (level["actual"] >= level["predicted_lower"]) & (
        level["actual"] <= level["predicted_upper"]
    )
    t = result.timings
    h = result.holdout
    row = {
        "rhat_max": max(float(rhat[v].max()) for v in free),
        "ess_bulk_min": min(float(ess_b[v].min()) for v in free),
        "ess_tail_min": min(float(ess_t[v].min()) for v in free),
        "divergences": int(stats["diverging"].sum()),
        "mape": mape,
        "wape": float(err.abs().sum() / level["actual"].abs().sum()),
        "r2": 1 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "ppc_coverage_90": float(inside.mean()),
        "holdout_mape": h.mape if h else float("nan"),
        "holdout_wape": h.wape if h else float("nan"),
        "holdout_coverage_90": h.coverage_90 if h else float("nan"),
        "holdout_weeks": h.weeks if h else 0,
        "holdout_method": h.method if h else "none",
        "holdout_pareto_k": h.pareto_k if h else float("nan"),
        "elpd_loo": result.loo.elpd if result.loo else float("nan"),
        "elpd_loo_se": result.loo.se if result.loo else float("nan"),
        "loo_pareto_k_max": result.loo.pareto_k_max if result.loo else float("nan"),
        "n_weeks": frame.n_weeks,
        "window_start": frame.window_start,
        "window_end": frame.window_end,
        "sampler": cfg.sampler.value,
        "chains": cfg.chains,
        "draws": cfg.draws,
        "tune": cfg.tune,
        "target_accept": cfg.target_accept,
        "fit_seconds": float(t.get("total", t.get("fit", float("nan")))),
        "compile_seconds": float(t.get("compile", float("nan"))),
        "sampling_seconds": float(t.get("sampling", float("nan"))),
        "holdout_seconds": float(t.get("holdout", 0.0)),
        "compile_reused": bool(result.compile_reused),
        "saturation": cfg.saturation.value,
        "adstock": cfg.adstock.value,
        "n_geos": len(frame.geos),
        "n_channels": len(frame.channels),
        "n_controls": len(frame.controls),
        "n_lift_tests": 0 if result.calibration is None else len(result.calibration),
    }
    return pd.DataFrame([row])


def summarize(result: FitResult) -> MMMSummaries:
    """All summary tables of a fitted window (posterior predictive must be sampled).

    Parameters
    ----------
    result : FitResult
        From :meth:`~.fit.MMMFitter.fit`.

    Returns
    -------
    MMMSummaries
    """
    post = _posterior(result)
    n_total = post.sizes["chain"] * post.sizes["draw"]
    keep = thin_index(n_total, result.config.n_keep_draws)
    roas, roas_draws = roas_tables(result, keep)
    spec, pdraws = spec_and_draws(result, keep)
    fit = fit_table(result)
    return MMMSummaries(
        roas=roas,
        roas_draws=roas_draws,
        contributions=contributions_table(result),
        fit=fit,
        response_curves=response_curves_table(pdraws, spec),
        parameters=parameters_table(result),
        parameter_draws=pdraws,
        spec=spec,
        diagnostics=diagnostics_table(result, fit),
    )
