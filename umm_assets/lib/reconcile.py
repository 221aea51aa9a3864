"""Reconciliation: fuse the MMM posterior with incrementality tests and attribution, in one unit.

Every test is compared with the model in the test's own units: the model's draws of that channel's
incremental revenue over the test's dates (:meth:`ResponseModel.window_lift_draws`, the channel's
spend switched off on those days), never a coefficient against a percentage.

Methods (:class:`FusionMethod`):

``weighted_average``
    Draw-wise weighted mean of the sources' ROAS (configurable weights, renormalised over the
    sources a channel has): the MMM; the tests, scaled to the model window by measured / predicted
    lift; attribution divided by its bias where the bias is known.
``bayesian``
    The MMM posterior is the prior; each channel's effect gets a multiplier ``k ~ N(1, tau²)``
    (``tau``: how wrong the model's level may be) and each test is a likelihood
    ``lift ~ N(k · predicted_lift, sd²)``. The likelihood is linear in ``k``, so for every MMM draw
    the posterior of ``k`` is exact (Gaussian) and the draw's marginal likelihood gives its weight:
    draws are resampled by weight, then ``k`` is drawn given the draw.
``calibrated_refit``
    The MMM refit with every test as a likelihood on the model's own prediction of that test, in
    exact units (``lib.mmm.calibration.add_exact_lift_tests``: adstock and saturation included, the
    channel switched off on the test's days only). The tests join the model's joint posterior, so
    untested channels move with the tested ones through the shared model. A test the refit still
    cannot reproduce (outside its 90 % predictive interval) reveals misspecification the joint model
    cannot absorb (an unobserved confounder, say): only then is that channel's level corrected with
    the ``bayesian`` multiplier update, from those tests.

Attribution: its bias (attributed revenue / incremental revenue) is estimated per tested channel
over the test dates. Untested channels use it only when the tested channels agree on one bias
(log-spread below ``attribution_max_spread``); otherwise it is reported with weight 0 and the reason.
A biased source therefore never moves an estimate by its raw scale.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from umm_assets.lib.mmm.calibration import lift_sd
from umm_assets.lib.mmm.response import Q_HI, Q_LO, ResponseModel
from umm_assets.lib.mmm.summaries import response_curves_table
from umm_assets.lib.weeks import shares_inside


class FusionMethod(StrEnum):
    WEIGHTED = "weighted_average"
    BAYESIAN = "bayesian"
    CALIBRATED = "calibrated_refit"


class RefitNotConverged(Exception):
    """Raised by a ``refit`` whose calibrated posterior failed its convergence checks."""


@dataclass(frozen=True)
class ReconcileConfig:
    method: FusionMethod = FusionMethod.CALIBRATED
    weights: Mapping[str, float] = field(default_factory=lambda: {"mmm": 0.5, "tests": 0.3, "attribution": 0.2})
    tau: float = 0.5  # prior sd of the multiplier on a channel's modelled effect
    attribution_max_spread: float = 0.25  # max sd of log-bias across tested channels to trust a pooled bias
    seed: int = 0


@dataclass
class Evidence:
    """One finished test next to the model's prediction for exactly its window."""

    test_id: str
    channel: str
    start: pd.Timestamp
    end: pd.Timestamp
    lift: float
    sd: float
    lower: float
    upper: float
    geo: str | None  # None: a national test (or a national model)
    predicted: np.ndarray  # (D,) incremental revenue over the window, per MMM draw
    carry_in: float  # the model's total contribution over the window / its go-dark lift there (>= 1)


@dataclass
class Posterior:
    """Draws of a (reconciled) model: parameter draws, spec, per-draw contributions over the window."""

    parameter_draws: pd.DataFrame
    spec: dict
    contributions: pd.DataFrame  # draw, channel, contribution (window total)

    @classmethod
    def from_tables(cls, table: Callable[[str], pd.DataFrame]) -> Posterior:
        """From stored tables (``mmm_posterior`` or ``reconciled_lift``), given a reader by table name."""
        return cls(table("parameter_draws"), json.loads(table("spec")["spec_json"].iloc[0]),
                   table("roas_draws")[["draw", "channel", "contribution"]])

    @classmethod
    def from_summaries(cls, summaries) -> Posterior:
        """From a fit's :class:`~umm_assets.lib.mmm.summaries.Summaries`, before anything is stored."""
        return cls(summaries.parameter_draws, summaries.spec, summaries.roas_draws[["draw", "channel", "contribution"]])

    def model(self) -> ResponseModel:
        return ResponseModel.from_draws(self.parameter_draws, self.spec)

    def contribution_matrix(self, channels) -> np.ndarray:
        return self.contributions.pivot(index="draw", columns="channel", values="contribution")[list(channels)].to_numpy()


@dataclass
class ReconcileResult:
    tables: dict[str, pd.DataFrame]
    notes: list[str]


# --- evidence ---------------------------------------------------------------------------------


def evidence_from_tests(model: ResponseModel, tests: pd.DataFrame, spend_history: pd.DataFrame,
                  window: tuple[pd.Timestamp, pd.Timestamp]) -> tuple[list[Evidence], list[str]]:
    """The tests usable against this model: known channel, window overlapping the spend history."""
    evidence, notes = [], []
    first, last = (pd.Timestamp(w) for w in window)
    for t in tests.itertuples(index=False):
        start, end = pd.Timestamp(t.start_date), pd.Timestamp(t.end_date)
        if t.channel not in model.channels:
            notes.append(f"test {t.test_id}: channel {t.channel!r} is not in the model; not used")
            continue
        if end < first or start > last + pd.Timedelta(days=6):
            notes.append(f"test {t.test_id}: ran outside the model window {first.date()}..{last.date()}; not used")
            continue
        geo = None if len(model.geos) == 1 or pd.isna(t.geo) or t.geo not in model.geos else t.geo
        sd = lift_sd(t.lift, t.lift_ci_lower, t.lift_ci_upper, getattr(t, "confidence", None))
        predicted = model.window_lift_draws(spend_history, t.channel, start, end, geo=geo)
        weeks, weekly = model.weekly_contributions(spend_history, t.channel, geo=geo)
        total = weekly @ shares_inside(weeks, start, end)
        carry_in = float(np.median(total / np.maximum(predicted, 1e-12)))
        evidence.append(Evidence(str(t.test_id), t.channel, start, end, float(t.lift), sd,
                                 float(t.lift_ci_lower), float(t.lift_ci_upper), geo, predicted, max(carry_in, 1.0)))
    return evidence, notes


# --- fusion -----------------------------------------------------------------------------------


def bayesian_update(evidence: list[Evidence], channels, n_draws: int, tau: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Resampled draw indices (D,), multipliers k (D, C), and each channel's test weight (precision share).

    Per channel with tests: k ~ N(1, tau²), lift_t ~ N(k p_t, sd_t²). Given draw d, k is Gaussian with
    precision 1/tau² + Σ p²/sd² and mean (1/tau² + Σ p·lift/sd²) / precision; the draw's weight is the
    marginal likelihood N(lift | p, diag(sd²) + tau² p pᵀ), evaluated in closed form.
    """
    log_weight = np.zeros(n_draws)
    k_mean = np.ones((n_draws, len(channels)))
    k_sd = np.zeros((n_draws, len(channels)))
    test_weight = {}
    for j, channel in enumerate(channels):
        mine = [e for e in evidence if e.channel == channel]
        if not mine:
            continue
        p = np.stack([e.predicted for e in mine], axis=1)  # (D, T)
        y = np.array([e.lift for e in mine])
        s2 = np.array([e.sd for e in mine]) ** 2
        precision = 1 / tau**2 + (p**2 / s2).sum(axis=1)
        k_mean[:, j] = (1 / tau**2 + (p * y / s2).sum(axis=1)) / precision
        k_sd[:, j] = 1 / np.sqrt(precision)
        # log N(y | p, S + tau² p pᵀ) with S diagonal: Sherman-Morrison and the matrix determinant lemma
        r = y - p
        quad = (r**2 / s2).sum(axis=1) - tau**2 * ((p * r / s2).sum(axis=1)) ** 2 / (1 + tau**2 * (p**2 / s2).sum(axis=1))
        logdet = np.log(s2).sum() + np.log1p(tau**2 * (p**2 / s2).sum(axis=1))
        log_weight += -0.5 * (quad + logdet)
        test_weight[channel] = float(np.mean(1 - 1 / (tau**2 * precision)))
    weights = np.exp(log_weight - log_weight.max())
    weights /= weights.sum()
    index = rng.choice(n_draws, size=n_draws, p=weights)
    k = rng.normal(k_mean[index], k_sd[index])
    return index, np.maximum(k, 0.0), test_weight


def test_ratio_draws(evidence: list[Evidence], channel: str, rng: np.random.Generator) -> np.ndarray | None:
    """Draws of measured / predicted lift for a channel (precision-weighted over its tests)."""
    mine = [e for e in evidence if e.channel == channel]
    if not mine:
        return None
    ratios = np.stack([rng.normal(e.lift, e.sd, len(e.predicted)) / np.maximum(e.predicted, 1e-12) for e in mine])
    precision = np.array([(np.mean(e.predicted) / e.sd) ** 2 for e in mine])[:, None]
    return (ratios * precision).sum(axis=0) / precision.sum()


# --- attribution ------------------------------------------------------------------------------


@dataclass
class AttributionSignal:
    roas: dict[str, float]  # raw attributed revenue / spend over the window
    log_bias: dict[str, tuple[float, float]]  # channel -> (mean, sd) of log(attributed / incremental)
    source: dict[str, str]  # where each bias comes from
    note: str | None = None


def attribution_signal(attribution: pd.DataFrame, spend: pd.DataFrame, evidence: list[Evidence],
                       channels, max_spread: float) -> AttributionSignal | None:
    if attribution is None or attribution.empty:
        return None
    model_name = attribution.groupby("model")["attributed_revenue"].sum().idxmax()  # the richest model
    attr = attribution[attribution["model"] == model_name]
    weekly = attr.groupby(["week", "channel"])["attributed_revenue"].sum().unstack("channel").fillna(0.0)
    spent = spend.groupby("channel")["spend"].sum()
    roas = {c: float(weekly[c].sum() / spent[c]) for c in channels if c in weekly and spent.get(c, 0) > 0}
    log_bias, source = {}, {}
    for channel in channels:
        mine = [e for e in evidence if e.channel == channel and e.lift > 0]
        if channel not in weekly or not mine:
            continue
        credited = sum(float(_in_window(weekly[channel], e.start, e.end)) for e in mine)
        # attribution credits the channel's whole contribution in the window, carry-in from earlier
        # spend included; a go-dark test measures only the window's own spend: compare like with like
        lift = sum(e.lift * e.carry_in for e in mine)
        sd = np.sqrt(sum((e.sd * e.carry_in) ** 2 for e in mine)) / lift
        if credited > 0:
            log_bias[channel] = (float(np.log(credited / lift)), float(sd))
            source[channel] = "tests"
    note = None
    tested = list(log_bias.values())
    if len(tested) >= 2:
        spread = float(np.std([m for m, _ in tested], ddof=1))
        if spread <= max_spread:
            pooled = (float(np.mean([m for m, _ in tested])), float(np.hypot(spread, np.mean([s for _, s in tested]))))
            for channel in channels:
                if channel not in log_bias and channel in roas:
                    log_bias[channel], source[channel] = pooled, "pooled over tested channels"
        else:
            note = (f"attribution ({model_name}) biases of tested channels disagree (log-sd {spread:.2f} > "
                    f"{max_spread}): not used for untested channels")
    elif tested:
        note = f"attribution ({model_name}) bias known for one channel only: not used for untested channels"
    return AttributionSignal(roas, log_bias, source, note)


def _in_window(series: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> float:
    return float((series.to_numpy() * shares_inside(series.index, start, end)).sum())


# --- the stage --------------------------------------------------------------------------------


def _interval(values: np.ndarray) -> tuple[float, float, float]:
    return float(np.mean(values)), float(np.quantile(values, Q_LO)), float(np.quantile(values, Q_HI))


def scaled_posterior(prior: Posterior, channels, index: np.ndarray, k: np.ndarray) -> Posterior:
    """The posterior whose draw i is prior draw ``index[i]`` with channel effects multiplied by ``k[i]``
    (a channel's contribution is proportional to its saturation beta)."""
    draw_ids = np.sort(prior.parameter_draws["draw"].unique())
    old = draw_ids[index]
    frames = []
    by_draw = {d: g for d, g in prior.parameter_draws.groupby("draw")}
    for i, d in enumerate(old):
        rows = by_draw[d].copy()
        rows["draw"] = i
        beta = rows["name"] == "saturation_beta"
        rows.loc[beta, "value"] *= rows.loc[beta, "channel"].map(dict(zip(channels, k[i]))).to_numpy()
        frames.append(rows)
    contributions = prior.contribution_matrix(channels)[index] * k
    table = pd.DataFrame(contributions, columns=list(channels)).rename_axis("draw").reset_index().melt(
        id_vars="draw", var_name="channel", value_name="contribution")
    return Posterior(pd.concat(frames, ignore_index=True), prior.spec, table)


def reconcile(mmm: Posterior, tests: pd.DataFrame, spend: pd.DataFrame, attribution: pd.DataFrame | None,
              config: ReconcileConfig, *, spend_history: pd.DataFrame | None = None,
              refit: Callable[[], Posterior] | None = None) -> ReconcileResult:
    """Fuse the MMM posterior (``mmm``) with the tests and attribution known at the as-of week.

    ``spend`` is the model window's weekly spend (long); ``spend_history`` may reach further back for
    tests near the window's start (defaults to ``spend``). ``refit`` runs the lift-test-calibrated
    MMM (method ``calibrated_refit``; without it, or when it raises :class:`RefitNotConverged`, that
    method falls back to ``bayesian``).
    """
    rng = np.random.default_rng(config.seed)
    history = spend if spend_history is None else spend_history
    weeks = pd.to_datetime(spend["week"])
    window = (weeks.min(), weeks.max())
    model = mmm.model()
    channels = model.channels
    evidence, notes = evidence_from_tests(model, tests, history, window)
    method = config.method
    if method == FusionMethod.CALIBRATED and (refit is None or not evidence):
        notes.append("calibrated refit needs tests in the window and a refit function: using bayesian fusion")
        method = FusionMethod.BAYESIAN
    if method == FusionMethod.CALIBRATED:
        try:
            refitted = refit()
        except RefitNotConverged as err:  # an unconverged posterior is not evidence: fuse with the MMM's own
            notes.append(f"the calibrated refit did not converge ({err}): using bayesian fusion")
            method = FusionMethod.BAYESIAN

    spend_total = spend.groupby("channel")["spend"].sum().reindex(list(channels)).to_numpy()
    mmm_roas = mmm.contribution_matrix(channels) / spend_total
    attribution_info = attribution_signal(attribution, spend, evidence, channels, config.attribution_max_spread)
    if attribution_info and attribution_info.note:
        notes.append(attribution_info.note)

    n = len(np.unique(mmm.parameter_draws["draw"]))
    # drawn once: the tests' own ROAS that is fused (weighted method) is the one reported
    test_ratios = {c: test_ratio_draws(evidence, c, rng) for c in channels}
    if method == FusionMethod.WEIGHTED:
        k = np.ones((n, len(channels)))
        weights = {c: {} for c in channels}
        for j, c in enumerate(channels):
            sources = {"mmm": mmm_roas[:, j]}
            if test_ratios[c] is not None:
                sources["tests"] = mmm_roas[:, j] * test_ratios[c]
            if attribution_info and c in attribution_info.log_bias and c in attribution_info.roas:
                m, s = attribution_info.log_bias[c]
                sources["attribution"] = attribution_info.roas[c] / np.exp(rng.normal(m, s, n))
            total = sum(config.weights.get(s, 0.0) for s in sources)
            fused = sum(config.weights.get(s, 0.0) * v for s, v in sources.items()) / total
            k[:, j] = fused / np.maximum(mmm_roas[:, j], 1e-12)
            weights[c] = {s: config.weights.get(s, 0.0) / total for s in sources}
        fused_posterior = scaled_posterior(mmm, channels, np.arange(n), k)
    else:
        if method == FusionMethod.BAYESIAN:
            index, k, test_weight = bayesian_update(evidence, channels, n, config.tau, rng)
            base = mmm
        else:
            # the refit has every test in its likelihood; a test it still cannot reproduce (outside its
            # predictive interval) shows misspecification the joint model cannot absorb, e.g. an
            # unobserved confounder: that channel's level is then corrected with the multiplier update
            base = refitted
            n = len(np.unique(base.parameter_draws["draw"]))
            refit_evidence, _ = evidence_from_tests(base.model(), tests, history, window)
            missed = [e for e in refit_evidence if not _covers(e, rng)]
            index, k, _ = bayesian_update(missed, channels, n, config.tau, rng)
            refit_roas = base.contribution_matrix(channels) / spend_total
            test_weight = {c: float(np.clip(1 - refit_roas[:, j].var() / max(mmm_roas[:, j].var(), 1e-300), 0, 1))
                           for j, c in enumerate(channels) if any(e.channel == c for e in evidence)}
            if missed:
                notes.append("the calibrated refit cannot reproduce test(s) " + ", ".join(e.test_id for e in missed)
                             + ": their channels' levels were corrected with the multiplier update")
        attribution_weight = _attribution_update(attribution_info, base, index, k, channels, spend_total,
                                                 evidence, config.tau, rng)
        weights = {c: {"mmm": 1 - test_weight.get(c, 0.0) - attribution_weight.get(c, 0.0),
                       "tests": test_weight.get(c, 0.0), "attribution": attribution_weight.get(c, 0.0)}
                   for c in channels}
        fused_posterior = scaled_posterior(base, channels, index, k)

    return ReconcileResult(_tables(fused_posterior, channels, spend_total, mmm_roas, evidence, test_ratios,
                                   attribution_info, weights, method, rng, history), notes)


def _covers(e: Evidence, rng: np.random.Generator) -> bool:
    """Whether the model's 90 % predictive interval for a test's window (its own noise included) holds the lift."""
    predictive = e.predicted + rng.normal(0, e.sd, len(e.predicted))
    return bool(np.quantile(predictive, Q_LO) <= e.lift <= np.quantile(predictive, Q_HI))


def _attribution_update(info: AttributionSignal | None, base: Posterior, index: np.ndarray, k: np.ndarray, channels,
                        spend_total: np.ndarray, evidence: list[Evidence], tau: float,
                        rng: np.random.Generator) -> dict[str, float]:
    """Untested channels whose attribution bias is trusted (pooled over agreeing tested channels):
    calibrated attribution ROAS as a log-normal likelihood on the channel's multiplier ``k`` (in place).
    Returns each such channel's attribution weight (its share of the multiplier's precision)."""
    if info is None:
        return {}
    base_roas = base.contribution_matrix(channels) / spend_total
    weight = {}
    for j, c in enumerate(channels):
        if any(e.channel == c for e in evidence) or c not in info.log_bias or c not in info.roas:
            continue
        m, s = info.log_bias[c]
        target = np.log(info.roas[c]) - m - np.log(np.maximum(base_roas[index, j], 1e-12))
        variance = 1 / (1 / tau**2 + 1 / s**2)
        k[:, j] = np.exp(rng.normal(variance * target / s**2, np.sqrt(variance)))
        weight[c] = float(tau**2 / (tau**2 + s**2))
    return weight


def _tables(fused: Posterior, channels, spend_total, mmm_roas, evidence, test_ratios, attribution_info, weights,
            method: FusionMethod, rng: np.random.Generator, history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    contributions = fused.contribution_matrix(channels)
    roas = contributions / spend_total
    rows = []
    fused_model = fused.model()
    for j, c in enumerate(channels):
        mine = [e for e in evidence if e.channel == c]
        ratio = test_ratios[c]
        tests_roas = _interval(mmm_roas[:, j] * ratio) if ratio is not None else (np.nan,) * 3
        calibrated = (np.nan,) * 3
        raw_attr = bias = np.nan
        if attribution_info and c in attribution_info.roas:
            raw_attr = attribution_info.roas[c]
            if c in attribution_info.log_bias:
                m, s = attribution_info.log_bias[c]
                bias = float(np.exp(m))
                calibrated = _interval(raw_attr / np.exp(rng.normal(m, s, 2000)))
        w = weights.get(c, {})
        rows.append({
            "channel": c, "method": str(method), "spend": float(spend_total[j]),
            **dict(zip(("roas_mean", "roas_lower", "roas_upper"), _interval(roas[:, j]))),
            **dict(zip(("incremental_revenue_mean", "incremental_revenue_lower", "incremental_revenue_upper"),
                       _interval(contributions[:, j]))),
            **dict(zip(("mmm_roas_mean", "mmm_roas_lower", "mmm_roas_upper"), _interval(mmm_roas[:, j]))),
            **dict(zip(("tests_roas_mean", "tests_roas_lower", "tests_roas_upper"), tests_roas)),
            "attribution_roas": raw_attr, "attribution_bias": bias,
            "attribution_bias_source": (attribution_info.source.get(c) if attribution_info else None) or "unknown",
            **dict(zip(("attribution_roas_calibrated_mean", "attribution_roas_calibrated_lower",
                        "attribution_roas_calibrated_upper"), calibrated)),
            "weight_mmm": w.get("mmm", 1.0), "weight_tests": w.get("tests", 0.0),
            "weight_attribution": w.get("attribution", 0.0),
            "n_tests": len(mine), "tests_used": ",".join(e.test_id for e in mine),
        })
    reconciled = pd.DataFrame(rows)

    coverage = []
    for e in evidence:
        reconciled_lift = fused_model.window_lift_draws(history, e.channel, e.start, e.end, geo=e.geo)
        for source, draws in (("mmm", e.predicted), ("reconciled", reconciled_lift)):
            noisy = draws + rng.normal(0, e.sd, len(draws))  # the test's own noise: a predictive interval
            mean, lo, hi = _interval(noisy)
            coverage.append({"test_id": e.test_id, "channel": e.channel, "start_date": e.start, "end_date": e.end,
                             "lift": e.lift, "lift_lower": e.lower, "lift_upper": e.upper, "source": source,
                             "predicted_mean": mean, "predicted_lower": lo, "predicted_upper": hi,
                             "covered": bool(lo <= e.lift <= hi)})
    coverage = pd.DataFrame(coverage, columns=["test_id", "channel", "start_date", "end_date", "lift", "lift_lower",
                                               "lift_upper", "source", "predicted_mean", "predicted_lower",
                                               "predicted_upper", "covered"])
    disagreements = int(sum(sources_disagree(r) for r in rows))
    signals = ["mmm"] + (["tests"] if evidence else []) + (["attribution"] if attribution_info else [])
    covered = coverage.groupby("source")["covered"].mean() if not coverage.empty else pd.Series(dtype=float)
    summary = pd.DataFrame([{
        "method": str(method), "n_tests": len(evidence), "signals": ",".join(signals),
        "coverage_mmm": float(covered.get("mmm", np.nan)), "coverage_reconciled": float(covered.get("reconciled", np.nan)),
        "disagreements": disagreements}])
    roas_draws = fused.contributions.assign(
        roas=lambda d: d["contribution"] / d["channel"].map(dict(zip(channels, spend_total))))
    return {
        "reconciled": reconciled,
        "roas_draws": roas_draws,
        "parameter_draws": fused.parameter_draws,
        "spec": pd.DataFrame({"spec_json": [json.dumps(fused.spec)]}),
        "response_curves": response_curves_table(fused.parameter_draws, fused.spec),
        "test_coverage": coverage,
        "summary": summary,
    }


def sources_disagree(row: Mapping) -> bool:
    """True when a channel's sources (MMM, tests, calibrated attribution) have non-overlapping 90 % intervals."""
    intervals = [(row["mmm_roas_lower"], row["mmm_roas_upper"])]
    for prefix in ("tests_roas", "attribution_roas_calibrated"):
        if pd.notna(row[f"{prefix}_mean"]):
            intervals.append((row[f"{prefix}_lower"], row[f"{prefix}_upper"]))
    return any(a[1] < b[0] or b[1] < a[0] for i, a in enumerate(intervals) for b in intervals[i + 1:])
