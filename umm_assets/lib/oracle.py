"""The information floor: how close to the true ROAS can any estimate get on a world with known truth?

An oracle that knows everything about a synthetic world except the channel coefficients: each channel's
true carryover and saturation curve, the baseline's form (for the market family, the unobserved demand
index too) and the noise level. It estimates only the coefficients, by generalised least squares on the
model window's weekly revenue plus the lift tests the platform was given (each a measurement of its
channel's coefficient times the true curve's lift over the test's days, with the test's own reported
interval). It is unbiased, and an unbiased method fed the same data does no better on average: it must
also learn the shapes. (A Bayesian posterior median can beat it on a given world by shrinking a poorly
identified channel toward its prior, which helps only as far as the prior happens to be right.)

Used by ``bench/roas_floor.py`` and by the recovery tests, which hold the platform's error to a multiple
of this floor on the same world and noise draw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from umm_assets.lib import demo, market
from umm_assets.lib.mmm.calibration import lift_sd
from umm_assets.lib.weeks import shares_inside

Curve = Callable[[np.ndarray], np.ndarray]  # a channel's contribution per unit of coefficient, from weekly spend


@dataclass(frozen=True)
class Design:
    """What the oracle knows of a world: the regressors of the whole history, and which weeks are the
    model's window."""

    weeks: pd.DatetimeIndex
    window_weeks: int
    baseline: np.ndarray  # weeks × k: the baseline's known form, coefficients unknown
    spend: pd.DataFrame  # weeks × channels
    curves: dict[str, Curve]
    revenue: np.ndarray
    noise_sd: float
    tests: pd.DataFrame  # channel, start_date, end_date, lift, lift_ci_lower, lift_ci_upper, confidence
    beta: dict[str, float]  # the true coefficients (only to report the relative error)


@dataclass(frozen=True)
class Floor:
    estimate: dict[str, float]  # the oracle's ROAS on this world's noise draw
    relative_se: dict[str, float]  # of each channel's ROAS
    truth: dict[str, float]

    @property
    def expected_mape(self) -> float:
        """Its ROAS MAPE averaged over noise draws: mean over channels of E|error| = sqrt(2/pi) x relative SE."""
        return float(np.mean(list(self.relative_se.values())) * np.sqrt(2 / np.pi))

    @property
    def actual_mape(self) -> float:
        """Its ROAS MAPE on this world's noise draw (the one the platform saw)."""
        return float(np.mean([abs(self.estimate[c] / self.truth[c] - 1) for c in self.truth]))


def floor(design: Design) -> Floor:
    names = list(design.curves)
    window = slice(len(design.weeks) - design.window_weeks, None)
    spend = {c: design.spend[c].to_numpy(float) for c in names}
    curves = np.column_stack([design.curves[c](spend[c]) for c in names])
    X = np.column_stack([design.baseline, curves])[window]
    first = design.baseline.shape[1]
    rows, values, sds = [X], [design.revenue[window]], [np.full(design.window_weeks, design.noise_sd)]
    for test in design.tests.itertuples():
        inside = shares_inside(design.weeks, test.start_date, test.end_date)
        curve, x = design.curves[test.channel], spend[test.channel]
        row = np.zeros(X.shape[1])  # the test measures the coefficient times the curve's lift over its days
        row[first + names.index(test.channel)] = ((curve(x) - curve(x * (1 - inside))) * inside).sum()
        rows.append(row[None])
        values.append([test.lift])
        sds.append([lift_sd(test.lift, test.lift_ci_lower, test.lift_ci_upper, test.confidence)])
    weight = 1 / np.concatenate(sds)
    A, b = np.vstack(rows) * weight[:, None], np.concatenate(values) * weight
    coef = np.linalg.lstsq(A, b, rcond=None)[0][first:]
    se = np.sqrt(np.diag(np.linalg.inv(A.T @ A)))[first:]
    to_roas = curves[window].sum(axis=0) / np.array([spend[c][window].sum() for c in names])
    beta = np.array([design.beta[c] for c in names])
    return Floor(estimate=dict(zip(names, (coef * to_roas).tolist())),
                 relative_se=dict(zip(names, (se / beta).tolist())),
                 truth=dict(zip(names, (beta * to_roas).tolist())))


def demo_design(world: demo.DemoWorld) -> Design:
    """A ``umm demo`` world: the baseline is trend, two yearly Fourier modes and the controls."""
    yearly = 2 * np.pi * world.weeks.dayofyear.to_numpy() / 365.25
    baseline = np.column_stack([np.ones(len(world.weeks)), np.arange(len(world.weeks)), np.sin(yearly),
                                np.cos(yearly), np.sin(2 * yearly), np.cos(2 * yearly), world.controls.to_numpy()])

    def curve(channel: demo.ChannelTruth) -> Curve:
        return lambda spend: channel.hill(demo.adstock(spend, channel.alpha))

    return Design(world.weeks, world.window_weeks, baseline, world.spend, {c.name: curve(c) for c in world.channels},
                  world.revenue.to_numpy(float), demo.NOISE_SHARE * world.baseline.mean(), world.tests,
                  {c.name: c.beta for c in world.channels})


def market_design(world: market.MarketWorld, tested: Iterable[str] | None = None) -> Design:
    """A market-family world, with the tests of ``tested`` only (all, when None), as the platform was given.
    The oracle knows the baseline and the demand confounder up to their coefficients."""
    baseline = np.column_stack([np.ones(len(world.weeks)), world.baseline, world.demand])

    def curve(channel: market.Channel) -> Curve:
        return dataclasses.replace(channel, beta=1.0).contribution

    tests = world.tests if tested is None else world.tests[world.tests["channel"].isin(set(tested))]
    return Design(world.weeks, world.window_weeks, baseline, world.spend, {c.name: curve(c) for c in world.channels},
                  world.revenue, world.noise_sd, tests, {c.name: c.beta for c in world.channels})
