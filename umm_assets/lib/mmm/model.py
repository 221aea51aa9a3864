"""The pymc-marketing ``MMM`` for one window: components, priors, trend, calibration.

:func:`build_mmm` turns a :class:`~.frame.ModelFrame` and an :class:`~.config.MMMConfig`
into a built (not fitted) pymc-marketing 1.3 ``MMM``; :func:`model_config_for` gives the
priors it uses.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .calibration import ExactLiftTests, add_exact_lift_tests
from .config import Adstock, GeoPooling, MMMConfig, Saturation, resolve_prior
from .frame import DATE, GEO, ModelFrame


def model_config_for(config: MMMConfig, frame: ModelFrame) -> dict[str, Any]:
    """pymc-marketing ``model_config`` for this config and frame (defaults + overrides).

    National models use pymc-marketing's default priors. Geo models with
    ``GeoPooling.HIERARCHICAL`` share the adstock and saturation-shape parameters across
    geos (dims ``channel``) and give the channel coefficient a non-centred log-normal
    hierarchy: ``saturation_beta[geo, channel] = exp(mu[channel] + sigma[channel]·z)``.
    ``config.priors`` entries override either.
    """
    from pymc_extras.prior import Prior

    mc: dict[str, Any] = {}
    if frame.is_geo and config.geo_pooling == GeoPooling.HIERARCHICAL:
        mc["adstock_alpha"] = Prior("Beta", alpha=1, beta=3, dims="channel")
        if config.saturation == Saturation.LOGISTIC:
            mc["saturation_lam"] = Prior("Gamma", alpha=3, beta=1, dims="channel")
        else:
            mc.update(_hill_shape_priors(dims="channel"))
        mc["saturation_beta"] = Prior(
            "Normal",
            mu=Prior("Normal", mu=-1.5, sigma=1.0, dims="channel"),
            sigma=Prior("HalfNormal", sigma=0.5, dims="channel"),
            dims=(GEO, "channel"),
            centered=False,
            transform="exp",
        )
    elif config.saturation == Saturation.HILL:
        mc.update(_hill_shape_priors(dims="channel"))
        mc["saturation_beta"] = Prior("HalfNormal", sigma=1.0, dims="channel")
    if config.adstock == Adstock.DELAYED:
        mc.update(_delayed_priors(dims="channel"))
    for key, value in config.priors.items():
        if key == "trend_delta":
            continue
        mc[key] = resolve_prior(value)
    return mc


def _hill_shape_priors(dims: str) -> dict[str, Any]:
    """Hill priors keeping half-saturation inside the observed (max-scaled) spend range."""
    from pymc_extras.prior import Prior

    return {
        "saturation_kappa": Prior("Gamma", mu=0.5, sigma=0.25, dims=dims),
        "saturation_slope": Prior("Gamma", mu=1.5, sigma=0.5, dims=dims),
    }


def _delayed_priors(dims: str) -> dict[str, Any]:
    """Delayed carry-over ``w[l] = alpha ** ((l - theta) ** 2)``: the width ``alpha`` kept away from zero and
    a peak ``theta`` allowed up to about four weeks. pymc-marketing's defaults (Beta(1, 3), HalfNormal(1))
    put most of the mass on kernels narrower than a week, where the likelihood is flat in ``theta`` between
    whole lags (its docs warn of it): on market seed 1 they diverged at target_accept 0.95 and needed the
    longer retry (once failing it too); with these the first attempt converged (no divergence, half the time)
    and placed TV's peak at 1.6 weeks (truth about 1.7). HalfNormal(1) also left a 3-week peak 0.3 % prior
    mass."""
    from pymc_extras.prior import Prior

    return {"adstock_alpha": Prior("Beta", alpha=2, beta=2, dims=dims),
            "adstock_theta": Prior("HalfNormal", sigma=2, dims=dims)}


def build_mmm(
    frame: ModelFrame,
    config: MMMConfig,
    *,
    calibration: pd.DataFrame | ExactLiftTests | None = None,
):
    """Create and build a pymc-marketing ``MMM`` for ``frame`` (not fitted).

    Parameters
    ----------
    frame : ModelFrame
        The window's wide inputs.
    config : MMMConfig
        Model settings (adstock, saturation, seasonality, trend, priors, geo pooling).
    calibration : pd.DataFrame or ExactLiftTests, optional
        Exact-unit tests (:func:`~.calibration.add_exact_lift_tests`), or
        Lift tests in pymc-marketing's format (``channel``, [``geo``], ``x``,
        ``delta_x``, ``delta_y``, ``sigma``; see :func:`lift_tests_to_calibration`).

    Returns
    -------
    pymc_marketing.mmm.MMM
        With ``build_model`` done and lift tests added.
    """
    from pymc_marketing.mmm import MMM

    adstock, saturation, scaling = _components(frame, config)
    mmm = MMM(
        date_column=DATE,
        channel_columns=list(frame.channels),
        target_column=frame.target,
        adstock=adstock,
        saturation=saturation,
        control_columns=list(frame.controls) or None,
        yearly_seasonality=config.yearly_seasonality or None,
        dims=frame.dims or None,
        scaling=scaling,
        model_config=model_config_for(config, frame),
    )
    if config.trend:
        _add_trend(mmm, config, frame)
    mmm.build_model(frame.X, frame.y)
    if isinstance(calibration, ExactLiftTests):
        add_exact_lift_tests(mmm, calibration.tests, frame)
    elif calibration is not None and len(calibration):
        mmm.add_lift_test_measurements(calibration)
    return mmm


def _components(frame: ModelFrame, config: MMMConfig):
    """pymc-marketing's adstock, saturation and scaling for ``config`` (scaling: None for its default)."""
    from pymc_marketing.mmm import (
        BinomialAdstock,
        DelayedAdstock,
        GeometricAdstock,
        HillSaturation,
        LogisticSaturation,
    )
    from pymc_marketing.mmm.scaling import DataDerivedScaling

    adstock_cls = {
        "geometric": GeometricAdstock,
        "delayed": DelayedAdstock,
        "binomial": BinomialAdstock,
    }[config.adstock.value]
    saturation = (
        LogisticSaturation() if config.saturation == Saturation.LOGISTIC else HillSaturation()
    )
    scaling = None
    if frame.is_geo and config.geo_pooling == GeoPooling.HIERARCHICAL:
        # Scale each geo by its own maxima so shared shape parameters mean the same
        # thing in a small and a large geo.
        scaling = {
            "channel": DataDerivedScaling(method="max", dims=()),
            "target": DataDerivedScaling(method="max", dims=()),
        }
    return adstock_cls(l_max=config.l_max, normalize=config.adstock_normalize), saturation, scaling


def _add_trend(mmm: Any, config: MMMConfig, frame: ModelFrame) -> None:
    """A linear trend with one changepoint (prior on its slope change: ``priors["trend_delta"]``)."""
    from pymc_extras.prior import Prior
    from pymc_marketing.mmm import LinearTrend
    from pymc_marketing.mmm.additive_effect import LinearTrendEffect

    dims = frame.dims
    delta = config.priors.get("trend_delta")
    delta = (
        resolve_prior(delta)
        if delta is not None
        else Prior("Laplace", mu=0, b=0.25, dims=(*dims, "changepoint"))
    )
    trend = LinearTrend(n_changepoints=1, dims=dims, priors={"delta": delta})
    mmm.add_mu_effect(LinearTrendEffect(trend=trend, prefix="trend"))
