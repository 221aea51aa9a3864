"""A synthetic marketing world with known truth, written as a landing zone (``umm demo``).

Revenue really depends on spend: each channel's weekly spend goes through a normalized geometric
adstock (``l_max`` weeks) and a Hill saturation, on top of a baseline with trend, yearly
seasonality and controls (price index, promotions, holidays). Everything the platform should
recover is written to ``truth.json``: each channel's true ROAS over the model window, its
response parameters, the true lift of every incrementality test, and the bias of last-click
attribution. Files are daily rows (one agency reports TV weekly) in mixed formats.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from umm_assets.lib.weeks import WEEK, last_complete_week

L_MAX = 8
DEFAULT_WEEKS = 160
DEFAULT_WINDOW = 156
NOISE_SHARE = 0.03  # weekly revenue noise sd, as a share of the mean baseline


@dataclass(frozen=True)
class ChannelTruth:
    """One channel's true response: weekly revenue = beta * hill(adstock(spend))."""

    name: str
    mean_spend: float  # typical weekly spend when active
    on_share: float  # flighted: share of weeks on air (in 4-week bursts); pulsed: share of campaign weeks
    alpha: float  # geometric adstock decay
    half_saturation: float  # Hill K, in weekly spend units (steady state)
    slope: float  # Hill S
    target_roas: float  # used to set beta; the realised ROAS is measured, not assumed
    last_click_bias: float  # last-click credit / true incremental revenue
    pattern: str = "always_on"  # always_on | flighted (bursts on/off) | pulsed (low base, campaign weeks ×2.5)
    variation: float = 0.35  # week-to-week lognormal spread of spend
    seasonal_tracking: float = 0.0  # spend follows the yearly season (search demand does)
    beta: float = 0.0

    def hill(self, x: np.ndarray) -> np.ndarray:
        x = np.maximum(np.asarray(x, dtype=float), 0.0)
        return x**self.slope / (self.half_saturation**self.slope + x**self.slope)

    def steady_state_revenue(self, weekly_spend: np.ndarray | float) -> np.ndarray:
        """Weekly revenue from a constant weekly spend, once the adstock has settled."""
        return self.beta * self.hill(np.asarray(weekly_spend, dtype=float))


CHANNELS = (
    ChannelTruth("tv", 30_000, 0.6, alpha=0.6, half_saturation=30_000, slope=1.8, target_roas=1.7,
                 last_click_bias=0.15, pattern="flighted"),
    ChannelTruth("search", 18_000, 1.0, alpha=0.2, half_saturation=16_000, slope=1.2, target_roas=2.7,
                 last_click_bias=2.5, seasonal_tracking=0.2),
    ChannelTruth("social", 14_000, 1.0, alpha=0.35, half_saturation=15_000, slope=1.4, target_roas=1.7,
                 last_click_bias=1.2, variation=0.45),
    ChannelTruth("display", 7_000, 0.6, alpha=0.3, half_saturation=6_000, slope=1.0, target_roas=0.6,
                 last_click_bias=0.6, pattern="flighted"),
    ChannelTruth("video", 10_000, 0.5, alpha=0.5, half_saturation=10_000, slope=1.4, target_roas=1.4,
                 last_click_bias=0.3, pattern="flighted"),
)
# the experiments a team would run first: its three largest budgets (channel, weeks before the end, length)
TESTED = (("tv", 60, 4), ("search", 38, 5), ("social", 18, 4))


def adstock(spend: np.ndarray, alpha: float, l_max: int = L_MAX) -> np.ndarray:
    """Normalized geometric adstock over the last axis (weights alpha**i / sum, i < l_max)."""
    weights = alpha ** np.arange(l_max)
    weights /= weights.sum()
    out = np.zeros_like(spend, dtype=float)
    for lag, w in enumerate(weights):
        out[..., lag:] += w * spend[..., : spend.shape[-1] - lag]
    return out


@dataclass
class DemoWorld:
    weeks: pd.DatetimeIndex
    spend: pd.DataFrame  # weekly, one column per channel
    contributions: pd.DataFrame  # weekly true contribution per channel
    baseline: pd.Series
    controls: pd.DataFrame  # weekly controls
    revenue: pd.Series
    channels: tuple[ChannelTruth, ...]
    tests: pd.DataFrame
    window_weeks: int

    def contribution(self, channel: ChannelTruth, spend: np.ndarray) -> np.ndarray:
        return channel.beta * channel.hill(adstock(spend, channel.alpha))

    def true_roas(self, weeks: int | None = None) -> dict[str, float]:
        n = weeks or len(self.weeks)
        return {c.name: float(self.contributions[c.name].iloc[-n:].sum() / self.spend[c.name].iloc[-n:].sum())
                for c in self.channels}

    def truth(self, seed: int) -> dict:
        roas_window = self.true_roas(self.window_weeks)
        roas_all = self.true_roas()
        last13 = self.spend.iloc[-13:].mean()
        return {
            "seed": seed,
            "first_week": self.weeks[0].date().isoformat(),
            "last_week": self.weeks[-1].date().isoformat(),
            "weeks": len(self.weeks),
            "model_window_weeks": self.window_weeks,
            "adstock": {"type": "geometric", "normalize": True, "l_max": L_MAX},
            "saturation": {"type": "hill", "formula": "beta * x**slope / (half_saturation**slope + x**slope)"},
            "response": "steady-state weekly revenue = beta * hill(weekly spend) (normalized adstock settles at x)",
            "channels": {
                c.name: {
                    "roas": roas_window[c.name],
                    "roas_all_weeks": roas_all[c.name],
                    "alpha": c.alpha,
                    "half_saturation": c.half_saturation,
                    "slope": c.slope,
                    "beta": c.beta,
                    "mean_weekly_spend_last_13_weeks": float(last13[c.name]),
                    "last_click_bias": c.last_click_bias,
                    "contribution_window": float(self.contributions[c.name].iloc[-self.window_weeks:].sum()),
                    "spend_window": float(self.spend[c.name].iloc[-self.window_weeks:].sum()),
                }
                for c in self.channels
            },
            "weekly": {
                "week": [w.date().isoformat() for w in self.weeks],
                "spend": {c.name: self.spend[c.name].round(2).tolist() for c in self.channels},
                "contribution": {c.name: self.contributions[c.name].round(2).tolist() for c in self.channels},
            },
            "tests": self.tests.assign(
                start_date=self.tests["start_date"].dt.date.astype(str),
                end_date=self.tests["end_date"].dt.date.astype(str),
            ).to_dict(orient="records"),
        }


def simulate(seed: int = 7, weeks: int = DEFAULT_WEEKS, end_week: dt.date | None = None,
             window_weeks: int = DEFAULT_WINDOW) -> DemoWorld:
    """Simulate weekly spend, controls and revenue with known channel effects."""
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(end_week or last_complete_week())
    index = pd.date_range(end=end, periods=weeks, freq="W-MON")
    t = np.arange(weeks)
    yearly = 2 * np.pi * index.dayofyear.to_numpy() / 365.25
    season = 0.10 * np.sin(yearly) + 0.06 * np.cos(2 * yearly)

    spend = {}
    for c in CHANNELS:
        seasonal = 1 + c.seasonal_tracking * season / np.abs(season).max()  # ± tracking at the seasonal peak
        level = c.mean_spend * rng.lognormal(0, c.variation, weeks) * seasonal
        if c.pattern == "flighted":  # on air in bursts of 4 weeks, off in between
            level = np.where(np.repeat(rng.random(weeks // 4 + 1) < c.on_share, 4)[:weeks], level, 0.0)
        elif c.pattern == "pulsed":  # a low base with 2-week campaign pulses
            level = level * np.where(np.repeat(rng.random(weeks // 2 + 1) < c.on_share, 2)[:weeks], 2.5, 1.0)
        spend[c.name] = level.round(2)
    spend = pd.DataFrame(spend, index=index)

    price = 1 + np.cumsum(rng.normal(0, 0.01, weeks))
    promo = (rng.random(weeks) < 0.12).astype(float)
    holiday = np.isin(index.isocalendar().week.to_numpy(), [1, 22, 27, 36, 47, 48, 52]).astype(float)
    controls = pd.DataFrame({"price_index": price.round(4), "promo": promo, "holiday": holiday}, index=index)
    baseline = 300_000 * (1 + 0.0015 * t + season) - 120_000 * (price - 1) + 40_000 * promo + 25_000 * holiday

    channels, contributions = [], {}
    for c in CHANNELS:
        active = spend[c.name][spend[c.name] > 0]
        beta = c.target_roas * active.mean() / c.hill(active.mean())
        c = ChannelTruth(**{**asdict(c), "beta": float(beta)})
        channels.append(c)
        contributions[c.name] = c.beta * c.hill(adstock(spend[c.name].to_numpy(), c.alpha))
    contributions = pd.DataFrame(contributions, index=index)
    noise = rng.normal(0, NOISE_SHARE * baseline.mean(), weeks)
    world = DemoWorld(index, spend, contributions, pd.Series(baseline, index=index), controls,
                      pd.Series(dtype=float), tuple(channels), pd.DataFrame(), min(window_weeks, weeks))
    world.tests = _lift_tests(world, rng)  # may switch a flighted channel on for its test
    world.revenue = world.baseline + world.contributions.sum(axis=1) + noise
    return world


def _lift_tests(world: DemoWorld, rng: np.random.Generator) -> pd.DataFrame:
    """Holdout-style experiments: the channel is switched off for whole weeks; the lift is the
    revenue it earned over the test window (measured with noise, 90 % interval reported)."""
    rows = []
    by_name = {c.name: c for c in world.channels}
    n = len(world.weeks)
    for number, (name, before_end, length) in enumerate(TESTED, start=1):
        if before_end + 1 > n:
            continue
        start = n - before_end
        stop = min(start + length, n)
        channel = by_name[name]
        if world.spend[name].iloc[start:stop].sum() == 0:  # a flighted channel must be on to be tested
            actual = world.spend[name].to_numpy().copy()
            actual[start:stop] = channel.mean_spend
            world.spend[name] = actual
            world.contributions[name] = world.contribution(channel, actual)
        rows.append(holdout(world, name, start, stop, rng, f"T{number:02d}-{name}"))
    return pd.DataFrame(rows)


def holdout(world: DemoWorld, name: str, start: int, stop: int, rng: np.random.Generator, test_id: str) -> dict:
    """What a holdout of channel ``name`` in weeks ``[start, stop)`` measures: the revenue its spend earned in
    those weeks under the true curves (a geo holdout: the national spend is unchanged), with a 10 % sd."""
    channel = next(c for c in world.channels if c.name == name)
    actual = world.spend[name].to_numpy()
    off = actual.copy()
    off[start:stop] = 0
    lift = float((world.contribution(channel, actual) - world.contribution(channel, off))[start:stop].sum())
    sd = 0.1 * abs(lift)
    measured = lift + rng.normal(0, sd)
    return {
        "test_id": test_id,
        "channel": name,
        "start_date": world.weeks[start],
        "end_date": world.weeks[stop - 1] + pd.Timedelta(days=6),
        "lift": round(measured, 2),
        "lift_ci_lower": round(measured - 1.645 * sd, 2),
        "lift_ci_upper": round(measured + 1.645 * sd, 2),
        "confidence": 0.9,
        "spend": round(float(actual[start:stop].sum()), 2),
        "true_lift": lift,
    }


def latest_holdout(world: DemoWorld, name: str, weeks: int, rng: np.random.Generator, test_id: str) -> dict:
    """A holdout of ``weeks`` weeks run as late as the world allows: in its latest weeks in which the channel
    was on air every week (so running it changes no spend the model sees; only the test is new)."""
    on = world.spend[name].to_numpy() > 0
    for stop in range(len(world.weeks), weeks - 1, -1):
        if on[stop - weeks:stop].all():
            return holdout(world, name, stop - weeks, stop, rng, test_id)
    raise ValueError(f"{name} is never on air for {weeks} weeks in a row")


def daily_rows(weekly: pd.DataFrame, rng: np.random.Generator, columns: list[str]) -> pd.DataFrame:
    """Split weekly amounts into 7 daily rows with day-of-week weights (exact weekly sums)."""
    days = []
    for week, row in weekly.iterrows():
        weights = rng.dirichlet(np.full(7, 40.0))
        for d in range(7):
            days.append({"date": (week + pd.Timedelta(days=d)).date().isoformat(),
                         **{c: row[c] * weights[d] for c in columns}})
    return pd.DataFrame(days)


def write_landing_zone(world: DemoWorld, out: Path, seed: int) -> dict:
    """Write the world as raw files in the contract layout, plus ``truth.json``; returns the truth."""
    rng = np.random.default_rng(seed + 1)
    out = Path(out)
    for folder in ("media_spend", "outcomes", "controls", "incrementality_tests", "attribution"):
        (out / folder).mkdir(parents=True, exist_ok=True)

    # Spend: daily rows per channel, split by year into CSV / gzipped CSV / Parquet; TV weekly.
    frames = []
    for c in world.channels:
        if c.name == "tv":
            weekly = world.spend[["tv"]].rename(columns={"tv": "spend"}).reset_index(names="date")
            weekly["date"] = weekly["date"].dt.date.astype(str)
            frames.append(weekly.assign(channel="tv"))
            continue
        daily = daily_rows(world.spend[[c.name]].rename(columns={c.name: "spend"}), rng, ["spend"])
        daily["impressions"] = (daily["spend"] * rng.uniform(80, 120)).round(0)
        frames.append(daily.assign(channel=c.name))
    spend = pd.concat(frames, ignore_index=True)
    spend["spend"] = spend["spend"].round(2)
    weekly_tv = spend["channel"].eq("tv")
    spend[weekly_tv][["date", "channel", "spend"]].to_csv(out / "media_spend" / "tv_weekly_agency.csv", index=False)
    daily = spend[~weekly_tv].sort_values("date")
    days = daily["date"].unique()
    thirds = [days[i * len(days) // 3:(i + 1) * len(days) // 3] for i in range(3)]
    columns = ["date", "channel", "spend", "impressions"]
    daily[daily["date"].isin(thirds[0])][columns].to_csv(out / "media_spend" / "digital_part1.csv", index=False)
    daily[daily["date"].isin(thirds[1])][columns].to_csv(out / "media_spend" / "digital_part2.csv.gz", index=False,
                                                         compression="gzip")
    daily[daily["date"].isin(thirds[2])][columns].to_parquet(out / "media_spend" / "digital_part3.parquet",
                                                             index=False)

    revenue = daily_rows(world.revenue.to_frame("revenue"), rng, ["revenue"])
    revenue["revenue"] = revenue["revenue"].round(2)
    revenue["conversions"] = (revenue["revenue"] / 85).round(0)
    half = len(revenue) // 2
    revenue.iloc[:half].to_csv(out / "outcomes" / "revenue_part1.csv", index=False)
    revenue.iloc[half:].to_parquet(out / "outcomes" / "revenue_part2.parquet", index=False)

    controls = world.controls.reset_index(names="date")
    daily_controls = controls.loc[controls.index.repeat(7)].reset_index(drop=True)
    daily_controls["date"] = (daily_controls["date"] + pd.to_timedelta(np.tile(np.arange(7), len(controls)), unit="D")
                              ).dt.date.astype(str)
    daily_controls.to_csv(out / "controls" / "controls.csv", index=False)

    tests = world.tests.drop(columns=["true_lift"]).copy()
    for col in ("start_date", "end_date"):
        tests[col] = tests[col].dt.date.astype(str)
    tests.to_csv(out / "incrementality_tests" / "experiments.csv", index=False)

    attributed = pd.DataFrame({
        c.name: world.contributions[c.name] * c.last_click_bias * rng.lognormal(0, 0.1, len(world.weeks))
        for c in world.channels
    }, index=world.weeks)
    attr = []
    for c in world.channels:
        daily_attr = daily_rows(attributed[[c.name]].rename(columns={c.name: "attributed_revenue"}), rng,
                            ["attributed_revenue"])
        attr.append(daily_attr.assign(channel=c.name, model="last_click"))
    attr = pd.concat(attr, ignore_index=True)
    attr["attributed_revenue"] = attr["attributed_revenue"].round(2)
    attr[["date", "channel", "attributed_revenue", "model"]].to_csv(
        out / "attribution" / "last_click.csv.gz", index=False, compression="gzip")

    truth = world.truth(seed)
    (out / "truth.json").write_text(json.dumps(truth, indent=2))
    return truth


def generate(out: Path, seed: int = 7, weeks: int = DEFAULT_WEEKS, end_week: dt.date | None = None) -> dict:
    """Simulate a world and write it as a landing zone under ``out``; returns the truth."""
    if weeks < 60:
        raise ValueError("a demo world needs at least 60 weeks (the tests sit 60 weeks before the end)")
    return write_landing_zone(simulate(seed, weeks, end_week), Path(out), seed)


def true_roas(truth: dict, last_week: str | dt.date, weeks: int = DEFAULT_WINDOW) -> dict[str, float]:
    """Each channel's true ROAS over the ``weeks`` weeks ending at ``last_week`` (a model window)."""
    index = truth["weekly"]["week"].index(str(last_week))
    first = max(0, index - weeks + 1)
    out = {}
    for channel in truth["channels"]:
        spend = sum(truth["weekly"]["spend"][channel][first:index + 1])
        out[channel] = sum(truth["weekly"]["contribution"][channel][first:index + 1]) / spend
    return out


def true_response_model(truth: dict):
    """The world's true response curves as a one-draw :class:`ResponseModel` (for scoring allocations)."""
    from umm_assets.lib.mmm.response import ResponseModel

    channels = sorted(truth["channels"])
    rows = [{"draw": 0, "channel": c, "geo": "national", "name": name, "value": float(value)}
            for c in channels for name, value in (("adstock_alpha", truth["channels"][c]["alpha"]),
                                                  ("saturation_slope", truth["channels"][c]["slope"]),
                                                  ("saturation_kappa", truth["channels"][c]["half_saturation"]),
                                                  ("saturation_beta", truth["channels"][c]["beta"]))]
    spec = {"adstock": "geometric", "l_max": truth["adstock"]["l_max"], "normalize": True, "saturation": "hill",
            "channels": channels, "geos": ["national"], "channel_scale": {"national": {c: 1.0 for c in channels}},
            "target_scale": {"national": 1.0}}
    return ResponseModel.from_draws(pd.DataFrame(rows), spec)


def week_range(truth: dict) -> tuple[dt.date, dt.date]:
    first = dt.date.fromisoformat(truth["first_week"])
    return first, first + (truth["weeks"] - 1) * WEEK
