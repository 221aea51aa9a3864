"""Checks of ``allocation``: budget, bounds, uplift and optimizer health."""

import dagster as dg
import pandas as pd

from umm_assets.defs import partition_checks
from umm_assets.lib import support

ASSET = "allocation"
BUDGET = "budget_sums_to_total"
BOUNDS = "bounds_respected"
UPLIFT = "uplift_not_negative"
OPTIMIZER = "optimizer_converged"
NOT_WORSE = "not_worse_than_current_under_mmm"
MEASURED = "plan_within_measured_spend"


def check_specs(partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """Evaluated per week (see :mod:`umm_assets.defs.partition_checks`). The blocking ones keep a failed plan
    out of the warehouse, so it is never served."""
    return partition_checks.specs(ASSET, partitions, [
        (BUDGET, "Recommended spends sum to the weekly budget (blocking).", True),
        (BOUNDS, "Every channel within its bounds; locks kept (blocking).", True),
        (UPLIFT, "Expected revenue uplift vs the current mix is >= 0 (blocking).", True),
        (OPTIMIZER, "The optimizer converged (no one-iteration exit, flat gradients or unequal marginal returns).",
         False),
        (NOT_WORSE, "The plan's expected uplift is >= 0 under the reconciled posterior and under the plain MMM it "
                    "was built from (else the current split is kept).", True),
        (MEASURED, "No channel is moved outside the weekly spend levels its window saw (5th-95th percentile) "
                   "and its tests ran at: there its return is extrapolated (warning).", False),
    ])


def results(allocation: pd.DataFrame, summary: pd.Series) -> list[dg.AssetCheckResult]:
    budget, total = float(summary["budget"]), float(allocation["recommended"].sum())
    tolerance = 1e-6 * max(budget, 1.0)
    outside = allocation[(allocation["recommended"] < allocation["lower_bound"] - tolerance)
                         | (allocation["recommended"] > allocation["upper_bound"] + tolerance)]
    error = dg.AssetCheckSeverity.ERROR
    return [
        dg.AssetCheckResult(asset_key=ASSET, check_name=BUDGET, passed=bool(abs(total - budget) <= tolerance),
                            severity=error, metadata={"budget": budget, "recommended_total": total}),
        dg.AssetCheckResult(asset_key=ASSET, check_name=BOUNDS, passed=bool(outside.empty), severity=error,
                            description=", ".join(outside["channel"]) or "all within bounds"),
        dg.AssetCheckResult(asset_key=ASSET, check_name=UPLIFT, passed=bool(summary["uplift_mean"] >= -tolerance),
                            severity=error, metadata={"uplift_mean": float(summary["uplift_mean"]),
                                                      "uplift_lower": float(summary["uplift_lower"]),
                                                      "uplift_upper": float(summary["uplift_upper"])}),
        dg.AssetCheckResult(asset_key=ASSET, check_name=OPTIMIZER, passed=bool(summary["status"] == "optimal"),
                            severity=error, description=str(summary["message"]),
                            metadata={"iterations": int(summary["iterations"])}),
        _not_worse(summary, tolerance),
        _measured(allocation),
    ]


def _measured(allocation: pd.DataFrame) -> dg.AssetCheckResult:
    moved = support.outside(allocation)
    notes = allocation.set_index("channel").loc[moved, "support_note"] if moved else pd.Series(dtype=str)
    return dg.AssetCheckResult(
        asset_key=ASSET, check_name=MEASURED, passed=not moved, severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(f"{c}: {n}" for c, n in notes.items()) or "every move stays within measured spend",
        metadata={"outside_data": ", ".join(moved)})


def _not_worse(summary: pd.Series, tolerance: float) -> dg.AssetCheckResult:
    under_mmm = float(summary["uplift_mmm_mean"])
    passed = bool(summary["uplift_mean"] >= -tolerance and under_mmm >= -tolerance)
    return dg.AssetCheckResult(
        asset_key=ASSET, check_name=NOT_WORSE, passed=passed, severity=dg.AssetCheckSeverity.ERROR,
        description=str(summary["decision_reason"]) or f"decision: {summary['decision']}",
        metadata={"decision": str(summary["decision"]), "uplift_mean": float(summary["uplift_mean"]),
                  "uplift_mmm_mean": under_mmm, "uplift_mmm_lower": float(summary["uplift_mmm_lower"]),
                  "uplift_mmm_upper": float(summary["uplift_mmm_upper"])})
