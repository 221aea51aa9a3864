"""Which incrementality test to run next, priced in revenue: a preposterior analysis on stored draws.

For each channel and a few candidate designs (a holdout, or a +50 % spend increase; 2, 4 or 6 weeks; at the
channel's usual weekly spend or at the spend the plan recommends), without refitting anything:

1. simulate the test's measured lift: a "true" posterior draw ``s`` is picked, the design's lift under it is
   read the way reconciliation reads a test (:meth:`ResponseModel.window_lift_draws`, the channel's spend
   switched off on the test's days), and measurement noise is added;
2. update the posterior by importance reweighting of the draws, ``w_d ∝ N(y; lift_d, sigma)``, and report the
   effective sample size ``ESS = (Σw)² / Σw²``: below :data:`MIN_ESS` the draws are too few to represent the
   updated posterior and the design is flagged (its numbers are then rough, never silently reported);
3. re-optimize the allocation under the updated posterior (draws resampled by weight, the platform's own
   optimizer and objective) and value the new plan against today's by that same objective under the updated
   posterior (the mean uplift per week for ``expected``; for ``cvar``, the default, the mean uplift per week in
   the worst quarter of draws): averaged over simulated outcomes this is the expected value of sample
   information, the regret the test removes, >= 0 up to Monte-Carlo error (reported with it). The change in
   plain expected revenue is reported beside it (``revenue_gain_per_week``): a risk-averse team may take a
   test's news as a reason to move less, which can cost a little average revenue.

Measurement noise: a test's lift is read with a standard deviation of ``noise_cv × sqrt(4 / weeks)`` times the
expected lift of a holdout of the same channel, spend level and duration. ``noise_cv`` is the median relative
sd (``sd / |lift|``, sd from the reported interval as reconciliation reads it) of the team's past tests,
scaled to a 4-week test (noise of a sum over weeks grows as ``sqrt(weeks)``, the lift as ``weeks``); without
past tests :data:`DEFAULT_NOISE_CV`. A spend-increase test has the same absolute noise as a holdout of the same
cells (the noise is the test cells' revenue fluctuation, not the treatment), so its relative noise is larger:
it trades precision for not forgoing revenue.

Money: every figure is in the model's input money, per the platform's frame of a fixed budget split for
revenue. The value is revenue at an unchanged budget; the test's ``cost`` is the revenue it forgoes (during its
weeks and the carry-over after) minus what the spend it saves would earn in the plan, at the plan's marginal
ROAS (``budget_marginal_roas``: what the budget's last unit earns, the allocation's own exchange rate between
spend and revenue; counting a unit of spend as a unit of revenue instead would make every spend increase on a
channel above ROAS 1 look like free money). ``revenue_forgone`` and ``spend_saved`` are reported apart for a
team that prices them otherwise. A test that pays for itself (negative cost: a holdout of a channel earning
less than the margin) is not credited for it in ``net_value``: that gain is a reallocation, not information.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pandas as pd

from umm_assets.lib import allocate
from umm_assets.lib.humanize import amount
from umm_assets.lib.mmm.calibration import lift_sd
from umm_assets.lib.mmm.response import Q_HI, Q_LO, ResponseModel, geo_shares_array

DURATIONS = (2, 4, 6)  # weeks: a short test reads less (carry-in from before it masks part of the lift)
SPEND_CHANGE = 0.5  # a spend-change test raises the channel by half: the range a plan moving it up enters
REFERENCE_WEEKS = 4  # noise_cv is stated for a test of this length
# A 4-week holdout's lift read with a 20 % sd (a ±33 % 90 % interval) when the team has no past test to go by:
# an assumption, twice the demo generator's 10 %, on the cautious side for geo holdouts.
DEFAULT_NOISE_CV = 0.2
# The 5 % tails of a weighted 90 % interval need a handful of effective draws each: 100 × 5 % = 5.
MIN_ESS = 100
HORIZON_WEEKS = 13  # a quarter: how long the team acts on what the test taught before the next plan of tests
# Simulated outcomes per design: time grows linearly (≈ 6.5 ms each with 500 draws, one re-optimization), the
# Monte-Carlo error as 1/sqrt; 96 keeps a 60-design plan under a minute on 2 cores (38 s measured, fits running
# beside it) with half the variance of 48 (bench/experiment_plan.py).
N_OUTCOMES = 96
MAX_DRAWS = 500  # posterior draws used (the stored posterior keeps 500); more are thinned evenly
SAME_SPEND = 0.05  # a recommended spend within 5 % of the usual one is the same test: not listed twice
PLAN_MOVED = 0.01  # a new plan moving more than 1 % of the budget counts as a changed decision
# A test teaching less than 0.1 % of the plan's weekly media revenue a week is not worth a team's attention (nor
# the organisational cost of a test, which is not priced here), whatever its own cost.
MATERIAL_SHARE = 0.001


class Kind(StrEnum):
    HOLDOUT = "holdout"  # the channel is switched off in the test cells
    INCREASE = "increase"  # the channel's spend is raised by SPEND_CHANGE in the test cells


class Level(StrEnum):
    USUAL = "usual"  # the channel's current weekly spend (the allocation problem's current)
    RECOMMENDED = "recommended"  # the plan's spend, run for the adstock's length before the test starts


@dataclass(frozen=True)
class Design:
    """One candidate test: ``weekly_spend`` is the channel's spend per week around and (control) during it."""

    channel: str
    kind: Kind
    weeks: int
    level: Level
    weekly_spend: float

    @property
    def test_weekly_spend(self) -> float:
        """Spend per week in the test cells during the test."""
        return 0.0 if self.kind == Kind.HOLDOUT else self.weekly_spend * (1 + SPEND_CHANGE)

    @property
    def spend_saved(self) -> float:
        """Spend the test does not spend (negative: extra spend) over its weeks."""
        return (self.weekly_spend - self.test_weekly_spend) * self.weeks


@dataclass(frozen=True)
class Noise:
    """The relative sd of a 4-week holdout's measured lift, and where it came from."""

    cv: float
    source: str  # "past tests" or "default"
    n_tests: int = 0


@dataclass
class ExperimentPlan:
    """The ranked designs (one row each, columns :data:`COLUMNS`) and how they were computed."""

    designs: pd.DataFrame
    settings: dict
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> pd.DataFrame:
        """The best design per channel (channels by rank)."""
        return self.designs[self.designs["best"]].reset_index(drop=True)

    @property
    def not_worth_testing(self) -> list[str]:
        """Channels whose best design is not worth its cost (the best prefers designs whose reweighting is
        reliable: a test is not called worth it on rough numbers alone)."""
        best = self.best
        return sorted(best.loc[~best["worth_it"], "channel"])


COLUMNS = [
    "rank", "channel", "kind", "weeks", "spend_level", "weekly_spend", "test_weekly_spend",
    "expected_lift", "measurement_sd", "roas_halfwidth_today", "roas_halfwidth_after",
    "value_per_week", "value_per_week_se", "value_per_week_lower", "value_per_week_upper",
    "revenue_gain_per_week", "revenue_gain_per_week_se", "plan_change_share",
    "revenue_forgone", "spend_saved", "cost", "horizon_weeks", "value_over_horizon", "net_value",
    "ess", "reweighting_reliable", "optimizer_failures", "worth_it", "best",
]


# --- inputs ------------------------------------------------------------------------------------------------


def noise_from_tests(tests: pd.DataFrame | None, default: float = DEFAULT_NOISE_CV) -> Noise:
    """The median relative sd of the team's past tests, scaled to a :data:`REFERENCE_WEEKS`-week test.

    A test's sd comes from its interval as reconciliation reads it (``lift_sd``); tests with a zero lift say
    nothing about relative precision and are skipped."""
    if tests is None or tests.empty:
        return Noise(default, "default")
    cvs = []
    for t in tests.itertuples(index=False):
        if not np.isfinite(t.lift) or abs(t.lift) <= 0:
            continue
        sd = lift_sd(t.lift, t.lift_ci_lower, t.lift_ci_upper, getattr(t, "confidence", None))
        weeks = ((pd.Timestamp(t.end_date) - pd.Timestamp(t.start_date)).days + 1) / 7
        cvs.append(sd / abs(t.lift) * np.sqrt(weeks / REFERENCE_WEEKS))  # sd/lift falls as 1/sqrt(weeks)
    if not cvs:
        return Noise(default, "default")
    return Noise(float(np.median(cvs)), "past tests", len(cvs))


def candidate_designs(channels: Sequence[str], usual: Mapping[str, float], recommended: Mapping[str, float],
                      durations: Sequence[int] = DURATIONS, kinds: Sequence[Kind] = tuple(Kind)) -> list[Design]:
    """Every kind × duration at the usual and at the recommended spend; a channel without spend at a level
    cannot be tested there, and a recommended spend within :data:`SAME_SPEND` of the usual is not repeated."""
    designs = []
    for c in channels:
        levels = [(Level.USUAL, float(usual.get(c, 0.0)))]
        rec = float(recommended.get(c, 0.0))
        if abs(rec - levels[0][1]) > SAME_SPEND * max(levels[0][1], 1e-12):
            levels.append((Level.RECOMMENDED, rec))
        designs += [Design(c, Kind(k), int(w), level, s) for level, s in levels if s > 0
                    for k in kinds for w in durations]
    return designs


def thinned(model: ResponseModel, max_draws: int = MAX_DRAWS) -> ResponseModel:
    """At most ``max_draws`` draws, evenly spaced (the cost of every step grows with the draws)."""
    if model.n_draws <= max_draws:
        return model
    return subset(model, np.linspace(0, model.n_draws - 1, max_draws).round().astype(int))


def subset(model: ResponseModel, index: np.ndarray) -> ResponseModel:
    """The model whose draw i is ``model``'s draw ``index[i]`` (repeats allowed: a resampled posterior)."""
    return replace(model, draws=np.arange(len(index)), params={k: v[index] for k, v in model.params.items()},
                   weights=model.weights[index])


def roas_draws(model: ResponseModel, spend_history: pd.DataFrame) -> np.ndarray:
    """Each channel's ROAS over the spend history per draw, ``(D, C)`` (NaN without spend): the ROAS whose
    interval the platform reports (contribution over the model window / spend over it)."""
    out = np.full((model.n_draws, len(model.channels)), np.nan)
    for j, c in enumerate(model.channels):
        spent = float(spend_history.loc[spend_history["channel"].astype(str) == c, "spend"].sum())
        if spent > 0:
            out[:, j] = model.weekly_contributions(spend_history, c)[1].sum(axis=1) / spent
    return out


# --- a design's lift -----------------------------------------------------------------------------------------


def simulated_window(spend_history: pd.DataFrame, model: ResponseModel,
                     weeks: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The simulated test's days: after the history's last week and a lead-in of the adstock's length."""
    lead_in = model.weights.shape[-1]
    start = pd.Timestamp(pd.to_datetime(spend_history["week"]).max()) + pd.Timedelta(weeks=1 + lead_in)
    return start, start + pd.Timedelta(days=7 * weeks - 1)


def _schedule(model: ResponseModel, design: Design, start: pd.Timestamp, during: float,
              shares: np.ndarray | None) -> pd.DataFrame:
    """The channel's weekly spend (long, per geo): the design's level for the adstock's length before and after
    the test (so the test reads the curve at that level, carry-in settled), ``during`` in the test's weeks."""
    lead = model.weights.shape[-1]
    weeks = pd.date_range(start - pd.Timedelta(weeks=lead), periods=2 * lead + design.weeks, freq="7D")
    spend = np.where((weeks >= start) & (weeks < start + pd.Timedelta(weeks=design.weeks)), during,
                     design.weekly_spend)
    j = model.channel_index(design.channel)
    split = (np.full(len(model.geos), 1 / len(model.geos)) if shares is None else np.asarray(shares)[:, j])
    return pd.DataFrame([{"week": w, "geo": g, "channel": design.channel, "spend": s * split[i]}
                         for w, s in zip(weeks, spend) for i, g in enumerate(model.geos)])


def design_lifts(model: ResponseModel, design: Design, start: pd.Timestamp,
                 shares: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per draw ``(D,)``: the lift the test measures (``measured``: during its days, what reconciliation would
    compare with it), the same for a holdout of those cells (``holdout``: its noise sets the test's), and the
    revenue the test forgoes, carry-over after it included (``forgone``)."""
    end = start + pd.Timedelta(days=7 * design.weeks - 1)

    def lift(during: float, carryover: bool) -> np.ndarray:
        history = _schedule(model, design, start, during, shares)
        return model.window_lift_draws(history, design.channel, start, end, include_carryover=carryover)

    holdout = lift(design.weekly_spend, False)  # the go-dark lift at the design's level
    if design.kind == Kind.HOLDOUT:
        return {"measured": holdout, "holdout": holdout, "forgone": lift(design.weekly_spend, True)}
    # both go-dark lifts share the counterfactual (the channel off in the window): their difference is the
    # revenue the extra spend brings
    raised = design.test_weekly_spend
    return {"measured": lift(raised, False) - holdout, "holdout": holdout,
            "forgone": lift(design.weekly_spend, True) - lift(raised, True)}


# --- the update ------------------------------------------------------------------------------------------------


def reweight(lifts: np.ndarray, sigma: float, truth: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Importance weights ``(S, D)`` of the draws after each simulated outcome ``y_i = lifts[truth_i] + sigma
    z_i``, and each outcome's effective sample size ``(S,)``."""
    y = lifts[truth] + sigma * z
    log_w = -0.5 * ((y[:, None] - lifts[None, :]) / sigma) ** 2
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))  # the best-fitting draw has weight 1: no underflow
    w /= w.sum(axis=1, keepdims=True)
    return w, 1.0 / (w**2).sum(axis=1)


def weighted_quantiles(values: np.ndarray, weights: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles ``(S, Q)`` of ``values`` ``(D,)`` under each row of ``weights`` ``(S, D)``: the smallest value
    whose weighted CDF reaches ``q`` (no interpolation: a draw the update gave no weight must not pull a quantile
    towards it; with uniform weights this is numpy's ``inverted_cdf``)."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[:, order], axis=1)
    cumulative /= cumulative[:, -1:]
    index = np.stack([(cumulative < q - 1e-12).sum(axis=1) for q in qs], axis=1)
    return values[order][np.minimum(index, len(values) - 1)]


def halfwidth(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Half the 90 % interval as a share of the median ``(S,)``: ``0.48`` is ``±48 %``."""
    lo, mid, hi = weighted_quantiles(values, weights, (Q_LO, 0.5, Q_HI)).T
    return (hi - lo) / 2 / np.abs(mid)


def systematic_resample(weights: np.ndarray, u: float) -> np.ndarray:
    """As many draw indices as draws, draw d ``D·w_d`` times rounded up or down (systematic resampling, the
    least noisy): uniform weights give every draw once, so a test that teaches nothing leaves the plan as is."""
    n = len(weights)
    cumulative = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cumulative, (u + np.arange(n)) / n, side="right"), n - 1)


# --- the decisions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decider:
    """The platform's allocation, applied to any posterior: its optimizer and objective, the problem's bounds
    and locks, and (when given) the plain MMM every plan is held to."""

    problem: allocate.Problem
    objective: allocate.Objective = allocate.DEFAULT_OBJECTIVE
    alpha: float = allocate.DEFAULT_CVAR_ALPHA
    shares: np.ndarray | None = None
    reference: allocate.Reference | None = None

    def plan(self, model: ResponseModel, warm_start: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """The plan under ``model``, and whether the optimizer verified it (``None`` when it failed)."""
        if self.reference is None:  # the optimizer alone: no tables to build
            solution = allocate.optimize(model, self.problem, objective=self.objective, alpha=self.alpha,
                                         shares=self.shares, warm_start=warm_start)
            return (solution.spend, True) if solution.status == "optimal" else (None, False)
        result = allocate.allocate(model, self.problem, objective=self.objective, alpha=self.alpha,
                                   shares=self.shares, warm_start=warm_start, reference=self.reference)
        ok = result.summary["status"] == "optimal"
        return (result.allocation["recommended"].to_numpy(), True) if ok else (None, False)


def plans_after(model: ResponseModel, decider: Decider, weights: np.ndarray, today: np.ndarray,
                u: np.ndarray) -> tuple[np.ndarray, int]:
    """The plan ``(S, C)`` the team would make after each outcome (today's when the optimizer fails: the
    platform does not act on an unverified plan), and the number of failures."""
    plans, failures = np.empty((len(weights), len(today))), 0
    for i, w in enumerate(weights):
        spend, ok = decider.plan(subset(model, systematic_resample(w, u[i])), today)
        plans[i], failures = (spend, failures) if ok else (today, failures + 1)
    return plans, failures


def revenue(model: ResponseModel, spend: np.ndarray, shares: np.ndarray | None) -> np.ndarray:
    """Total weekly revenue per draw of each plan: ``spend`` ``(..., C)`` → ``(D, ...)``."""
    return model.response(spend, geo_shares=shares).sum(axis=-1)


def weighted_cvar(values: np.ndarray, weights: np.ndarray, alpha: float) -> np.ndarray:
    """The mean of the worst ``alpha`` mass of ``values`` ``(S, D)`` under each row of ``weights`` ``(S, D)``
    (the draw on the boundary counts with the part of its weight inside)."""
    order = np.argsort(values, axis=1)
    v, w = np.take_along_axis(values, order, axis=1), np.take_along_axis(weights, order, axis=1)
    w = w / w.sum(axis=1, keepdims=True)
    inside = np.clip(alpha - (np.cumsum(w, axis=1) - w), 0.0, w)
    return (inside * v).sum(axis=1) / alpha


def criterion(decider: Decider, uplift: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The allocation's objective under each updated posterior ``(S,)``, from per-draw uplifts over the current
    mix ``(S, D)``: their weighted mean, or the weighted mean of the worst ``alpha`` share (CVaR)."""
    if decider.objective == allocate.Objective.CVAR:
        return weighted_cvar(uplift, weights, decider.alpha)
    return (weights * uplift).sum(axis=1)


def budget_marginal_roas(model: ResponseModel, decider: Decider, plan: np.ndarray) -> float:
    """What the budget's last unit earns in ``plan``: the expected marginal ROAS of the channels strictly inside
    their bounds, weighted by their spend (of every channel with spend when none is inside)."""
    problem = decider.problem
    _, marginal = model.response(plan, geo_shares=decider.shares, derivative=True)
    tolerance = 1e-6 * max(problem.budget, 1.0)
    inside = ~problem.locked & (plan > problem.lower + tolerance) & (plan < problem.upper - tolerance)
    chosen = inside if inside.any() else plan > 0
    return float(np.average(marginal.mean(axis=0)[chosen], weights=plan[chosen])) if chosen.any() else 0.0


# --- one design, all designs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What every design shares: the draws, today's plan and the revenue of it and of the current mix, the ROAS
    draws, the outcomes' common random numbers (the same true draws and noise for every design, so designs
    compare precisely)."""

    model: ResponseModel
    decider: Decider
    today: np.ndarray  # (C,) today's plan, by the same optimizer on the same draws
    today_revenue: np.ndarray  # (D,)
    mix_revenue: np.ndarray  # (D,) the current split at the budget: what uplift is measured against
    budget_value: float  # revenue per unit of spend at the plan's margin
    roas: np.ndarray  # (D, C)
    start: pd.Timestamp
    noise: Noise
    truth: np.ndarray  # (S,) the true draw of each outcome
    z: np.ndarray  # (S,) standard normal measurement noise
    u: np.ndarray  # (S,) resampling offsets
    min_ess: float
    horizon_weeks: int


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(len(values)))


def gains(setup: Setup, plans: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per outcome ``(S,)``: what the new plan gains over today's by the allocation's objective, and in expected
    revenue, both under that outcome's updated posterior."""
    new = revenue(setup.model, plans, setup.decider.shares).T  # (S, D)
    value = (criterion(setup.decider, new - setup.mix_revenue, weights)
             - criterion(setup.decider, np.broadcast_to(setup.today_revenue - setup.mix_revenue, new.shape), weights))
    return value, (weights * (new - setup.today_revenue)).sum(axis=1)


def assess(setup: Setup, design: Design) -> dict:
    """One design's row: the simulated outcomes, the updated posterior, the plans and what they earn."""
    lifts = design_lifts(setup.model, design, setup.start, setup.decider.shares)
    sigma = setup.noise.cv * np.sqrt(REFERENCE_WEEKS / design.weeks) * max(abs(np.median(lifts["holdout"])), 1e-9)
    weights, ess = reweight(lifts["measured"], sigma, setup.truth, setup.z)
    plans, failures = plans_after(setup.model, setup.decider, weights, setup.today, setup.u)
    (value, se), (gain, gain_se) = (_mean_se(g) for g in gains(setup, plans, weights))
    roas = setup.roas[:, setup.model.channel_index(design.channel)]
    moved = np.abs(plans - setup.today).sum(axis=1) / 2 > PLAN_MOVED * setup.decider.problem.budget
    forgone = float(lifts["forgone"].mean())
    return {
        "channel": design.channel, "kind": str(design.kind), "weeks": design.weeks, "spend_level": str(design.level),
        "weekly_spend": design.weekly_spend, "test_weekly_spend": design.test_weekly_spend,
        "expected_lift": float(lifts["measured"].mean()), "measurement_sd": sigma,
        "roas_halfwidth_today": float(halfwidth(roas, np.full((1, len(roas)), 1.0))[0]),
        "roas_halfwidth_after": float(halfwidth(roas, weights).mean()),
        "value_per_week": value, "value_per_week_se": se,
        "value_per_week_lower": value - 1.645 * se, "value_per_week_upper": value + 1.645 * se,
        "revenue_gain_per_week": gain, "revenue_gain_per_week_se": gain_se, "plan_change_share": float(moved.mean()),
        "revenue_forgone": forgone, "spend_saved": design.spend_saved,
        "cost": forgone - setup.budget_value * design.spend_saved, "horizon_weeks": setup.horizon_weeks,
        "ess": float(np.median(ess)), "reweighting_reliable": bool(np.median(ess) >= setup.min_ess),
        "optimizer_failures": failures,
    }


def ranked(rows: list[dict], material: float = 0.0) -> pd.DataFrame:
    """The designs by net value (value over the horizon minus the cost; a test paying for itself is not
    credited for it), best first; ``worth_it`` when the net value is positive and the value exceeds both its
    Monte-Carlo error and ``material`` per week; ``best``: each channel's top design among those whose
    reweighting is reliable (any, when none is)."""
    frame = pd.DataFrame(rows)
    frame["value_over_horizon"] = frame["value_per_week"] * frame["horizon_weeks"]
    frame["net_value"] = frame["value_over_horizon"] - frame["cost"].clip(lower=0.0)
    frame["worth_it"] = ((frame["net_value"] > 0) & (frame["value_per_week_lower"] > 0)
                         & (frame["value_per_week"] >= material))
    frame = frame.sort_values("net_value", ascending=False, kind="stable").reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    preferred = frame.sort_values(["reweighting_reliable", "rank"], ascending=[False, True])
    frame["best"] = frame.index.isin(preferred.drop_duplicates("channel").index)
    return frame[COLUMNS]


def plan(model: ResponseModel, spend_history: pd.DataFrame, problem: allocate.Problem,
         tests: pd.DataFrame | None = None, recommended: Mapping[str, float] | None = None, *,
         objective: allocate.Objective = allocate.DEFAULT_OBJECTIVE, alpha: float = allocate.DEFAULT_CVAR_ALPHA,
         shares: np.ndarray | None = None, reference: allocate.Reference | None = None,
         channels: Sequence[str] | None = None, durations: Sequence[int] = DURATIONS,
         kinds: Sequence[Kind] = tuple(Kind), noise_cv: float | None = None, n_outcomes: int = N_OUTCOMES,
         max_draws: int = MAX_DRAWS, min_ess: float = MIN_ESS, horizon_weeks: int = HORIZON_WEEKS,
         seed: int = 0) -> ExperimentPlan:
    """The experiment plan: every candidate design of ``channels`` (default all) assessed and ranked.

    ``model``: the (reconciled) posterior's response; ``spend_history``: weekly spend, long (``week``,
    [``geo``], ``channel``, ``spend``), the model window (its ROAS is the one reported); ``problem``: the
    allocation problem (bounds, locks, budget; its ``current`` is the usual spend); ``tests``: the validated
    tests (their intervals set the noise, unless ``noise_cv``); ``recommended``: the plan's spend per channel
    (default: the plan this computes). ``objective``/``alpha``/``shares``/``reference``: the allocation's."""
    model = thinned(model, max_draws)
    chosen = list(model.channels if channels is None else channels)
    for c in chosen:
        model.channel_index(c)  # an unknown channel fails here, by name, before any work
    if shares is None:  # one split over geos for the decisions and their values (a geo model's own, else equal)
        shares = geo_shares_array(model.spec)
        shares = np.full((len(model.geos), len(model.channels)), 1 / len(model.geos)) if shares is None else shares
    decider = Decider(problem, allocate.Objective(objective), alpha, shares, reference)
    setup, notes = _setup(model, decider, spend_history, tests, recommended, noise_cv, n_outcomes, min_ess,
                          horizon_weeks, seed)
    rec = dict(zip(model.channels, setup.today)) if recommended is None else recommended
    designs = candidate_designs(chosen, dict(zip(problem.channels, problem.current)), rec, durations, kinds)
    notes += [f"{c}: no spend at its usual or recommended level, nothing to test" for c in chosen
              if not any(d.channel == c for d in designs)]
    material = MATERIAL_SHARE * float(setup.today_revenue.mean())
    frame = ranked([assess(setup, d) for d in designs], material) if designs else pd.DataFrame(columns=COLUMNS)
    notes += [f"{r.channel} {r.kind} {r.weeks} weeks at the {r.spend_level} spend: only ≈ {int(r.ess)} draws fit "
              f"a typical outcome (< {min_ess:.0f}); its numbers are rough" for r in frame.itertuples()
              if not r.reweighting_reliable]
    settings = {"noise_cv": setup.noise.cv, "noise_source": setup.noise.source, "noise_tests": setup.noise.n_tests,
                "reference_weeks": REFERENCE_WEEKS, "spend_change": SPEND_CHANGE, "horizon_weeks": horizon_weeks,
                "n_outcomes": n_outcomes, "n_draws": model.n_draws, "min_ess": min_ess, "objective": str(objective),
                "cvar_alpha": alpha, "budget_marginal_roas": setup.budget_value, "material_value_per_week": material,
                "seed": seed,
                "test_start": setup.start.date().isoformat(),
                "today_plan": dict(zip(model.channels, setup.today.tolist()))}
    return ExperimentPlan(frame, settings, notes)


def _setup(model: ResponseModel, decider: Decider, spend_history: pd.DataFrame, tests: pd.DataFrame | None,
           recommended: Mapping[str, float] | None, noise_cv: float | None, n_outcomes: int, min_ess: float,
           horizon_weeks: int, seed: int) -> tuple[Setup, list[str]]:
    """Today's plan on these draws (from the recommended spend), the ROAS draws and the outcomes' random
    numbers."""
    notes = []
    start_spend = (decider.problem.current if recommended is None
                   else np.array([float(recommended.get(c, 0.0)) for c in model.channels]))
    today, ok = decider.plan(model, start_spend)
    if not ok:  # the platform would not act on it either: today the team keeps its current split
        today = allocate._current_mix(decider.problem)
        notes.append("today's plan could not be verified optimal on these draws: valued against the current split")
    noise = Noise(float(noise_cv), "given") if noise_cv is not None else noise_from_tests(tests)
    rng = np.random.default_rng(seed)
    truth = (rng.choice(model.n_draws, n_outcomes, replace=False) if n_outcomes <= model.n_draws
             else rng.integers(0, model.n_draws, n_outcomes))  # without replacement: the outcomes spread over draws
    week = pd.to_datetime(spend_history["week"]).max()
    setup = Setup(model, decider, today, revenue(model, today, decider.shares),
                  revenue(model, allocate._current_mix(decider.problem), decider.shares),
                  budget_marginal_roas(model, decider, today), roas_draws(model, spend_history),
                  simulated_window(spend_history, model, 1)[0], noise, truth, rng.standard_normal(n_outcomes),
                  rng.uniform(0, 1, n_outcomes), min_ess, horizon_weeks)
    notes.append(f"tests simulated from {setup.start.date()} (spend history ends the week of {week.date()}); "
                 f"noise: {noise.cv:.0%} of a 4-week holdout's lift ({noise.source}); spend valued at the plan's "
                 f"marginal ROAS {setup.budget_value:.2f}")
    return setup, notes


# --- words --------------------------------------------------------------------------------------------------------


def _what(row: Mapping) -> str:
    level = "its usual spend" if row["spend_level"] == Level.USUAL else "the spend the plan recommends"
    if row["kind"] == Kind.HOLDOUT:
        return f"test {row['channel']} for {row['weeks']} weeks at {level} ({amount(row['weekly_spend'])} a week)"
    return (f"test {row['channel']} for {row['weeks']} weeks with spend raised {100 * SPEND_CHANGE:.0f} % above "
            f"{level} ({amount(row['weekly_spend'])} → {amount(row['test_weekly_spend'])} a week)")


def _cost(row: Mapping) -> str:
    test = "the holdout" if row["kind"] == Kind.HOLDOUT else "the test"
    net = f"{test} costs ≈ {amount(row['cost'])}" if row["cost"] >= 0 else f"{test} pays for itself"
    if row["kind"] == Kind.HOLDOUT:
        return (f"{net} (it forgoes {amount(row['revenue_forgone'])} of revenue; the {amount(row['spend_saved'])} "
                "it does not spend would earn more elsewhere in the plan)" if row["cost"] < 0 else
                f"{net} (it forgoes {amount(row['revenue_forgone'])} of revenue and saves "
                f"{amount(row['spend_saved'])} of spend)")
    return (f"{net} (its extra {amount(-row['spend_saved'])} of spend returns ≈ "
            f"{amount(-row['revenue_forgone'])} of revenue)")


def sentence(row: Mapping) -> str:
    """One design in words a marketer reads, e.g. "test display for 4 weeks at its usual spend (6,130 a week):
    interval ±48 % → ±15 %, about 1,900 more revenue per week from a better split; the holdout costs ≈ 3,200
    (…); worth it over 13 weeks (≈ 21,500 net)"."""
    interval = f"interval ±{100 * row['roas_halfwidth_today']:.0f} % → ±{100 * row['roas_halfwidth_after']:.0f} %"
    if row["value_per_week_lower"] > 0:
        value = f"about {amount(row['value_per_week'])} more revenue per week from a better split"
    else:
        value = "no better split to expect from it"
    verdict = (f"worth it over {row['horizon_weeks']} weeks (≈ {amount(row['net_value'])} net)" if row["worth_it"]
               else f"not worth it over {row['horizon_weeks']} weeks")
    caution = ("" if row["reweighting_reliable"] else
               f" — rough: only ≈ {int(row['ess'])} posterior draws fit a typical outcome, a refit would be exact")
    return f"{_what(row)}: {interval}, {value}; {_cost(row)}; {verdict}{caution}"


def sentences(result: ExperimentPlan, *, best_only: bool = False) -> list[str]:
    """Every design (or each channel's best) as a sentence, in rank order."""
    frame = result.best if best_only else result.designs
    return [sentence(row) for row in frame.to_dict(orient="records")]
