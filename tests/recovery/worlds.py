"""Worlds with known truth for the model-quality tests and benchmarks, in the platform's own tables.

- ``demo_world(seed)``: ``umm demo`` written as a landing zone and read back through the real ingest
  (validated weekly tables), with its tests and last-click attribution, and the true ROAS of the
  model window.
- ``roas_data_world()``: pymc-marketing's ``mmm_roas_data.csv`` (an unobserved confounder drives x1
  and y) with lift tests taken from its counterfactual columns, true ROAS 93.39 / 171.41.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tests.public_datasets import DATA
from umm_assets.defs.model.checks import fit_converging, loo_comparison
from umm_assets.defs.model.config import MMMRunConfig
from umm_assets.lib import demo, ingest
from umm_assets.lib.contracts import ATTRIBUTION, CONTROLS, OUTCOMES, SPEND, TESTS
from umm_assets.lib.landing import LocalLandingZone
from umm_assets.lib.mmm.config import MMMConfig, Saturation
from umm_assets.lib.mmm.fit import MMMFitter
from umm_assets.lib.mmm.summaries import summarize


@dataclass
class World:
    name: str
    spend: pd.DataFrame
    outcomes: pd.DataFrame
    controls: pd.DataFrame
    attribution: pd.DataFrame | None
    tests: pd.DataFrame
    true_roas: dict[str, float]
    truth: dict | None = None  # the demo's truth.json (response curves for allocation scoring)


def demo_world(seed: int, weeks: int = 156) -> World:
    """A demo landing zone read back through the platform's ingest, as the model stage sees it."""
    root = Path(tempfile.mkdtemp(prefix=f"world-{seed}-"))
    truth = demo.generate(root / "raw", seed=seed, weeks=weeks)
    zone = LocalLandingZone(root / "raw")
    raw_spend = ingest.read_input(zone, SPEND)
    all_weeks = raw_spend.weeks()
    channels = set(raw_spend.rows["channel"])

    def weekly(spec, shape):
        raw = ingest.read_input(zone, spec, spend_channels=channels)
        return pd.concat(shape(raw, all_weeks).values(), ignore_index=True)

    tests = ingest.finished_tests(ingest.read_input(zone, TESTS, spend_channels=channels),
                                  dt.date.fromisoformat(truth["last_week"]) + dt.timedelta(days=6))
    return World(f"demo seed {seed}", pd.concat(ingest.weekly_spend(raw_spend, all_weeks).values(), ignore_index=True),
                 weekly(OUTCOMES, ingest.weekly_outcomes), weekly(CONTROLS, ingest.weekly_controls),
                 weekly(ATTRIBUTION, ingest.weekly_attribution), tests,
                 demo.true_roas(truth, truth["last_week"], min(weeks, demo.DEFAULT_WINDOW)), truth)


# mmm_roas_data.csv's generating process, recovered exactly from its columns (x_adstock,
# x_adstock_saturated, x_effect, y − y0k): normalized geometric adstock (l_max 4), logistic
# saturation, effect = beta · saturation, y − y0k = 100 · effect.
ROAS_DATA_DGP = {"x1": {"alpha": 0.3, "lam": 1.0, "beta": 2.0}, "x2": {"alpha": 0.5, "lam": 2.5, "beta": 1.5}}


def _roas_data_effect(spend: np.ndarray, channel: str) -> np.ndarray:
    p = ROAS_DATA_DGP[channel]
    weights = p["alpha"] ** np.arange(4)
    adstocked = np.convolve(spend, weights / weights.sum())[: len(spend)]
    saturated = (1 - np.exp(-p["lam"] * adstocked)) / (1 + np.exp(-p["lam"] * adstocked))
    return 100 * p["beta"] * saturated


def roas_data_world(test_weeks: int = 8, ci_share: float = 0.2, seed: int = 0) -> World:
    """mmm_roas_data.csv with three lift tests on the confounded channel x1 and one on x2.

    A test switches the channel off for ``test_weeks`` weeks: its true lift is the revenue the
    channel's spend earned during those weeks (the dataset's own process, spend zeroed in the window
    only), reported with noise of sd ``ci_share / 1.645`` of the lift and that 90 % interval.
    """
    rng = np.random.default_rng(seed)
    df = pd.read_csv(DATA / "mmm_roas_data.csv", parse_dates=["date"])
    df["week"] = df["date"] - pd.to_timedelta(df["date"].dt.weekday, unit="D")  # the platform's Monday key
    spend = df.melt(id_vars="week", value_vars=["x1", "x2"], var_name="channel", value_name="spend")
    outcomes = df[["week", "y"]].rename(columns={"y": "revenue"})
    for table in (spend, outcomes):
        table["geo"] = "national"
    rows = []
    n = len(df)
    for i, (channel, start) in enumerate([("x1", n - 100), ("x1", n - 60), ("x1", n - 20), ("x2", n - 40)]):
        window = df.iloc[start:start + test_weeks]
        dark = df[channel].to_numpy().copy()
        dark[start:start + test_weeks] = 0.0
        difference = _roas_data_effect(df[channel].to_numpy(), channel) - _roas_data_effect(dark, channel)
        lift = float(difference[start:start + test_weeks].sum())
        sd = ci_share / 1.645 * abs(lift)
        measured = lift + rng.normal(0, sd)
        rows.append({"test_id": f"R{i + 1}-{channel}", "channel": channel, "geo": "national",
                     "start_date": window["week"].iloc[0], "end_date": window["week"].iloc[-1] + pd.Timedelta(days=6),
                     "lift": measured, "lift_ci_lower": measured - 1.645 * sd, "lift_ci_upper": measured + 1.645 * sd,
                     "confidence": 0.9, "spend": float(window[channel].sum())})
    true_roas = {c: float((df["y"] - df[cf]).sum() / df[c].sum()) for c, cf in (("x1", "y01"), ("x2", "y02"))}
    return World("mmm_roas_data", spend, outcomes, pd.DataFrame(), None, pd.DataFrame(rows), true_roas)


def mape(estimates: dict[str, float], truth: dict[str, float]) -> float:
    return float(np.mean([abs(estimates[c] / truth[c] - 1) for c in truth]))


def fit_converged(frame, config: MMMConfig, **fit_kwargs):
    """Fit as the ``mmm_posterior`` stage does: once, then once more with longer sampling if the
    platform's convergence checks fail (its default policy). Returns the result and its summaries."""
    def fit(cfg: MMMConfig):
        result = MMMFitter(cfg).fit(frame, **fit_kwargs)
        return result, summarize(result)

    return fit_converging(fit, config, MMMRunConfig())


def fit_chosen(frame, config: MMMConfig, **fit_kwargs):
    """Fit as ``mmm_posterior``'s default (``saturation: auto``) does: each saturation through
    :func:`fit_converged`, keeping the one :func:`loo_comparison` chooses. Returns the kept result, its summaries
    and the comparison table."""
    fits = [fit_converged(frame, config.replace(saturation=s), **fit_kwargs) for s in Saturation]
    comparison = loo_comparison([(summaries.diagnostics.iloc[0], result.loo.pointwise) for result, summaries in fits],
                                MMMRunConfig())
    result, summaries = fits[int(comparison["chosen"].to_numpy().argmax())]
    return result, summaries, comparison
