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

Attribution (:mod:`umm_assets.lib.attribution`): its bias is observed on tested channels over the
tests' dates; an untested channel's bias comes from a hierarchical model of the biases, wide unless
many tested channels agree closely, and enters as a heavy-tailed likelihood that reweights the draws.

Guard rail (every method): an untested channel whose reconciled ROAS leaves the MMM's own 90 %
interval moved on evidence about other channels; it is flagged (``hold_in_allocation``, with the
numbers in ``guard_note``) and the allocation holds it at its current spend.

Weights report each source's real influence: the share of the way from the estimate before it to
that source's own estimate that the fusion went (in log units), and the multiplicative shifts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from umm_assets.lib.attribution import (
    AttributionSignal,
    attribution_log_likelihood,
    attribution_signal,
    tempered_weights,
)
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
    weekly_spend: float = float("nan")  # the channel's spend per week during the test: where it read the curve


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

    def with_channels_from(self, other: Posterior, channels) -> Posterior:
        """This posterior with ``channels``' parameters taken from ``other`` (draw i from other's draw
        i mod its count): the allocation's fallback to the MMM for channels the guard rail held."""
        mine = self.parameter_draws
        if not len(channels):
            return self
        own_ids, other_ids = np.sort(mine["draw"].unique()), np.sort(other.parameter_draws["draw"].unique())
        mapping = pd.DataFrame({"draw": own_ids, "source": other_ids[np.arange(len(own_ids)) % len(other_ids)]})
        taken = other.parameter_draws[other.parameter_draws["channel"].isin(list(channels))]
        borrowed = mapping.merge(taken.rename(columns={"draw": "source"}), on="source").drop(columns="source")
        kept = mine[~mine["channel"].isin(list(channels))]
        return Posterior(pd.concat([kept, borrowed], ignore_index=True), self.spec, self.contributions)

    def contribution_matrix(self, channels) -> np.ndarray:
        return self.contributions.pivot(index="draw", columns="channel", values="contribution")[list(channels)].to_numpy()


@dataclass
class ReconcileResult:
    tables: dict[str, pd.DataFrame]
    notes: list[str]
    refit: Posterior | None = None  # the calibrated refit, when one was used


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
                                 float(t.lift_ci_lower), float(t.lift_ci_upper), geo, predicted, max(carry_in, 1.0),
                                 model.weekly_spend_during(spend_history, t.channel, start, end, geo=geo)))
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
    method, refitted = _run_refit(config.method, refit, evidence, notes)
    spend_total = spend.groupby("channel")["spend"].sum().reindex(list(channels)).to_numpy()
    mmm_roas = mmm.contribution_matrix(channels) / spend_total
    # drawn once: the tests' own ROAS that is fused (weighted method) is the one reported
    test_ratios = {c: test_ratio_draws(evidence, c, rng) for c in channels}
    if method == FusionMethod.WEIGHTED:
        signal = attribution_signal(attribution, spend, evidence, channels)
        fused, weights = _weighted_average(mmm, channels, mmm_roas, test_ratios, signal, config, rng)
        shifts = {}
    else:
        base, index, k, base_evidence = _test_update(method, mmm, refitted, evidence, tests, history, window,
                                                     config.tau, rng, notes)
        # the tested channels' biases are read with the test-informed posterior's carry-over (how much of a
        # window's credited revenue came from spend before it), closer to the truth than the plain MMM's
        signal = attribution_signal(attribution, spend, base_evidence, channels)
        after_tests = base.contribution_matrix(channels)[index] * k / spend_total
        index, k, moved = _attribution_fusion(signal, after_tests, index, k, channels, evidence, rng, notes)
        fused = scaled_posterior(base, channels, index, k)
        weights, shifts = _influence(channels, mmm_roas, after_tests, fused.contribution_matrix(channels) / spend_total,
                                     test_ratios, signal, moved)
    notes.extend(signal.notes if signal else [])
    tables = _tables(fused, channels, spend_total, mmm_roas, evidence, test_ratios, signal, weights, shifts, method,
                     rng, history)
    notes.extend(tables["reconciled"].loc[tables["reconciled"]["hold_in_allocation"], "guard_note"])
    return ReconcileResult(tables, notes, refitted)


def _run_refit(method: FusionMethod, refit: Callable[[], Posterior] | None, evidence: list[Evidence],
               notes: list[str]) -> tuple[FusionMethod, Posterior | None]:
    """The calibrated refit when the method asks for it and it can run and converge; else bayesian fusion."""
    if method != FusionMethod.CALIBRATED:
        return method, None
    if refit is None or not evidence:
        notes.append("calibrated refit needs tests in the window and a refit function: using bayesian fusion")
        return FusionMethod.BAYESIAN, None
    try:
        return method, refit()
    except RefitNotConverged as err:  # an unconverged posterior is not evidence: fuse with the MMM's own
        notes.append(f"the calibrated refit did not converge ({err}): using bayesian fusion")
        return FusionMethod.BAYESIAN, None


def _test_update(method: FusionMethod, mmm: Posterior, refitted: Posterior | None, evidence: list[Evidence],
                 tests: pd.DataFrame, history: pd.DataFrame, window, tau: float, rng: np.random.Generator,
                 notes: list[str]) -> tuple[Posterior, np.ndarray, np.ndarray, list[Evidence]]:
    """The posterior the tests leave: ``(base, index, k, evidence)``, draw i = base draw ``index[i]`` scaled by
    ``k[i]``, and the tests against ``base``."""
    channels = mmm.model().channels
    if method == FusionMethod.BAYESIAN:
        index, k, _ = bayesian_update(evidence, channels, len(np.unique(mmm.parameter_draws["draw"])), tau, rng)
        return mmm, index, k, evidence
    # the refit has every test in its likelihood; a test it still cannot reproduce (outside its
    # predictive interval) shows misspecification the joint model cannot absorb, e.g. an
    # unobserved confounder: that channel's level is then corrected with the multiplier update
    refit_evidence, _ = evidence_from_tests(refitted.model(), tests, history, window)
    missed = [e for e in refit_evidence if not _covers(e, rng)]
    index, k, _ = bayesian_update(missed, channels, len(np.unique(refitted.parameter_draws["draw"])), tau, rng)
    if missed:
        notes.append("the calibrated refit cannot reproduce test(s) " + ", ".join(e.test_id for e in missed)
                     + ": their channels' levels were corrected with the multiplier update")
    return refitted, index, k, refit_evidence


def _attribution_speaks(signal: AttributionSignal | None, channel: str) -> bool:
    """Attribution is evidence on a channel when its bias was observed there, or is trusted (see
    :data:`~umm_assets.lib.attribution.TRUSTED_BIAS_FACTOR`)."""
    bias = signal.log_bias.get(channel) if signal else None
    return bias is not None and (signal.source[channel] == "tests" or bias.trusted())


def _weighted_average(mmm: Posterior, channels, mmm_roas: np.ndarray, test_ratios, signal: AttributionSignal | None,
                      config: ReconcileConfig, rng: np.random.Generator):
    """Draw-wise weighted mean of the sources' ROAS with the configured weights (attribution where it
    speaks: :func:`_attribution_speaks`)."""
    n = mmm_roas.shape[0]
    k = np.ones_like(mmm_roas)
    weights = {}
    for j, c in enumerate(channels):
        sources = {"mmm": mmm_roas[:, j]}
        if test_ratios[c] is not None:
            sources["tests"] = mmm_roas[:, j] * test_ratios[c]
        if _attribution_speaks(signal, c):
            sources["attribution"] = signal.roas[c] / np.exp(signal.log_bias[c].sample(n, rng))
        total = sum(config.weights.get(s, 0.0) for s in sources)
        fused = sum(config.weights.get(s, 0.0) * v for s, v in sources.items()) / total
        k[:, j] = fused / np.maximum(mmm_roas[:, j], 1e-12)
        weights[c] = {s: config.weights.get(s, 0.0) / total for s in sources}
    return scaled_posterior(mmm, channels, np.arange(n), k), weights


def _attribution_fusion(signal: AttributionSignal | None, roas: np.ndarray, index: np.ndarray, k: np.ndarray,
                        channels, evidence: list[Evidence], rng: np.random.Generator, notes: list[str]):
    """Attribution as a likelihood on each untested channel's ROAS: the joint draws are resampled by it
    (tempered when it contradicts the model beyond the draws' reach). Returns the new ``index``, ``k``
    and the channels attribution informed."""
    tested = {e.channel for e in evidence}
    informed = [j for j, c in enumerate(channels) if c not in tested and _attribution_speaks(signal, c)]
    if not informed:
        return index, k, set()
    log_likelihood = sum(attribution_log_likelihood(np.log(np.maximum(roas[:, j], 1e-12)), signal.roas[channels[j]],
                                                    signal.log_bias[channels[j]]) for j in informed)
    weights, beta = tempered_weights(log_likelihood)
    if beta < 1:
        notes.append(f"attribution contradicts the model beyond its draws' reach on "
                     f"{', '.join(channels[j] for j in informed)}: its likelihood was tempered to {beta:.2f}")
    pick = rng.choice(len(index), size=len(index), p=weights)
    return index[pick], k[pick], {channels[j] for j in informed}


def _influence(channels, mmm_roas: np.ndarray, after_tests: np.ndarray, final: np.ndarray, test_ratios,
               signal: AttributionSignal | None, moved: set[str]) -> tuple[dict, dict]:
    """Each source's real influence on a channel's median ROAS, in log units: attribution's weight is the
    share of the gap between the estimate before it and the calibrated attribution that the fusion
    closed; the tests' is the same for the gap to the tests' own ROAS, of what attribution left; the
    MMM keeps the rest. Also the multiplicative shifts each step made (``shift_tests``, ``shift_attribution``)."""
    weights, shifts = {}, {}
    for j, c in enumerate(channels):
        m0, m1, m2 = (float(np.median(a[:, j])) for a in (mmm_roas, after_tests, final))
        w_attr = 0.0
        if c in moved:
            calibrated = signal.roas[c] / np.exp(signal.log_bias[c].quantile(0.5))
            w_attr = _gap_closed(m1, m2, calibrated)
        w_tests = 0.0
        if test_ratios[c] is not None:
            w_tests = (1 - w_attr) * _gap_closed(m0, m1, float(np.median(mmm_roas[:, j] * test_ratios[c])))
        weights[c] = {"mmm": 1 - w_attr - w_tests, "tests": w_tests, "attribution": w_attr}
        shifts[c] = {"tests": m1 / m0, "attribution": m2 / m1}
    return weights, shifts


def _gap_closed(before: float, after: float, target: float) -> float:
    """How much of the way from ``before`` to ``target`` ``after`` went, in log units, within [0, 1]."""
    gap = np.log(target) - np.log(before)
    return 0.0 if abs(gap) < 1e-9 else float(np.clip((np.log(after) - np.log(before)) / gap, 0.0, 1.0))


def _covers(e: Evidence, rng: np.random.Generator) -> bool:
    """Whether the model's 90 % predictive interval for a test's window (its own noise included) holds the lift."""
    predictive = e.predicted + rng.normal(0, e.sd, len(e.predicted))
    return bool(np.quantile(predictive, Q_LO) <= e.lift <= np.quantile(predictive, Q_HI))


def _attribution_columns(signal: AttributionSignal | None, channel: str, rng: np.random.Generator) -> dict:
    raw = bias = bias_sd = np.nan
    calibrated = (np.nan,) * 3
    if signal and channel in signal.roas:
        raw = signal.roas[channel]
        if channel in signal.log_bias:
            log_bias = signal.log_bias[channel]
            bias, bias_sd = float(np.exp(log_bias.mean)), log_bias.sd
            calibrated = _interval(raw / np.exp(log_bias.sample(4000, rng)))
    return {"attribution_roas": raw, "attribution_bias": bias, "attribution_bias_log_sd": bias_sd,
            "attribution_bias_source": (signal.source.get(channel) if signal else None) or "unknown",
            **dict(zip(("attribution_roas_calibrated_mean", "attribution_roas_calibrated_lower",
                        "attribution_roas_calibrated_upper"), calibrated))}


def guard(row: Mapping) -> tuple[bool, str]:
    """The guard rail on an untested channel: a reconciled ROAS outside the MMM's own 90 % interval came
    from evidence about other channels (the shared refit, pooled attribution), not from this one; it
    is flagged, and the allocation holds the channel at its current spend."""
    if row["n_tests"] > 0 or row["mmm_roas_lower"] <= row["roas_mean"] <= row["mmm_roas_upper"]:
        return False, ""
    return True, (f"{row['channel']} (untested): reconciled ROAS {row['roas_mean']:.2f} is outside the MMM's own "
                  f"90 % interval [{row['mmm_roas_lower']:.2f}, {row['mmm_roas_upper']:.2f}]; the allocation holds "
                  "it at its current spend")


def _tables(fused: Posterior, channels, spend_total, mmm_roas, evidence, test_ratios, signal, weights, shifts,
            method: FusionMethod, rng: np.random.Generator, history: pd.DataFrame) -> dict[str, pd.DataFrame]:
    contributions = fused.contribution_matrix(channels)
    roas = contributions / spend_total
    rows = []
    for j, c in enumerate(channels):
        mine = [e for e in evidence if e.channel == c]
        ratio = test_ratios[c]
        w, shift = weights.get(c, {}), shifts.get(c, {})
        row = {
            "channel": c, "method": str(method), "spend": float(spend_total[j]),
            **dict(zip(("roas_mean", "roas_lower", "roas_upper"), _interval(roas[:, j]))),
            **dict(zip(("incremental_revenue_mean", "incremental_revenue_lower", "incremental_revenue_upper"),
                       _interval(contributions[:, j]))),
            **dict(zip(("mmm_roas_mean", "mmm_roas_lower", "mmm_roas_upper"), _interval(mmm_roas[:, j]))),
            **dict(zip(("tests_roas_mean", "tests_roas_lower", "tests_roas_upper"),
                       _interval(mmm_roas[:, j] * ratio) if ratio is not None else (np.nan,) * 3)),
            **_attribution_columns(signal, c, rng),
            "weight_mmm": w.get("mmm", 1.0), "weight_tests": w.get("tests", 0.0),
            "weight_attribution": w.get("attribution", 0.0),
            "shift_tests": shift.get("tests", np.nan), "shift_attribution": shift.get("attribution", np.nan),
            "n_tests": len(mine), "tests_used": ",".join(e.test_id for e in mine),
        }
        row["hold_in_allocation"], row["guard_note"] = guard(row)
        rows.append(row)
    reconciled = pd.DataFrame(rows)
    coverage = _coverage(fused.model(), evidence, history, rng)
    signals = ["mmm"] + (["tests"] if evidence else []) + (["attribution"] if signal else [])
    covered = coverage.groupby("source")["covered"].mean() if not coverage.empty else pd.Series(dtype=float)
    summary = pd.DataFrame([{
        "method": str(method), "n_tests": len(evidence), "signals": ",".join(signals),
        "coverage_mmm": float(covered.get("mmm", np.nan)), "coverage_reconciled": float(covered.get("reconciled", np.nan)),
        "disagreements": int(sum(sources_disagree(r) for r in rows)),
        "held_channels": ",".join(reconciled.loc[reconciled["hold_in_allocation"], "channel"]),
        "attribution_model": signal.model if signal else ""}])
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


COVERAGE_COLUMNS = ["test_id", "channel", "start_date", "end_date", "lift", "lift_lower", "lift_upper", "source",
                    "predicted_mean", "predicted_lower", "predicted_upper", "covered", "weekly_spend"]


def _coverage(fused_model: ResponseModel, evidence: list[Evidence], history: pd.DataFrame,
              rng: np.random.Generator) -> pd.DataFrame:
    """Each test against the MMM's and the reconciled model's 90 % predictive interval for its window."""
    rows = []
    for e in evidence:
        reconciled_lift = fused_model.window_lift_draws(history, e.channel, e.start, e.end, geo=e.geo)
        for source, draws in (("mmm", e.predicted), ("reconciled", reconciled_lift)):
            noisy = draws + rng.normal(0, e.sd, len(draws))  # the test's own noise: a predictive interval
            mean, lo, hi = _interval(noisy)
            rows.append(dict(zip(COVERAGE_COLUMNS, (e.test_id, e.channel, e.start, e.end, e.lift, e.lower, e.upper,
                                                    source, mean, lo, hi, bool(lo <= e.lift <= hi), e.weekly_spend))))
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def sources_disagree(row: Mapping) -> bool:
    """True when a channel's sources (MMM, tests, calibrated attribution) have non-overlapping 90 % intervals."""
    intervals = [(row["mmm_roas_lower"], row["mmm_roas_upper"])]
    for prefix in ("tests_roas", "attribution_roas_calibrated"):
        if pd.notna(row[f"{prefix}_mean"]):
            intervals.append((row[f"{prefix}_lower"], row[f"{prefix}_upper"]))
    return any(a[1] < b[0] or b[1] < a[0] for i, a in enumerate(intervals) for b in intervals[i + 1:])
