"""Checks of ``mmm_posterior``: convergence (blocking; the policy is :mod:`umm_assets.lib.mmm.policy`) and
out-of-sample error (warning)."""

import dagster as dg
import pandas as pd

from umm_assets.defs import partition_checks
from umm_assets.defs.mmm_posterior.config import MMMRunConfig
from umm_assets.lib.mmm.policy import ConvergencePolicy, convergence_problems

ASSET = "mmm_posterior"
CONVERGENCE = "convergence"
HOLDOUT = "holdout_error"


def check_specs(partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """Evaluated per week (see :mod:`umm_assets.defs.partition_checks`)."""
    return partition_checks.specs(ASSET, partitions, [
        (CONVERGENCE, "R-hat, bulk/tail ESS and divergences within limits (blocking).", True),
        (HOLDOUT, "MAPE on the held-out last weeks (warning).", False),
    ])


def failed(diagnostics: dict[str, pd.Series], policy: ConvergencePolicy) -> dict[str, list[str]]:
    """The weeks whose convergence check fails, with why: mmm_posterior does not write them."""
    return {week: problems for week, d in diagnostics.items() if (problems := convergence_problems(d, policy))}


def results(diagnostics: dict[str, pd.Series], config: MMMRunConfig) -> dict[str, list[dg.AssetCheckResult]]:
    """Each week's check results (a range run reports every week)."""
    return {week: _week_results(d, config) for week, d in diagnostics.items()}


def _week_results(diagnostics: pd.Series, config: MMMRunConfig) -> list[dg.AssetCheckResult]:
    problems = convergence_problems(diagnostics, config.policy())
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
