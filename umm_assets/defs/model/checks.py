"""Checks of ``mmm_posterior``: convergence (blocking) and out-of-sample error (warning)."""

from collections.abc import Callable
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from umm_assets.defs import partition_checks
from umm_assets.defs.model.config import MMMRunConfig
from umm_assets.lib.mmm.config import MMMConfig

ASSET = "mmm_posterior"
CONVERGENCE = "convergence"
HOLDOUT = "holdout_error"


def check_specs(partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """Evaluated per week (see :mod:`umm_assets.defs.partition_checks`)."""
    return partition_checks.specs(ASSET, partitions, [
        (CONVERGENCE, "R-hat, bulk/tail ESS and divergences within limits (blocking).", True),
        (HOLDOUT, "MAPE on the held-out last weeks (warning).", False),
    ])


# The convergence thresholds a posterior was held to, stored in its diagnostics as check_<name> so that
# reconciled_lift holds it (and its calibrated refit) to the same ones.
THRESHOLDS = ("rhat_max", "ess_min", "divergences_max")


def thresholds_record(config: MMMRunConfig) -> dict[str, float]:
    return {f"check_{name}": float(getattr(config, name)) for name in THRESHOLDS}


def stored_thresholds(diagnostics: pd.Series) -> MMMRunConfig:
    """The thresholds a stored posterior was checked against; the platform's defaults for one stored
    before they were recorded."""
    stored = {name: diagnostics[f"check_{name}"] for name in THRESHOLDS if pd.notna(diagnostics.get(f"check_{name}"))}
    if "divergences_max" in stored:
        stored["divergences_max"] = int(stored["divergences_max"])
    return MMMRunConfig(**stored)


def convergence_problems(diagnostics: pd.Series, config: MMMRunConfig) -> list[str]:
    """Why a fit is not trustworthy (empty when it converged)."""
    problems = []
    if diagnostics["rhat_max"] > config.rhat_max:
        problems.append(f"R-hat {diagnostics['rhat_max']:.3f} > {config.rhat_max}")
    for name in ("ess_bulk_min", "ess_tail_min"):
        if diagnostics[name] < config.ess_min:
            problems.append(f"{name.replace('_min', '').replace('_', ' ')} ESS {diagnostics[name]:.0f} < {config.ess_min:.0f}")
    if diagnostics["divergences"] > config.divergences_max:
        problems.append(f"{int(diagnostics['divergences'])} divergences > {config.divergences_max}")
    return problems


def fit_converging(fit: Callable[[MMMConfig], tuple[Any, Any]], mmm_config: MMMConfig, policy: MMMRunConfig,
                   warn: Callable[[str], None] = lambda message: None) -> tuple[Any, Any]:
    """The platform's fitting policy: ``fit(mmm_config) -> (result, summaries)``, and if the convergence
    checks fail (and ``policy.escalate``), once more with longer sampling (:meth:`MMMRunConfig.escalated`).
    Returns the last attempt; whether it converged is for the caller to check."""
    result, summaries = fit(mmm_config)
    diagnostics = summaries.diagnostics.iloc[0]
    if (problems := convergence_problems(diagnostics, policy)) and policy.escalate:
        longer = policy.escalated(mmm_config)
        warn(f"not converged ({', '.join(problems)}); sampling again with tune {longer.tune}, draws {longer.draws}, "
             f"target_accept {longer.target_accept}")
        result, summaries = fit(longer)
    return result, summaries


# Saturation kept when PSIS-LOO cannot tell the families apart: Hill can be concave or S-shaped, logistic
# only concave. On the demo worlds a wrongly kept logistic curve made plans capturing 8-19 % of the true
# uplift; a wrongly kept Hill curve cost a few points of ROAS error on logistic-truth data.
ON_A_TIE = "hill"


def loo_comparison(fits: list[tuple[pd.Series, np.ndarray | None]], policy: MMMRunConfig) -> pd.DataFrame:
    """Which of several fits of one window (differing in saturation) to keep, from each fit's diagnostics
    and pointwise PSIS-LOO elpd. Among the converged fits (all, if none converged) the one whose weeks are
    best predicted when left out, unless it beats the ``ON_A_TIE`` fit by no more than the standard error
    of their paired difference: then that one. A fit without LOO is never preferred.
    One row per fit: saturation, elpd_loo, elpd_loo_se, converged, elpd_diff and elpd_diff_se (against
    the chosen fit), chosen."""
    diagnostics = [d for d, _ in fits]
    table = pd.DataFrame({
        "saturation": [d["saturation"] for d in diagnostics],
        "elpd_loo": [float(d["elpd_loo"]) for d in diagnostics],
        "elpd_loo_se": [float(d["elpd_loo_se"]) for d in diagnostics],
        "converged": [not convergence_problems(d, policy) for d in diagnostics],
    })
    pool = table[table["converged"]] if table["converged"].any() else table
    best = int(pool["elpd_loo"].fillna(-np.inf).idxmax())

    def paired_se(i: int, j: int) -> float:
        a, b = fits[i][1], fits[j][1]
        if a is None or b is None or len(a) != len(b):
            return np.inf
        return float(np.sqrt(len(a) * np.var(a - b)))

    tie_break = [i for i in pool.index if table.at[i, "saturation"] == ON_A_TIE]
    if tie_break and (i := int(tie_break[0])) != best:
        if table.at[best, "elpd_loo"] - table.at[i, "elpd_loo"] <= paired_se(best, i):
            best = i
    return table.assign(elpd_diff=table["elpd_loo"] - table.at[best, "elpd_loo"],
                        elpd_diff_se=[0.0 if i == best else paired_se(i, best) for i in table.index],
                        chosen=table.index == best)


def results(diagnostics: dict[str, pd.Series], config: MMMRunConfig) -> dict[str, list[dg.AssetCheckResult]]:
    """Each week's check results (a range run reports every week)."""
    return {week: _week_results(d, config) for week, d in diagnostics.items()}


def _week_results(diagnostics: pd.Series, config: MMMRunConfig) -> list[dg.AssetCheckResult]:
    problems = convergence_problems(diagnostics, config)
    holdout = float(diagnostics["holdout_mape"]) if pd.notna(diagnostics["holdout_mape"]) else None
    too_high = holdout is not None and holdout > config.holdout_mape_max
    return [
        dg.AssetCheckResult(
            asset_key=ASSET, check_name=CONVERGENCE, passed=not problems, severity=dg.AssetCheckSeverity.ERROR,
            description=", ".join(problems) or "converged",
            metadata={"rhat_max": float(diagnostics["rhat_max"]), "ess_bulk_min": float(diagnostics["ess_bulk_min"]),
                      "ess_tail_min": float(diagnostics["ess_tail_min"]),
                      "divergences": int(diagnostics["divergences"])},
        ),
        dg.AssetCheckResult(
            asset_key=ASSET, check_name=HOLDOUT, passed=not too_high, severity=dg.AssetCheckSeverity.WARN,
            description=(f"holdout MAPE {holdout:.1%} above {config.holdout_mape_max:.0%}" if too_high
                         else "holdout error within limits" if holdout is not None else "holdout disabled"),
            metadata={"holdout_mape": holdout},
        ),
    ]
