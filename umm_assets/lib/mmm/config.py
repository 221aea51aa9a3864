"""Configuration of the Bayesian MMM fitted by the ``mmm_posterior`` stage.

One frozen dataclass, :class:`MMMConfig`, holds every modelling and sampling choice. The
defaults were measured on the project's 2-core machine, not guessed:

- Saturation ``logistic``: on pymc-marketing's ``mmm_example.csv`` (logistic truth) it
  recovers ROAS within 2 % with every true parameter in its 94 % interval; Hill (with the
  regularised priors of :mod:`.model`) lands at 8 %. On 156-week × 5-channel Hill-shaped
  synthetic worlds both reach 21–39 % ROAS MAPE, Hill at about twice the sampling time and
  with more divergences; Hill with pymc-marketing's default priors is unusable there
  (75–267 % MAPE, R-hat up to 1.9).
- Sampler nutpie, 4 chains × (1500 draws + 1000 tune), ``target_accept`` 0.95, ``cores``
  = min(4, cpu). ``target_accept`` ≤ 0.9 always diverged on the demo worlds. With 1000 draws 3 of
  5 consecutive 156-week demo windows missed the checks (R-hat ≤ 1.01, bulk/tail ESS ≥ 400) by a
  little (min bulk ESS 381–388, R-hat up to 1.016) and had to be sampled again; with 1500 all 5
  passed (min bulk ESS 584–814) at ~1.2× the sampling time, cheaper than one retry in two.
- Holdout: leave-future-out on the last 8 weeks by Pareto-smoothed importance sampling of the
  full posterior (no refit: 0.03 s; demo world: MAPE 2.15 % vs 2.40 % for a refit, Pareto k 0.15).
  When k > 0.7 it falls back to a refit without those weeks with 4 × (250 + 500) draws (its MAPE
  is within 0.0002 of a full-length refit's, at 0.2–0.6× the cost of the main fit).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Adstock(StrEnum):
    """Carry-over kernel applied to weekly spend (pymc-marketing component of the same name)."""

    GEOMETRIC = "geometric"
    DELAYED = "delayed"
    BINOMIAL = "binomial"


class Saturation(StrEnum):
    """Diminishing-returns curve applied to adstocked spend."""

    LOGISTIC = "logistic"
    HILL = "hill"


class Sampler(StrEnum):
    """NUTS implementation; ``nutpie`` is installed with the project."""

    NUTPIE = "nutpie"
    PYMC = "pymc"
    NUMPYRO = "numpyro"


class GeoPooling(StrEnum):
    """How channel effects are shared across geos when the data has more than one.

    ``hierarchical``: adstock and saturation shape shared by all geos, the channel
    coefficient ``saturation_beta`` per geo around a channel-level mean (non-centred
    log-normal). ``unpooled``: pymc-marketing's default, every parameter per geo × channel.
    """

    HIERARCHICAL = "hierarchical"
    UNPOOLED = "unpooled"


MIN_WEEKS_FLOOR = 52
# the convergence a fit is held to by default (mmm_posterior's blocking checks; the dashboard's verdicts for
# fits stored before their thresholds were recorded in their diagnostics)
RHAT_MAX = 1.01
ESS_MIN = 400.0
DIVERGENCES_MAX = 0
"""No model is fitted on fewer weeks than this: a year is needed to separate seasonality."""


class ConfigError(ValueError):
    """An invalid MMM configuration."""


@dataclass(frozen=True, kw_only=True)
class MMMConfig:
    """Every choice of the MMM fit: model structure, priors, sampler, holdout, output size.

    Parameters
    ----------
    adstock : Adstock
        Carry-over kernel. Default geometric.
    l_max : int
        Longest carry-over in weeks (kernel length).
    adstock_normalize : bool
        Normalise kernel weights to sum to one (pymc-marketing default).
    saturation : Saturation
        Response curve. Default chosen by measured recovery (see module docstring).
    yearly_seasonality : int
        Number of yearly Fourier modes (0 disables seasonality).
    trend : bool
        Add a linear trend (pymc-marketing ``LinearTrendEffect``, one segment).
    geo_pooling : GeoPooling
        Sharing of channel effects across geos (ignored for national data).
    priors : Mapping[str, Any]
        Overrides of pymc-marketing ``model_config`` entries, keyed by its names
        (``adstock_alpha``, ``saturation_lam``, ``saturation_beta``, ``saturation_slope``,
        ``saturation_kappa``, ``intercept``, ``likelihood``, ``gamma_control``,
        ``gamma_fourier``) plus ``trend_delta``. Values are ``pymc_extras`` ``Prior``
        objects or their ``to_dict()`` form (JSON-able), e.g.
        ``{"saturation_beta": {"dist": "HalfNormal", "kwargs": {"sigma": 1}}}``.
        Channel-level priors need ``dims`` including ``"channel"``.
    sampler : Sampler
        NUTS implementation.
    chains, draws, tune : int
        Chains and per-chain kept / warm-up draws.
    target_accept : float
        NUTS target acceptance.
    cores : int
        Chains run in parallel; default ``min(4, cpu_count)``. Always passed explicitly:
        PyMC's own default is ``cpu_count() // 2`` (1 on a 2-core machine). Does not
        change the draws (each nutpie chain has its own seeded stream).
    nutpie_adaptation : str
        nutpie mass-matrix adaptation (``"diag"``, ``"low_rank"`` ...).
    seed : int
        Seed for sampling, posterior predictive and draw thinning.
    holdout_weeks : int
        Weeks at the end of the window held out for the out-of-sample check
        (0 disables the holdout fit).
    holdout_draws, holdout_tune : int
        Per-chain draws of the cheaper holdout refit, used when the importance-sampling
        estimate is unreliable (only its predictive mean and
        interval are used, not its convergence).
    n_keep_draws : int
        Posterior draws kept in ``roas_draws`` / ``parameter_draws`` (thinned evenly).
    min_weeks : int
        Refuse to fit on fewer weeks (never below 52).
    window_weeks : int
        Trailing window length in weeks.
    """

    adstock: Adstock = Adstock.GEOMETRIC
    l_max: int = 8
    adstock_normalize: bool = True
    saturation: Saturation = Saturation.LOGISTIC
    yearly_seasonality: int = 2
    trend: bool = True
    geo_pooling: GeoPooling = GeoPooling.HIERARCHICAL
    priors: Mapping[str, Any] = field(default_factory=dict)
    sampler: Sampler = Sampler.NUTPIE
    chains: int = 4
    draws: int = 1500
    tune: int = 1000
    target_accept: float = 0.95
    cores: int = field(default_factory=lambda: max(1, min(4, os.cpu_count() or 1)))
    nutpie_adaptation: str = "diag"
    seed: int = 42
    holdout_weeks: int = 8
    holdout_draws: int = 250
    holdout_tune: int = 500
    n_keep_draws: int = 500
    min_weeks: int = MIN_WEEKS_FLOOR
    window_weeks: int = 156

    def __post_init__(self) -> None:
        for name, enum in (
            ("adstock", Adstock),
            ("saturation", Saturation),
            ("sampler", Sampler),
            ("geo_pooling", GeoPooling),
        ):
            try:
                object.__setattr__(self, name, enum(getattr(self, name)))
            except ValueError as err:
                raise ConfigError(
                    f"{name}={getattr(self, name)!r}: expected one of {[e.value for e in enum]}"
                ) from err
        object.__setattr__(self, "priors", dict(self.priors or {}))
        if self.min_weeks < MIN_WEEKS_FLOOR:
            raise ConfigError(f"min_weeks={self.min_weeks} is below the floor of {MIN_WEEKS_FLOOR}")
        if self.window_weeks < self.min_weeks:
            raise ConfigError(f"window_weeks={self.window_weeks} < min_weeks={self.min_weeks}")
        positive = ("l_max", "chains", "draws", "tune", "cores", "n_keep_draws")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be ≥ 1, got {getattr(self, name)}")
        if self.yearly_seasonality < 0 or self.holdout_weeks < 0:
            raise ConfigError("yearly_seasonality and holdout_weeks must be ≥ 0")
        if not 0.5 <= self.target_accept < 1:
            raise ConfigError(f"target_accept={self.target_accept} outside [0.5, 1)")
        if self.holdout_weeks and self.holdout_weeks >= self.min_weeks:
            raise ConfigError("holdout_weeks must be smaller than min_weeks")

    def replace(self, **changes: Any) -> MMMConfig:
        """Return a copy with ``changes`` applied (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (priors in ``Prior.to_dict()`` form); inverse of :meth:`from_dict`."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["priors"] = {k: _prior_to_dict(v) for k, v in self.priors.items()}
        for k, v in out.items():
            if isinstance(v, StrEnum):
                out[k] = v.value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MMMConfig:
        """Build from :meth:`to_dict` output (unknown keys raise :class:`ConfigError`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        if unknown := set(data) - names:
            raise ConfigError(f"unknown MMMConfig fields: {sorted(unknown)}")
        return cls(**dict(data))

    def fingerprint(self) -> str:
        """Stable JSON of the settings that change the compiled model graph."""
        keys = (
            "adstock",
            "l_max",
            "adstock_normalize",
            "saturation",
            "yearly_seasonality",
            "trend",
            "geo_pooling",
            "priors",
        )
        d = self.to_dict()
        return json.dumps({k: d[k] for k in keys}, sort_keys=True, default=str)


def _prior_to_dict(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


def resolve_prior(value: Any) -> Any:
    """Turn a prior given as ``Prior.to_dict()`` form into a pymc-extras object.

    Objects (``Prior``, ``LogNormalPrior`` ...) are returned unchanged.
    """
    if isinstance(value, Mapping):
        import pymc_marketing.special_priors  # noqa: F401  (registers LogNormalPrior etc.)
        from pymc_extras.deserialize import deserialize

        return deserialize(dict(value))
    return value
