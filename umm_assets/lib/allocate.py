"""Budget allocation: split a weekly budget over channels to maximize steady-state weekly revenue on
posterior response curves, under a total budget, per-channel bounds and locks.

Channels are always addressed by name (never by position: pymc-marketing#2323 applied bounds to the
wrong channels). The optimizer is scipy's SLSQP on variables scaled by the budget, with the analytic
gradient of :meth:`ResponseModel.response`, started from several points because Hill curves are
S-shaped. A run that stops where it started, or on flat gradients (pymc-marketing#1624, #1681), or
whose answer violates the optimality conditions, is reported as failed, never returned as optimal.

Objectives: ``expected`` (mean revenue over posterior draws) or ``cvar`` (the default: mean uplift over
the current mix at the same budget in the worst ``alpha`` share of draws, a plan that moves money only
where the gain holds across the posterior). Uplift is reported per draw against the current mix at the
same budget, with its 90 % interval.

Why the uplift, and why the default: ranking draws by total revenue picks the draws in which media earns
least overall, which no split can change; ranking them by uplift picks the draws in which the move itself
goes wrong. Scored with the true response curves of six demo worlds, plans maximizing the worst
quarter's uplift captured 78-100 % of the attainable uplift on the Hill fits (mean 92 %; expected-revenue
plans 63-99 %, mean 86 %; revenue CVaR 3 points more than expected) and 34-100 % on the logistic fits
(expected 8-99 %), less on none of the 12. The expected plan over-moves into channels whose curve the
data barely identify.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from umm_assets.lib import support
from umm_assets.lib.mmm.response import Q_HI, Q_LO, ResponseModel, geo_shares_array
from umm_assets.lib.weeks import CURRENT_WEEKS

DEFAULT_MAX_CHANGE = 0.5
FRONTIER_RATIOS = tuple(np.round(np.linspace(0.5, 1.5, 11), 2))


class Objective(StrEnum):
    EXPECTED = "expected"
    CVAR = "cvar"


class Decision(StrEnum):
    RECOMMENDED = "recommended"  # the optimizer's plan
    KEPT_CURRENT = "kept_current"  # the current split: a model the plan is held to expects a loss


DEFAULT_OBJECTIVE = Objective.CVAR
DEFAULT_CVAR_ALPHA = 0.25  # the worst quarter of draws


class InfeasibleBudget(ValueError):
    """The bounds and locks cannot sum to the budget (the message says which way and by how much)."""


class UnknownChannel(ValueError):
    def __init__(self, channel: str, known: Sequence[str]):
        self.channel = channel
        super().__init__(f"unknown channel {channel!r}; known channels: {', '.join(known)}")


@dataclass(frozen=True)
class Problem:
    """One allocation problem, arrays in the response model's channel order."""

    channels: tuple[str, ...]
    current: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    locked: np.ndarray  # bool
    budget: float


@dataclass
class AllocationResult:
    allocation: pd.DataFrame  # columns of the allocation table (see outputs.py)
    summary: dict  # columns of the allocation summary table
    revenue_draws: np.ndarray = field(repr=False, default_factory=lambda: np.empty(0))


def current_spend(spend: pd.DataFrame, weeks: int = CURRENT_WEEKS) -> dict[str, float]:
    """Mean weekly spend per channel over the last ``weeks`` weeks (summed over geos)."""
    weekly = spend.groupby(["week", "channel"])["spend"].sum().unstack("channel").sort_index()
    return weekly.tail(weeks).mean().to_dict()


def build_problem(channels: Sequence[str], current: Mapping[str, float], budget: float | None = None, *,
                  bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
                  locked: Mapping[str, float] | Sequence[str] | None = None,
                  max_change: float = DEFAULT_MAX_CHANGE) -> Problem:
    """Bounds default to ``current × (1 ± max_change)``; locked channels keep their current (or given) spend."""
    channels = tuple(channels)
    for name in [*(bounds or {}), *(locked or ())]:
        if name not in channels:
            raise UnknownChannel(name, channels)
    cur = np.array([max(float(current.get(c, 0.0)), 0.0) for c in channels])
    lower, upper = cur * (1 - max_change), cur * (1 + max_change)
    for name, (lo, hi) in (bounds or {}).items():
        i = channels.index(name)
        lower[i] = lower[i] if lo is None else float(lo)
        upper[i] = upper[i] if hi is None else float(hi)
    is_locked = np.zeros(len(channels), bool)
    amounts = locked.items() if isinstance(locked, Mapping) else ((c, None) for c in (locked or ()))
    for name, amount in amounts:
        i = channels.index(name)
        lower[i] = upper[i] = cur[i] if amount is None else float(amount)
        is_locked[i] = True
    total = float(cur.sum()) if budget is None else float(budget)
    if not np.isfinite(total) or total < 0:
        raise InfeasibleBudget(f"budget must be a non-negative number, got {budget}")
    bad = [c for c, lo, hi in zip(channels, lower, upper) if lo < 0 or hi < lo]
    if bad:
        raise InfeasibleBudget(f"bounds of {', '.join(bad)} are invalid (need 0 <= lower <= upper)")
    low, high = float(lower.sum()), float(upper.sum())
    tolerance = 1e-9 * max(total, 1.0)
    if total < low - tolerance:
        raise InfeasibleBudget(f"budget {total:,.2f} is below the sum of lower bounds and locks ({low:,.2f})")
    if total > high + tolerance:
        raise InfeasibleBudget(f"budget {total:,.2f} is above the sum of upper bounds and locks ({high:,.2f})")
    return Problem(channels, cur, lower, upper, is_locked, total)


# --- the optimizer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    spend: np.ndarray
    status: str  # "optimal" | "failed"
    message: str
    iterations: int


# The CVaR's kink (which draws are the worst changes as spend moves) is smoothed over this share of the
# spread of revenue across draws, so that SLSQP converges and its optimality conditions can be verified:
# with the hard kink most plans stopped where marginal returns still differed by 10-30 %.
CVAR_SMOOTHING = 0.005


def _objective(model: ResponseModel, shares: np.ndarray, objective: Objective, alpha: float,
               reference: np.ndarray):
    """Value and gradient of the revenue gained over the ``reference`` mix: its mean over draws, or its
    CVaR (the mean of the worst ``alpha`` share) in Rockafellar and Uryasev's form
    ``max_t t - E[(t - uplift)+] / alpha`` with ``(z)+`` smoothed to ``eps * softplus(z / eps)``."""
    evaluate = model.steady_state(shares)

    def at(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # a Hill curve with slope < 1 has an infinite derivative at 0: evaluate a hair above it
        revenue, marginal = evaluate(np.maximum(x, 1e-9 * max(float(np.sum(x)), 1.0)))  # (D, C)
        return revenue.sum(axis=1), marginal

    reference_revenue = at(reference)[0]
    eps = CVAR_SMOOTHING * max(float(reference_revenue.std()), 1e-6 * max(abs(float(reference_revenue.mean())), 1.0))

    def value_and_grad(x: np.ndarray) -> tuple[float, np.ndarray]:
        revenue, marginal = at(x)
        uplift = revenue - reference_revenue
        if objective == Objective.CVAR:
            t = _cvar_threshold(uplift, alpha, eps)
            z = (t - uplift) / eps
            weights = expit(z) / (alpha * len(uplift))  # sum to one at the optimal t
            value = t - eps * np.logaddexp(0.0, z).sum() / (alpha * len(uplift))
            return float(value), weights @ marginal  # the envelope theorem: t's own change drops out
        return float(uplift.mean()), marginal.mean(axis=0)

    return value_and_grad


def _cvar_threshold(uplift: np.ndarray, alpha: float, eps: float) -> float:
    """The t where the smoothed share of draws below it is ``alpha`` (safeguarded Newton from the
    ``alpha`` order statistic, in units of ``eps``; 3-5 steps)."""
    u = uplift / eps
    lo, hi = float(u.min()) - 50, float(u.max()) + 50
    k = min(int(alpha * len(u)), len(u) - 1)
    t = float(np.partition(u, k)[k])
    for _ in range(100):
        s = expit(t - u)
        gap = float(s.mean()) - alpha
        if abs(gap) < 1e-10:
            break
        lo, hi = (t, hi) if gap < 0 else (lo, t)
        slope = float(np.dot(s, 1 - s)) / len(u)
        t = t - gap / slope if slope > 0 and lo < t - gap / slope < hi else (lo + hi) / 2
    return t * eps


def _current_mix(problem: Problem) -> np.ndarray:
    """The current split scaled to the problem's budget (what uplift is measured against)."""
    return _project(problem.current * problem.budget / max(problem.current.sum(), 1e-12), problem)


def _project(x: np.ndarray, problem: Problem) -> np.ndarray:
    """The point of the box closest to ``x`` that spends exactly the budget: ``clip(x + t)`` for the
    shift ``t`` where the (piecewise-linear, non-decreasing) total crosses the budget."""
    lo, hi = problem.lower, problem.upper
    shifts = np.unique(np.concatenate([lo - x, hi - x]))
    totals = np.clip(x[None, :] + shifts[:, None], lo, hi).sum(axis=1)
    t = float(np.interp(problem.budget, totals, shifts))
    return np.clip(x + t, lo, hi)


def _kkt_violation(x: np.ndarray, grad: np.ndarray, problem: Problem) -> float:
    """How far marginal returns are from optimal (relative): equal on interior channels, no gain by moving."""
    free = ~problem.locked & (problem.upper > problem.lower)
    if free.sum() < 2:
        return 0.0
    tol = 1e-6 * max(problem.budget, 1.0)
    can_grow = free & (x < problem.upper - tol)
    can_shrink = free & (x > problem.lower + tol)
    if not can_grow.any() or not can_shrink.any():
        return 0.0
    best_gain, least_loss = grad[can_grow].max(), grad[can_shrink].min()
    scale = max(np.abs(grad[free]).max(), 1e-12)
    return max(0.0, (best_gain - least_loss) / scale)


def optimize(model: ResponseModel, problem: Problem, *, objective: Objective = DEFAULT_OBJECTIVE,
             alpha: float = DEFAULT_CVAR_ALPHA, shares: np.ndarray | None = None, warm_start: np.ndarray | None = None) -> Solution:
    """Maximize the objective over the feasible set; detect failures.

    From ``warm_start`` alone when given and it leads to a verified optimum (the fast path for
    scenarios near a stored solution), else from several starts (Hill curves are S-shaped)."""
    shares = np.ones((len(model.geos), len(problem.channels))) if shares is None else shares
    value_and_grad = _objective(model, shares, objective, alpha, _current_mix(problem))
    scale = max(problem.budget, 1.0)
    free = ~problem.locked & (problem.upper > problem.lower)
    if free.sum() <= 1 or problem.budget == problem.lower.sum() or problem.budget == problem.upper.sum():
        x = _project(problem.current, problem)  # nothing to choose: bounds and budget fix the answer
        return Solution(x, "optimal", "the bounds and budget leave no choice", 0)

    def fun(y):
        value, grad = value_and_grad(y * scale)
        return -value / scale, -grad

    def solve(start: np.ndarray):
        result = minimize(fun, start / scale, jac=True, method="SLSQP",
                          bounds=list(zip(problem.lower / scale, problem.upper / scale)),
                          constraints=[{"type": "eq", "fun": lambda y: y.sum() - problem.budget / scale,
                                        "jac": lambda y: np.ones_like(y)}],
                          options={"ftol": 1e-12, "maxiter": 500})
        x = _project(result.x * scale, problem)
        return x, value_and_grad(x), result

    if warm_start is not None:
        x, (value, grad), result = solve(_project(np.asarray(warm_start, float), problem))
        if result.nit > 1 and _kkt_violation(x, grad, problem) <= 1e-3 and np.abs(grad[free]).max() >= 1e-12:
            return Solution(x, "optimal", str(result.message), int(result.nit))
    starts = [_current_mix(problem),
              _project((problem.lower + problem.upper) / 2, problem),
              _project(problem.lower + (problem.upper - problem.lower) * 0.25, problem)]
    best, best_value, best_result = None, -np.inf, None
    for start in starts:
        x, (value, _), result = solve(start)
        if value > best_value:
            best, best_value, best_result = x, value, result
    _, grad = value_and_grad(best)
    if np.abs(grad[free]).max() < 1e-12:
        return Solution(best, "failed", "flat gradients: every response curve is saturated or zero at these "
                        "spends, so the optimizer cannot tell channels apart", best_result.nit)
    violation = _kkt_violation(best, grad, problem)
    if violation > 1e-3:
        stalled = " after one iteration" if best_result.nit <= 1 else ""
        return Solution(best, "failed", f"optimizer stopped{stalled} where marginal returns still differ by "
                        f"{violation:.1%} ({best_result.message})", best_result.nit)
    return Solution(best, "optimal", str(best_result.message), int(best_result.nit))


# --- results ---------------------------------------------------------------------------------


def _interval(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "lower": float(np.quantile(values, Q_LO)),
            "upper": float(np.quantile(values, Q_HI))}


def evaluate(model: ResponseModel, problem: Problem, solution: Solution, *, objective: Objective,
             alpha: float, shares: np.ndarray) -> AllocationResult:
    """The allocation table and summary: per-draw uplift against the current mix at the same budget."""
    baseline = _current_mix(problem)
    rev_rec, marg_rec = model.response(solution.spend, geo_shares=shares, derivative=True)
    rev_base, marg_base = model.response(baseline, geo_shares=shares, derivative=True)
    uplift = _interval(rev_rec.sum(axis=1) - rev_base.sum(axis=1))
    allocation = pd.DataFrame({
        "channel": problem.channels,
        "current": problem.current,
        "recommended": solution.spend,
        "lower_bound": problem.lower,
        "upper_bound": problem.upper,
        "locked": problem.locked,
        "marginal_roas_current": marg_base.mean(axis=0),
        "marginal_roas_recommended": marg_rec.mean(axis=0),
        "expected_revenue_current": rev_base.mean(axis=0),
        "expected_revenue_recommended": rev_rec.mean(axis=0),
    })
    summary = {
        "budget": problem.budget,
        "current_total": float(problem.current.sum()),
        "objective": str(objective),
        "cvar_alpha": alpha,
        "status": solution.status,
        "expected_revenue_current": float(rev_base.sum(axis=1).mean()),
        "expected_revenue_recommended": float(rev_rec.sum(axis=1).mean()),
        **{f"uplift_{k}": v for k, v in uplift.items()},
        "iterations": solution.iterations,
        "message": solution.message,
        "decision": Decision.RECOMMENDED.value,
        "decision_reason": "",
        **{f"uplift_mmm_{k}": np.nan for k in ("mean", "lower", "upper")},
    }
    return AllocationResult(allocation, summary, rev_rec.sum(axis=1))


@dataclass(frozen=True)
class Reference:
    """The plain MMM a plan is also held to: it must not lose revenue under the model it was built from."""

    model: ResponseModel
    shares: np.ndarray | None = None

    def uplift(self, problem: Problem, spend: np.ndarray) -> dict[str, float]:
        """The uplift of ``spend`` over the current mix at the same budget, under these draws."""
        gained = (self.model.response(spend, geo_shares=self.shares).sum(axis=1)
                  - self.model.response(_current_mix(problem), geo_shares=self.shares).sum(axis=1))
        return _interval(gained)


def guarded(result: AllocationResult, model: ResponseModel, problem: Problem, reference: Reference | None, *,
            objective: Objective, alpha: float, shares: np.ndarray) -> AllocationResult:
    """Keep the current split when the plan's expected uplift is negative under the reconciled posterior
    or under the plain MMM: the models disagree on whether moving money pays, so it is not moved."""
    if reference is None:
        return result
    under_mmm = reference.uplift(problem, result.allocation["recommended"].to_numpy())
    tolerance = 1e-9 * max(problem.budget, 1.0)
    losses = [f"{name} expects it to lose {-value:,.2f} per week" for name, value in
              (("the reconciled posterior", result.summary["uplift_mean"]), ("the plain MMM", under_mmm["mean"]))
              if value < -tolerance]
    if not losses:
        result.summary.update({f"uplift_mmm_{k}": v for k, v in under_mmm.items()})
        return result
    current = _current_mix(problem)
    kept = evaluate(model, problem, Solution(current, result.summary["status"], result.summary["message"],
                                             result.summary["iterations"]), objective=objective, alpha=alpha,
                    shares=shares)
    kept.summary.update({
        "decision": Decision.KEPT_CURRENT.value,
        "decision_reason": "kept the current split: the optimal plan is not supported by both models ("
                           + "; ".join(losses) + ")",
        **{f"uplift_mmm_{k}": v for k, v in reference.uplift(problem, current).items()}})
    return kept


def allocate(model: ResponseModel, problem: Problem, *, objective: Objective = DEFAULT_OBJECTIVE,
             alpha: float = DEFAULT_CVAR_ALPHA, shares: np.ndarray | None = None,
             warm_start: np.ndarray | None = None, reference: Reference | None = None) -> AllocationResult:
    """The optimal split of ``problem``'s budget; the current split when ``reference`` (the plain MMM) or
    the model itself expects the optimum to lose revenue (see :func:`guarded`)."""
    shares = np.ones((len(model.geos), len(problem.channels))) if shares is None else shares
    solution = optimize(model, problem, objective=objective, alpha=alpha, shares=shares, warm_start=warm_start)
    result = evaluate(model, problem, solution, objective=objective, alpha=alpha, shares=shares)
    return guarded(result, model, problem, reference, objective=objective, alpha=alpha, shares=shares)


def frontier(model: ResponseModel, problem: Problem, *, ratios: Sequence[float] = FRONTIER_RATIOS,
             objective: Objective = DEFAULT_OBJECTIVE, alpha: float = DEFAULT_CVAR_ALPHA,
             shares: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Optimal revenue over a range of budgets (ratios of the current total); infeasible budgets are skipped."""
    rows, allocations = [], []
    low, high = problem.lower.sum(), problem.upper.sum()
    for ratio in ratios:
        budget = float(problem.current.sum() * ratio)
        if not low * (1 - 1e-9) <= budget <= high * (1 + 1e-9):
            continue
        scaled = replace(problem, budget=min(max(budget, low), high))
        result = allocate(model, scaled, objective=objective, alpha=alpha, shares=shares)
        revenue = _interval(result.revenue_draws)
        rows.append({"budget": scaled.budget, "budget_ratio": float(ratio), "status": result.summary["status"],
                     **{f"expected_revenue_{k}": v for k, v in revenue.items()},
                     **{k: result.summary[k] for k in ("uplift_mean", "uplift_lower", "uplift_upper")}})
        allocations.append(result.allocation[["channel", "recommended"]].assign(budget=scaled.budget))
    table = pd.DataFrame(rows)
    return table, (pd.concat(allocations, ignore_index=True) if allocations else pd.DataFrame())


# --- scenarios from a stored allocation partition (the API) ------------------------------------


def with_holds(result: AllocationResult, holds: Mapping[str, str]) -> AllocationResult:
    """Mark the channels the reconciliation's guard rail held (``{channel: reason}``) in the table."""
    result.allocation["hold_reason"] = result.allocation["channel"].map(dict(holds)).fillna("")
    return result


class ScenarioSolver:
    """Solves custom budgets from one stored ``allocation`` partition; build once, solve many times."""

    def __init__(self, tables: Mapping[str, pd.DataFrame]):
        spec = json.loads(tables["spec"]["spec_json"].iloc[0])
        self.model = ResponseModel.from_draws(tables["parameter_draws"], spec)
        stored = tables["allocation"].set_index("channel")
        self.current = stored["current"].to_dict()
        self.recommended = stored["recommended"].reindex(list(self.model.channels)).to_numpy()
        self.default_bounds = {c: (float(r.lower_bound), float(r.upper_bound))
                               for c, r in stored.iterrows() if not r.locked}
        self.default_locked = {c: float(r.lower_bound) for c, r in stored.iterrows() if r.locked}
        self.holds = stored["hold_reason"][stored["hold_reason"] != ""].to_dict() if "hold_reason" in stored else {}
        self.stored = tables["allocation"]  # its channels' measured spend ranges judge a scenario's moves too
        summary = tables["summary"].iloc[0]
        self.objective = Objective(summary["objective"])
        self.alpha = float(summary.get("cvar_alpha", 0.1))  # stored before it was recorded: the then default
        self.shares = geo_shares_array(spec)
        self.reference = None  # stored before plans were held to the plain MMM: none
        if "mmm_parameter_draws" in tables:
            mmm_spec = json.loads(tables["mmm_spec"]["spec_json"].iloc[0])
            self.reference = Reference(ResponseModel.from_draws(tables["mmm_parameter_draws"], mmm_spec),
                                       geo_shares_array(mmm_spec))

    def problem(self, budget: float, bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
                locked: Mapping[str, float] | Sequence[str] | None = None) -> Problem:
        """The stored partition's bounds and locks apply unless overridden: bounds given here unlock a
        channel (a held one too: the hold stays reported), and a lock given here (current spend, or the
        given amount) replaces its bounds."""
        for name in [*(bounds or {}), *(locked or ())]:
            if name not in self.model.channels:
                raise UnknownChannel(name, self.model.channels)
        merged_bounds = {**self.default_bounds, **(bounds or {})}
        merged_locked = {c: v for c, v in self.default_locked.items() if c not in (bounds or {})}
        new_locks = locked.items() if isinstance(locked, Mapping) else ((c, self.current[c]) for c in locked or ())
        for name, amount in new_locks:
            merged_locked[name] = float(amount)
            merged_bounds.pop(name, None)
        return build_problem(self.model.channels, self.current, budget, bounds=merged_bounds, locked=merged_locked)

    def solve(self, budget: float, bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
              locked: Mapping[str, float] | Sequence[str] | None = None) -> AllocationResult:
        """The plan at ``budget`` (bounds and locks: see :meth:`problem`)."""
        problem = self.problem(budget, bounds, locked)
        warm = self.recommended * problem.budget / max(self.recommended.sum(), 1e-12)  # the stored optimum, rescaled
        result = allocate(self.model, problem, objective=self.objective, alpha=self.alpha, shares=self.shares,
                          warm_start=warm, reference=self.reference)
        result = with_holds(result, self.holds)
        result.allocation = support.carried(result.allocation, self.stored)
        return result


def solve_scenario(tables: Mapping[str, pd.DataFrame], budget: float,
                   bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
                   locked: Mapping[str, float] | Sequence[str] | None = None) -> AllocationResult:
    """One custom scenario from a stored allocation partition's tables (see :class:`ScenarioSolver`)."""
    return ScenarioSolver(tables).solve(budget, bounds, locked)
