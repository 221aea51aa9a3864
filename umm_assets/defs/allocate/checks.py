"""Checks of ``allocation``: budget, bounds, uplift and optimizer health."""

import dagster as dg
import pandas as pd

ASSET = "allocation"
BUDGET = "budget_sums_to_total"
BOUNDS = "bounds_respected"
UPLIFT = "uplift_not_negative"
OPTIMIZER = "optimizer_converged"


def check_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(BUDGET, asset=ASSET, description="Recommended spends sum to the weekly budget."),
        dg.AssetCheckSpec(BOUNDS, asset=ASSET, description="Every channel within its bounds; locks kept."),
        dg.AssetCheckSpec(UPLIFT, asset=ASSET, description="Expected revenue uplift vs the current mix is >= 0."),
        dg.AssetCheckSpec(OPTIMIZER, asset=ASSET, description="The optimizer converged (no one-iteration exit, "
                                                               "flat gradients or unequal marginal returns)."),
    ]


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
    ]
