"""A second family of synthetic worlds, unlike the demo's (``umm demo --family market``).

The demo family (:mod:`umm_assets.lib.demo`) is one generator with fixed channels, geometric adstock
and Hill curves. A model tuned on it can be wrong on real data and no demo test would say so. This
family draws its structure at random per seed, so that no constant tuned to one world passes:

- 4-5 channels from a pool; each with its own carryover (geometric decay, or a delayed peak one to
  three weeks after the spend) and saturation (S-shaped Hill, or concave exponential ``1 - e^{-x/s}``);
- an **unobserved demand confounder** (an AR(1) index plus a season the controls do not capture) that
  raises revenue and, for the channels that chase demand, their spend too;
- 2-3 holdout tests, optionally run at an unusual spend level;
- last-click attribution whose bias differs by channel type the way audits find it (TV ×0.2,
  search ×2.4, ...), or, by scenario, biases that agree by chance on the tested channels only, or
  one bias shared by every channel.

Everything is written in the data contract's layout with ``truth.json`` in the demo's format, plus each
channel's true curve (``kernel``, ``saturation``) so :mod:`umm_assets.lib.truth` scores any family.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from umm_assets.lib.demo import daily_rows
from umm_assets.lib.weeks import last_complete_week

L_MAX = 8
# last-click credit / incremental revenue by channel type (audits: TV under-credited, search over)
LAST_CLICK_BIAS = {"tv": 0.2, "search": 2.4, "social": 1.3, "display": 0.6, "video": 0.3, "radio": 0.15,
                   "affiliate": 3.0}
POOL = ("tv", "search", "social", "display", "video", "radio", "affiliate")
DEMAND_CHASERS = ("search", "social", "affiliate")  # bought against demand (bids, retargeting)


class Biases(StrEnum):
    REALISTIC = "realistic"  # by channel type, each ×lognormal(0, 0.2)
    AGREE = "agree"  # realistic, except that the tested channels' biases happen to agree (~2.6)
    SHARED = "shared"  # one bias for every channel (×lognormal(0, 0.05))


@dataclass(frozen=True)
class Channel:
    name: str
    spend: np.ndarray  # weekly
    kernel: np.ndarray  # carryover weights over L_MAX weeks, summing to one
    saturation: dict  # {"type": "hill", "half_saturation", "slope"} | {"type": "exponential", "scale"}
    beta: float
    last_click_bias: float

    def curve(self, adstocked: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(adstocked, float), 0.0)
        if self.saturation["type"] == "hill":
            k, s = self.saturation["half_saturation"], self.saturation["slope"]
            return x**s / (k**s + x**s)
        return 1 - np.exp(-x / self.saturation["scale"])

    def contribution(self, spend: np.ndarray) -> np.ndarray:
        adstocked = np.convolve(spend, self.kernel)[: len(spend)]
        return self.beta * self.curve(adstocked)


@dataclass
class MarketWorld:
    seed: int
    weeks: pd.DatetimeIndex
    channels: list[Channel]
    controls: pd.DataFrame
    baseline: np.ndarray
    demand: np.ndarray  # the unobserved confounder's revenue, per week
    noise: np.ndarray
    tests: pd.DataFrame = field(default_factory=pd.DataFrame)
    window_weeks: int = 156
    noise_sd: float = 0.0  # of the weekly revenue noise

    @property
    def spend(self) -> pd.DataFrame:
        return pd.DataFrame({c.name: c.spend for c in self.channels}, index=self.weeks)

    @property
    def contributions(self) -> pd.DataFrame:
        return pd.DataFrame({c.name: c.contribution(c.spend) for c in self.channels}, index=self.weeks)

    @property
    def revenue(self) -> np.ndarray:
        return self.baseline + self.demand + self.contributions.sum(axis=1).to_numpy() + self.noise


def _kernel(rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    lags = np.arange(L_MAX)
    if rng.random() < 0.5:
        alpha = rng.uniform(0.1, 0.7)
        weights, shape = alpha**lags, {"type": "geometric", "alpha": alpha}
    else:  # delayed peak: most of the effect one to three weeks after the spend
        peak, width = rng.uniform(1.0, 3.0), rng.uniform(0.8, 1.8)
        weights, shape = np.exp(-0.5 * ((lags - peak) / width) ** 2), {"type": "delayed", "peak": peak, "width": width}
    return weights / weights.sum(), shape


def _saturation(rng: np.random.Generator, typical: float) -> dict:
    if rng.random() < 0.5:
        return {"type": "hill", "half_saturation": typical * rng.uniform(0.6, 1.8), "slope": rng.uniform(1.0, 2.4)}
    return {"type": "exponential", "scale": typical * rng.uniform(0.5, 1.5)}


def _spend(rng: np.random.Generator, weeks: int, typical: float, demand_index: np.ndarray, chases: bool) -> np.ndarray:
    pattern = rng.choice(["always_on", "flighted", "pulsed"], p=[0.5, 0.3, 0.2])
    level = typical * rng.lognormal(0, rng.uniform(0.2, 0.45), weeks)
    if chases:  # bought against demand: more spend when demand is high
        level *= np.exp(rng.uniform(0.5, 0.9) * demand_index)
    if pattern == "flighted":
        level *= np.repeat(rng.random(weeks // 4 + 1) < 0.65, 4)[:weeks]
    elif pattern == "pulsed":
        level *= np.where(np.repeat(rng.random(weeks // 2 + 1) < 0.3, 2)[:weeks], 2.2, 0.8)
    return level.round(2)


def simulate(seed: int, weeks: int = 160, end_week: dt.date | None = None, *, biases: Biases = Biases.REALISTIC,
             tested: tuple[str, ...] | None = None, confounded: tuple[str, ...] | None = None,
             channels: int | None = None) -> MarketWorld:
    """A world of this family. The number of channels (4-5), ``tested`` and ``confounded`` (channels whose
    spend chases demand) are drawn when not given; the channels always include those named."""
    rng = np.random.default_rng(10_000 + seed)
    named = tuple(dict.fromkeys((*(tested or ()), *(confounded or ()))))
    rest = [c for c in POOL if c not in named]
    count = channels or int(rng.integers(4, 6))
    names = [*named, *map(str, rng.choice(rest, size=max(count - len(named), 0), replace=False))]
    index = pd.date_range(end=pd.Timestamp(end_week or last_complete_week()), periods=weeks, freq="W-MON")
    t = np.arange(weeks)
    phase = rng.uniform(0, 2 * np.pi)
    season = 0.08 * np.sin(2 * np.pi * t / 52.18 + phase)
    demand_index = np.zeros(weeks)  # AR(1), standardized, plus an off-calendar season
    for i in range(1, weeks):
        demand_index[i] = 0.85 * demand_index[i - 1] + rng.normal(0, np.sqrt(1 - 0.85**2))
    demand_index = 0.7 * demand_index + 0.7 * np.sin(2 * np.pi * t / 26 + rng.uniform(0, 2 * np.pi))
    level = rng.uniform(200_000, 450_000)
    price = 1 + np.cumsum(rng.normal(0, 0.008, weeks))
    promo = (rng.random(weeks) < 0.1).astype(float)
    controls = pd.DataFrame({"price_index": price.round(4), "promo": promo}, index=index)
    baseline = level * (1 + rng.uniform(-0.001, 0.002) * t + season) - 0.4 * level * (price - 1) + 0.12 * level * promo
    demand = 0.05 * level * demand_index
    chasers = set(confounded if confounded is not None else [c for c in names if c in DEMAND_CHASERS])
    channels = []
    for name in names:
        typical = level * rng.uniform(0.02, 0.09)
        spend = _spend(rng, weeks, typical, demand_index, name in chasers)
        kernel, _ = _kernel(rng)
        saturation = _saturation(rng, float(spend[spend > 0].mean()))
        draft = Channel(name, spend, kernel, saturation, 1.0, 1.0)
        roas = rng.uniform(0.5, 3.0)
        beta = roas * spend.sum() / max(draft.contribution(spend).sum(), 1e-9)
        channels.append(Channel(name, spend, kernel, saturation, float(beta), LAST_CLICK_BIAS.get(name, 1.0)))
    noise_sd = 0.025 * level
    world = MarketWorld(seed, index, channels, controls, baseline, demand, rng.normal(0, noise_sd, weeks),
                        window_weeks=min(156, weeks), noise_sd=noise_sd)
    chosen = tested or tuple(map(str, rng.choice(names, size=int(rng.integers(2, 4)), replace=False)))
    world.channels = with_biases(world.channels, biases, set(chosen), rng)
    world.tests = _tests(world, chosen, rng)
    return world


def with_biases(channels: list[Channel], biases: Biases, tested: set[str], rng: np.random.Generator) -> list[Channel]:
    """The channels with last-click biases drawn for a scenario (``tested``: the channels whose tests the
    attribution will be compared with)."""
    shared = rng.uniform(0.8, 2.5)
    out = []
    for c in channels:
        if biases == Biases.SHARED:
            bias = shared * rng.lognormal(0, 0.05)
        elif biases == Biases.AGREE and c.name in tested:
            bias = 2.6 * rng.lognormal(0, 0.06)
        else:
            bias = c.last_click_bias * rng.lognormal(0, 0.2)
        out.append(Channel(c.name, c.spend, c.kernel, c.saturation, c.beta, float(bias)))
    return out


def _tests(world: MarketWorld, tested, rng: np.random.Generator) -> pd.DataFrame:
    """Go-dark tests of 3-6 weeks in the last 80 weeks, measured with 8-15 % noise (90 % interval reported)."""
    rows = []
    n = len(world.weeks)
    by_name = {c.name: c for c in world.channels}
    for number, name in enumerate(tested, start=1):
        channel = by_name[name]
        length = int(rng.integers(3, 7))
        start = int(rng.integers(n - 80, n - length))
        spend = channel.spend.copy()
        if spend[start:start + length].sum() == 0:  # a flighted channel is put on air for its test
            spend[start:start + length] = spend[spend > 0].mean()
            by_name[name] = channel = Channel(**{**channel.__dict__, "spend": spend})
        off = spend.copy()
        off[start:start + length] = 0
        lift = float((channel.contribution(spend) - channel.contribution(off))[start:start + length].sum())
        sd = rng.uniform(0.08, 0.15) * lift
        measured = lift + rng.normal(0, sd)
        rows.append({"test_id": f"M{number:02d}-{name}", "channel": name, "start_date": world.weeks[start],
                     "end_date": world.weeks[start + length - 1] + pd.Timedelta(days=6), "lift": round(measured, 2),
                     "lift_ci_lower": round(measured - 1.645 * sd, 2), "lift_ci_upper": round(measured + 1.645 * sd, 2),
                     "confidence": 0.9, "spend": round(float(spend[start:start + length].sum()), 2),
                     "true_lift": lift})
    world.channels = [by_name[c.name] for c in world.channels]
    return pd.DataFrame(rows)


# --- the landing zone --------------------------------------------------------------------------


def truth(world: MarketWorld) -> dict:
    """``truth.json``: the demo's layout (so ``demo.true_roas`` reads it) plus each channel's curve."""
    contributions, spend = world.contributions, world.spend
    window = slice(len(world.weeks) - world.window_weeks, None)
    return {
        "family": "market", "seed": world.seed,
        "first_week": world.weeks[0].date().isoformat(), "last_week": world.weeks[-1].date().isoformat(),
        "weeks": len(world.weeks), "model_window_weeks": world.window_weeks,
        "response": "steady-state weekly revenue = beta * saturation(weekly spend) (kernels sum to one)",
        "channels": {c.name: {
            "roas": float(contributions[c.name].iloc[window].sum() / spend[c.name].iloc[window].sum()),
            "beta": c.beta, "kernel": c.kernel.tolist(), "saturation": c.saturation,
            "last_click_bias": c.last_click_bias, "tested": c.name in set(world.tests["channel"]),
            "mean_weekly_spend_last_13_weeks": float(spend[c.name].iloc[-13:].mean()),
        } for c in world.channels},
        "confounded_revenue_share": float(np.abs(world.demand).mean() / world.baseline.mean()),
        "weekly": {"week": [w.date().isoformat() for w in world.weeks],
                   "spend": {c: spend[c].round(2).tolist() for c in spend},
                   "contribution": {c: contributions[c].round(2).tolist() for c in contributions}},
        "tests": world.tests.assign(start_date=world.tests["start_date"].dt.date.astype(str),
                                    end_date=world.tests["end_date"].dt.date.astype(str)).to_dict(orient="records"),
    }


def write_landing_zone(world: MarketWorld, out: Path) -> dict:
    """The world as raw files in the contract layout (daily rows; CSV and Parquet), plus ``truth.json``."""
    rng = np.random.default_rng(world.seed + 7)
    out = Path(out)
    for folder in ("media_spend", "outcomes", "controls"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    spend = pd.concat([daily_rows(world.spend[[c]].set_axis(["spend"], axis=1), rng, ["spend"]).assign(channel=c)
                       for c in world.spend], ignore_index=True)
    spend["spend"] = spend["spend"].round(2)
    spend[["date", "channel", "spend"]].to_csv(out / "media_spend" / "spend.csv", index=False)
    revenue = daily_rows(pd.DataFrame({"revenue": world.revenue}, index=world.weeks), rng, ["revenue"])
    revenue["revenue"] = revenue["revenue"].round(2)
    revenue.to_parquet(out / "outcomes" / "revenue.parquet", index=False)
    controls = world.controls.loc[world.controls.index.repeat(7)].reset_index(names="date")
    controls["date"] = (controls["date"] + pd.to_timedelta(np.tile(np.arange(7), len(world.weeks)), unit="D")
                        ).dt.date.astype(str)
    controls.to_csv(out / "controls" / "controls.csv", index=False)
    write_tests(world, out)
    write_attribution(world, out, rng)
    record = truth(world)
    (out / "truth.json").write_text(json.dumps(record, indent=2))
    return record


def write_tests(world: MarketWorld, out: Path, channels: tuple[str, ...] | None = None) -> None:
    """The finished tests (of ``channels`` only, when given) as ``incrementality_tests/tests.csv``."""
    tests = world.tests.drop(columns=["true_lift"])
    if channels is not None:
        tests = tests[tests["channel"].isin(channels)]
    for column in ("start_date", "end_date"):
        tests[column] = tests[column].dt.date.astype(str)
    (Path(out) / "incrementality_tests").mkdir(parents=True, exist_ok=True)
    tests.to_csv(Path(out) / "incrementality_tests" / "tests.csv", index=False)


def write_attribution(world: MarketWorld, out: Path, rng: np.random.Generator | None = None) -> None:
    """Last-click attribution: each channel's true contribution × its bias, with 10 % weekly noise."""
    rng = rng or np.random.default_rng(world.seed + 11)
    contributions = world.contributions
    frames = []
    for c in world.channels:
        credited = contributions[c.name] * c.last_click_bias * rng.lognormal(0, 0.1, len(world.weeks))
        daily = daily_rows(credited.to_frame("attributed_revenue"), rng, ["attributed_revenue"])
        frames.append(daily.assign(channel=c.name, model="last_click"))
    attribution = pd.concat(frames, ignore_index=True)
    attribution["attributed_revenue"] = attribution["attributed_revenue"].round(2)
    (Path(out) / "attribution").mkdir(parents=True, exist_ok=True)
    attribution.to_csv(Path(out) / "attribution" / "last_click.csv", index=False)


def generate(out: Path, seed: int = 7, weeks: int = 160, end_week: dt.date | None = None, **options) -> dict:
    """Simulate a world of this family and write it under ``out``; returns the truth."""
    if weeks < 90:
        raise ValueError("a market world needs at least 90 weeks (its tests run in the last 80)")
    return write_landing_zone(simulate(seed, weeks, end_week, **options), Path(out))
