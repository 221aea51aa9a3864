"""Touch-based attribution as evidence: its bias per channel, and what it may say about untested channels.

Attribution (last-click, say) credits a channel with revenue it did not cause and misses revenue it
did; by how much differs several-fold between channel types (last-click under-credits TV five-fold and
over-credits search two- to three-fold in typical audits). Its **bias** on a channel is attributed /
incremental revenue; only an experiment measures incremental revenue, so a bias is *observed* only on
tested channels (over the test's own dates).

Untested channels: the biases are modelled hierarchically, ``log b_c ~ t_4(mu, tau)``, with a prior on
``tau`` that expects the several-fold spread real biases have (median 0.8 in log units, i.e. a factor
of ~2.2 between channels, 90 % between 0.3 and 2.1), Student-t tails (one channel type may be an
outlier, as TV is under last-click) and a flat-ish prior on ``mu``. An untested channel's bias is then
the posterior predictive of that model given the tested channels' observed biases: a mixture over
``tau`` and the t's scale, computed exactly on a grid. Two or three tested channels whose biases
happen to agree cannot tell that ``tau`` is small, so the predictive stays wide (its 90 % interval
spans a factor of ~6 either way with two, ~4 with three); it narrows only when many tested channels
agree closely (log-sd 0.35 takes about seven within ±0.05: :func:`bias_predictive_table`, README).

Fusion: attribution is a likelihood on an untested channel's ROAS, ``log a - log r ~ bias``, applied by
reweighting the joint posterior draws (:func:`attribution_log_likelihood`). It can therefore only
choose among the levels the model itself finds plausible, and it moves a channel in proportion to how
unsure the model is about it: a loosely identified channel gains most, a well-measured one stays put.
When attribution contradicts the model so much that few draws would carry the weight, its likelihood
is tempered (:func:`tempered_weights`) so that a quarter of the draws stay effective.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import logsumexp
from scipy.optimize import brentq
from scipy.stats import invgamma, norm

from umm_assets.lib.weeks import shares_inside

# prior of the hierarchical bias model, in log(attributed / incremental) units
TAU_PRIOR_MEDIAN = 0.8  # typical spread of log-bias between channels (a factor of ~2.2)
TAU_PRIOR_LOG_SD = 0.6  # 90 % of the prior between 0.3 and 2.1
MU_PRIOR_SD = 2.0  # the average bias may be anything from /50 to ×50
# attribution speaks for an untested channel only when the channel's bias is known within this factor
# either way (90 %): about four tested channels agreeing closely. A looser bias is reported, not used:
# the model would otherwise take a guess about one channel type from others (last-click credits a TV
# or video channel nothing like a search or social one), and it would weigh most where the MMM knows
# least, which is exactly where a wrong guess costs most.
TRUSTED_BIAS_FACTOR = 3.0
# an untested channel's bias may be an outlier among channel types (TV under last-click): Student-t
# tails with this many degrees of freedom, as a scale mixture of normals
BIAS_TAIL_DF = 4
_TAIL_SCALES = invgamma.ppf((np.arange(8) + 0.5) / 8, BIAS_TAIL_DF / 2, scale=BIAS_TAIL_DF / 2)
MIN_ESS_SHARE = 0.25  # attribution's reweighting keeps at least this share of the draws effective
_TAU_GRID = np.exp(np.linspace(np.log(0.005), np.log(6.0), 400))


@dataclass(frozen=True)
class LogBias:
    """A channel's log-bias as a Gaussian mixture (one component when observed directly)."""

    weights: np.ndarray
    means: np.ndarray
    sds: np.ndarray

    @classmethod
    def normal(cls, mean: float, sd: float) -> LogBias:
        return cls(np.ones(1), np.array([mean]), np.array([sd]))

    @property
    def mean(self) -> float:
        return float(self.weights @ self.means)

    @property
    def factor_90(self) -> float:
        """The factor the 90 % interval of the bias spans either way (``exp`` of its half-width in logs)."""
        return float(np.exp((self.quantile(0.95) - self.quantile(0.05)) / 2))

    def trusted(self) -> bool:
        return self.factor_90 <= TRUSTED_BIAS_FACTOR

    @property
    def sd(self) -> float:
        second = self.weights @ (self.sds**2 + self.means**2)
        return float(np.sqrt(max(second - self.mean**2, 0.0)))

    def quantile(self, q: float) -> float:
        """Exact quantile of the mixture (its CDF is a weighted sum of normal CDFs)."""
        lo, hi = float((self.means - 10 * self.sds).min()), float((self.means + 10 * self.sds).max())
        return float(brentq(lambda x: self.weights @ norm.cdf((x - self.means) / self.sds) - q, lo, hi))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        component = rng.choice(len(self.weights), size=n, p=self.weights)
        return rng.normal(self.means[component], self.sds[component])


def bias_predictive(observed: list[tuple[float, float]]) -> LogBias:
    """Posterior predictive of an untested channel's log-bias given tested channels' ``(mean, sd)``.

    ``y_c ~ N(b_c, s_c²)``, ``b_c ~ N(mu, tau²)``, ``mu ~ N(0, MU_PRIOR_SD²)``, ``log tau ~
    N(log TAU_PRIOR_MEDIAN, TAU_PRIOR_LOG_SD²)``; ``p(tau | y)`` is exact on a grid (given ``tau``,
    ``mu`` is Gaussian). The new channel's bias is Student-t given ``tau`` (``BIAS_TAIL_DF``; its
    type may be the outlier), i.e. normal with variance ``var(mu | tau, y) + tau² · lambda`` over the t's
    scales ``lambda``. With no observation it is the prior predictive.
    """
    y = np.array([m for m, _ in observed], float)
    s2 = np.array([s for _, s in observed], float) ** 2
    tau = _TAU_GRID[:, None]  # (T, 1): every quantity below is per grid point
    v = s2[None, :] + tau**2  # (T, n)
    precision = 1 / MU_PRIOR_SD**2 + (1 / v).sum(axis=1)
    mu_hat = (y / v).sum(axis=1) / precision
    # log N(y | 0, diag(v) + MU_PRIOR_SD² 11ᵀ), by the matrix determinant lemma and Sherman-Morrison
    quad = (y**2 / v).sum(axis=1) - (y / v).sum(axis=1) ** 2 / precision
    logdet = np.log(v).sum(axis=1) + np.log(MU_PRIOR_SD**2 * precision)
    prior = -0.5 * ((np.log(_TAU_GRID) - np.log(TAU_PRIOR_MEDIAN)) / TAU_PRIOR_LOG_SD) ** 2  # grid uniform in log tau
    log_post = prior - 0.5 * (quad + logdet)
    weights = np.exp(log_post - logsumexp(log_post))
    keep = weights > 1e-6 * weights.max()  # drop negligible components (cheaper per-draw updates)
    # b ~ t(mu, tau) given tau, as normals with variance var(mu) + tau² · scale over the t's scales
    variances = 1 / precision[keep, None] + tau[keep] ** 2 * _TAIL_SCALES[None, :]
    scales = len(_TAIL_SCALES)
    return LogBias(np.repeat(weights[keep] / weights[keep].sum(), scales) / scales,
                   np.repeat(mu_hat[keep], scales), np.sqrt(variances.ravel()))


def bias_predictive_table(counts=(2, 3, 4, 6, 8, 12), spread: float = 0.1, sd: float = 0.15) -> pd.DataFrame:
    """How many agreeing tested channels it takes to pin an untested channel's bias: the predictive
    log-sd, and the factor its 90 % interval spans either way, when ``n`` tested channels' log-biases lie
    evenly within ``spread`` (each known to ``sd``)."""
    rows = []
    for n in counts:
        observed = [(float(v), sd) for v in np.linspace(-spread / 2, spread / 2, n)]
        predictive = bias_predictive(observed)
        rows.append({"tested_channels": n, "predictive_log_sd": predictive.sd, "factor_90": predictive.factor_90,
                     "trusted": predictive.trusted()})
    return pd.DataFrame(rows)


@dataclass
class AttributionSignal:
    model: str  # which attribution model (the one crediting most revenue)
    roas: dict[str, float]  # raw attributed revenue / spend over the window
    log_bias: dict[str, LogBias]  # tested channels: observed; untested: the hierarchical predictive
    source: dict[str, str]  # "tests" or "hierarchical (n tested channels)"
    notes: list[str] = field(default_factory=list)


def attribution_signal(attribution: pd.DataFrame | None, spend: pd.DataFrame, evidence, channels) -> AttributionSignal | None:
    """Raw attributed ROAS per channel; observed biases on tested channels (``evidence``: the tests with
    the model's carry-in); the hierarchical predictive bias for every other channel with attribution."""
    if attribution is None or attribution.empty:
        return None
    model_name = attribution.groupby("model")["attributed_revenue"].sum().idxmax()
    attr = attribution[attribution["model"] == model_name]
    weekly = attr.groupby(["week", "channel"])["attributed_revenue"].sum().unstack("channel").fillna(0.0)
    spent = spend.groupby("channel")["spend"].sum()
    roas = {c: float(weekly[c].sum() / spent[c]) for c in channels if c in weekly and spent.get(c, 0) > 0}
    log_bias, source = {}, {}
    for channel in channels:
        mine = [e for e in evidence if e.channel == channel and e.lift > 0]
        if channel not in weekly or not mine:
            continue
        credited = sum(_in_window(weekly[channel], e.start, e.end) for e in mine)
        # attribution credits the channel's whole contribution in the window, carry-in from earlier
        # spend included; a go-dark test measures only the window's own spend: compare like with like
        lift = sum(e.lift * e.carry_in for e in mine)
        sd = np.sqrt(sum((e.sd * e.carry_in) ** 2 for e in mine)) / lift
        if credited > 0:
            log_bias[channel], source[channel] = LogBias.normal(float(np.log(credited / lift)), float(sd)), "tests"
    observed = [(b.mean, b.sd) for b in log_bias.values()]
    predictive = bias_predictive(observed)
    notes = []
    for channel in channels:
        if channel not in log_bias and channel in roas:
            log_bias[channel] = predictive
            source[channel] = f"hierarchical ({len(observed)} tested channel{'s' if len(observed) != 1 else ''})"
    if any(c not in {e.channel for e in evidence} for c in roas):
        verdict = ("it informs untested channels" if predictive.trusted() else
                   f"it is reported for untested channels but not used (trusted within ×{TRUSTED_BIAS_FACTOR:g})")
        notes.append(f"attribution ({model_name}): given {len(observed)} tested channel(s), an untested channel's "
                     f"bias is known within a factor of {predictive.factor_90:.1f} either way (90 %): {verdict}")
    return AttributionSignal(model_name, roas, log_bias, source, notes)


def _in_window(series: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> float:
    return float((series.to_numpy() * shares_inside(series.index, start, end)).sum())


def attribution_log_likelihood(log_roas: np.ndarray, attributed_roas: float, bias: LogBias) -> np.ndarray:
    """log p(attributed ROAS | the channel's true ROAS is exp(log_roas)) per draw: ``log a - log r`` is the
    channel's log-bias, distributed as ``bias`` (a Gaussian mixture, evaluated exactly)."""
    t = np.log(attributed_roas) - np.asarray(log_roas)[:, None]  # (D, 1)
    v = bias.sds**2
    return logsumexp(np.log(bias.weights) - 0.5 * ((t - bias.means) ** 2 / v + np.log(2 * np.pi * v)), axis=1)


def tempered_weights(log_likelihood: np.ndarray, min_ess_share: float = MIN_ESS_SHARE) -> tuple[np.ndarray, float]:
    """Importance weights ``exp(beta · log_likelihood)``, normalised, with the largest ``beta <= 1`` that keeps
    the effective sample size at ``min_ess_share`` of the draws: evidence that contradicts the model may
    move an estimate only as far as the model's own draws reach, never onto a handful of them."""
    def weights(beta: float) -> np.ndarray:
        w = np.exp(beta * (log_likelihood - log_likelihood.max()))
        return w / w.sum()

    def ess_share(beta: float) -> float:
        return float(1 / (weights(beta) ** 2).sum() / len(log_likelihood))

    if ess_share(1.0) >= min_ess_share:
        return weights(1.0), 1.0
    # the share falls from 1 (beta = 0) as beta grows: its crossing of min_ess_share is the one root in (0, 1)
    beta = brentq(lambda b: ess_share(b) - min_ess_share, 0.0, 1.0, xtol=1e-6)
    return weights(beta), beta
