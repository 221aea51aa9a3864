"""The true response curves of a synthetic world (``truth.json`` of either family), for scoring.

A plan is scored by what the *true* curves say it earns: :class:`TrueResponse` answers the same calls
the optimizer makes of a posterior (one "draw"), so the true optimum comes from the same optimizer
and a plan's true uplift from the same evaluation. Kernels sum to one, so at a constant weekly spend
``x`` the adstocked spend settles at ``x`` and the steady-state weekly revenue is ``beta · sat(x)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from umm_assets.lib.contracts import NATIONAL


def _saturation_of(channel: Mapping) -> dict:
    """The demo family's channels are Hill-shaped with ``half_saturation``/``slope`` at the top level."""
    if "saturation" in channel:
        return dict(channel["saturation"])
    return {"type": "hill", "half_saturation": channel["half_saturation"], "slope": channel["slope"]}


def _curve(saturation: Mapping, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Saturation (without beta) and its derivative at weekly spend ``x``."""
    x = np.maximum(x, 1e-12)
    if saturation["type"] == "hill":
        k, s = saturation["half_saturation"], saturation["slope"]
        value = x**s / (k**s + x**s)
        return value, s * k**s * x ** (s - 1) / (k**s + x**s) ** 2
    if saturation["type"] == "exponential":
        scale = saturation["scale"]
        return 1 - np.exp(-x / scale), np.exp(-x / scale) / scale
    raise ValueError(f"unknown true saturation {saturation['type']!r}")


@dataclass(frozen=True)
class TrueResponse:
    """The world's steady-state response curves as a one-draw model (see ``ResponseModel``)."""

    channels: tuple[str, ...]
    betas: np.ndarray
    saturations: tuple[dict, ...]
    geos: tuple[str, ...] = (NATIONAL,)

    @classmethod
    def from_truth(cls, truth: Mapping) -> TrueResponse:
        channels = tuple(sorted(truth["channels"]))
        return cls(channels, np.array([truth["channels"][c]["beta"] for c in channels], float),
                   tuple(_saturation_of(truth["channels"][c]) for c in channels))

    def response(self, spend: np.ndarray, *, geo_shares=None, derivative: bool = False):
        """Weekly revenue per channel at constant weekly ``spend`` (..., C), shape (1, ..., C)."""
        spend = np.asarray(spend, float)
        parts = [_curve(s, spend[..., j]) for j, s in enumerate(self.saturations)]
        revenue = np.stack([v for v, _ in parts], axis=-1) * self.betas
        marginal = np.stack([d for _, d in parts], axis=-1) * self.betas
        return (revenue[None], marginal[None]) if derivative else revenue[None]

    def steady_state(self, geo_shares=None):
        return lambda spend: self.response(spend, derivative=True)

    def revenue(self, spend: Mapping[str, float]) -> float:
        """Total steady-state weekly revenue of a split given by channel name."""
        return float(self.response(np.array([spend[c] for c in self.channels])).sum())
