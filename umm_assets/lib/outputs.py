"""The tables each model stage writes, as pandera schemas: the contract between the pipeline (which
validates its outputs before writing) and the readers (API, dashboard), which rely on these columns.

Money is in input units; spend, budgets and responses are per week; ``lower``/``upper`` and
``p05``/``p95`` bound 90 % credible intervals. Extra columns are allowed (``strict=False``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pandera.pandas as pa

MMM_POSTERIOR = "mmm_posterior"
RECONCILED_LIFT = "reconciled_lift"
ALLOCATION = "allocation"
EXPERIMENT_PLAN = "experiment_plan"
# the model chain's stages in order; each names its asset, its defs/ folder and its Dagster group
MODEL_CHAIN = (MMM_POSTERIOR, RECONCILED_LIFT, ALLOCATION, EXPERIMENT_PLAN)


def _schema(name: str, columns: Mapping[str, object], nullable: tuple[str, ...] = ()) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {c: pa.Column(t, nullable=c in nullable, coerce=True) for c, t in columns.items()},
        name=name, strict=False,
    )


def _interval(prefix: str, kind: str = "lower_upper") -> dict[str, type]:
    suffixes = ("mean", "lower", "upper") if kind == "lower_upper" else ("mean", "p05", "p50", "p95")
    return {f"{prefix}_{s}": float for s in suffixes}


PARAMETER_DRAWS = {"draw": int, "channel": str, "geo": str, "name": str, "value": float}
RESPONSE_CURVES = {"channel": str, "spend": float, **_interval("response"), **_interval("marginal_roas"),
                   "current_spend": float}

SCHEMAS: dict[str, dict[str, pa.DataFrameSchema]] = {
    MMM_POSTERIOR: {
        "roas": _schema("roas", {"channel": str, "spend": float, "weekly_spend_p05": float, "weekly_spend_p95": float,
                                 "contribution_mean": float, "contribution_p05": float, "contribution_p95": float,
                                 **_interval("roas", "quantiles")}),
        "roas_draws": _schema("roas_draws", {"draw": int, "channel": str, "contribution": float, "roas": float}),
        "contributions": _schema("contributions", {"week": "datetime64[ns]", "geo": str, "component": str,
                                                   "mean": float, "lower": float, "upper": float}),
        "fit": _schema("fit", {"week": "datetime64[ns]", "geo": str, "actual": float, **_interval("predicted")}),
        "response_curves": _schema("response_curves", RESPONSE_CURVES),
        "parameters": _schema("parameters", {"parameter": str, "channel": str, "geo": str, "mean": float,
                                             "sd": float, "lower": float, "upper": float}),
        "parameter_draws": _schema("parameter_draws", PARAMETER_DRAWS),
        "diagnostics": _schema("diagnostics", {
            "rhat_max": float, "ess_bulk_min": float, "ess_tail_min": float, "divergences": int, "mape": float,
            "r2": float, "holdout_mape": float, "holdout_weeks": int, "ppc_coverage_90": float, "n_weeks": int,
            "window_start": "datetime64[ns]", "window_end": "datetime64[ns]",
            # the convergence thresholds the fit was held to (see defs/mmm_posterior/checks.py)
            "check_rhat_max": float, "check_ess_min": float, "check_divergences_max": float},
            nullable=("holdout_mape",)),
        # the candidate response shapes fitted and which one PSIS-LOO kept (lib/mmm/policy.loo_comparison);
        # one row when only one was fitted
        "loo_comparison": _schema("loo_comparison", {
            "saturation": str, "adstock": str, "elpd_loo": float, "elpd_loo_se": float, "converged": bool,
            "elpd_diff": float, "elpd_diff_se": float, "chosen": bool},
            nullable=("elpd_loo", "elpd_loo_se", "elpd_diff", "elpd_diff_se")),
    },
    RECONCILED_LIFT: {
        "reconciled": _schema("reconciled", {
            "channel": str, "method": str, "spend": float, **_interval("roas"), **_interval("incremental_revenue"),
            **_interval("mmm_roas"), **_interval("tests_roas"), "attribution_roas": float, "attribution_bias": float,
            "attribution_bias_log_sd": float, **_interval("attribution_roas_calibrated"),
            # each source's real influence (share of the way to its own estimate) and the shifts it made
            "weight_mmm": float, "weight_tests": float, "weight_attribution": float,
            "shift_tests": float, "shift_attribution": float, "n_tests": int, "tests_used": str,
            # the guard rail: an untested channel outside the MMM's own interval is held by the allocation
            "hold_in_allocation": bool, "guard_note": str},
            nullable=("tests_roas_mean", "tests_roas_lower", "tests_roas_upper", "attribution_roas",
                      "attribution_bias", "attribution_bias_log_sd", "attribution_roas_calibrated_mean",
                      "attribution_roas_calibrated_lower", "attribution_roas_calibrated_upper", "shift_tests",
                      "shift_attribution")),
        "roas_draws": _schema("roas_draws", {"draw": int, "channel": str, "roas": float}),
        "parameter_draws": _schema("parameter_draws", PARAMETER_DRAWS),
        "response_curves": _schema("response_curves", RESPONSE_CURVES),
        "test_coverage": _schema("test_coverage", {
            "test_id": str, "channel": str, "start_date": "datetime64[ns]", "end_date": "datetime64[ns]",
            "lift": float, "lift_lower": float, "lift_upper": float, "source": str,
            **_interval("predicted"), "covered": bool, "weekly_spend": float}, nullable=("weekly_spend",)),
        "summary": _schema("summary", {"method": str, "n_tests": int, "signals": str,
                                       "coverage_mmm": float, "coverage_reconciled": float, "disagreements": int,
                                       "held_channels": str, "attribution_model": str},
                           nullable=("coverage_mmm", "coverage_reconciled")),
    },
    ALLOCATION: {
        "allocation": _schema("allocation", {
            "channel": str, "current": float, "recommended": float, "lower_bound": float, "upper_bound": float,
            "locked": bool, "marginal_roas_current": float, "marginal_roas_recommended": float,
            "expected_revenue_current": float, "expected_revenue_recommended": float,
            "hold_reason": str}),  # non-empty: held at current spend by the reconciliation's guard rail
        "summary": _schema("summary", {
            "budget": float, "current_total": float, "objective": str, "cvar_alpha": float, "status": str,
            "expected_revenue_current": float, "expected_revenue_recommended": float, **_interval("uplift"),
            "iterations": int, "message": str,
            # recommended, or kept_current when the reconciled posterior or the plain MMM expects a loss
            "decision": str, "decision_reason": str, **_interval("uplift_mmm"), "held_channels": str}),
        "frontier": _schema("frontier", {"budget": float, "budget_ratio": float, **_interval("expected_revenue"),
                                         **_interval("uplift")}),
        "mmm_parameter_draws": _schema("mmm_parameter_draws", PARAMETER_DRAWS),
    },
    EXPERIMENT_PLAN: {  # columns: umm_assets.lib.experiment_plan.COLUMNS
        "designs": _schema("designs", {
            "rank": int, "channel": str, "kind": str, "weeks": int, "spend_level": str, "weekly_spend": float,
            "test_weekly_spend": float, "expected_lift": float, "measurement_sd": float,
            "roas_halfwidth_today": float, "roas_halfwidth_after": float, "value_per_week": float,
            "value_per_week_se": float, "value_per_week_lower": float, "value_per_week_upper": float,
            "revenue_gain_per_week": float, "plan_change_share": float, "revenue_forgone": float,
            "spend_saved": float, "cost": float, "horizon_weeks": int, "value_over_horizon": float,
            "net_value": float, "ess": float, "reweighting_reliable": bool, "optimizer_failures": int,
            "worth_it": bool, "best": bool, "sentence": str},
            nullable=("roas_halfwidth_today", "roas_halfwidth_after")),  # a channel without spend in the window
        "summary": _schema("summary", {
            "noise_cv": float, "noise_source": str, "horizon_weeks": int, "n_outcomes": int, "n_draws": int,
            "min_ess": float, "objective": str, "budget_marginal_roas": float, "test_start": str,
            "top_channel": str, "top_sentence": str, "worth_testing": str, "not_worth_testing": str, "notes": str}),
    },
}


def validate_outputs(asset: str, tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Check a stage's tables against its schemas (coercing dtypes); raises pandera's SchemaError."""
    schemas = SCHEMAS[asset]
    missing = sorted(set(schemas) - set(tables))
    if missing:
        raise ValueError(f"{asset} is missing output table(s) {missing}")
    return {name: schemas[name].validate(frame) if name in schemas else frame for name, frame in tables.items()}
