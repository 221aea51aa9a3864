"""Checks of ``reconciled_lift``: the experiments agree with the reconciled model; sources agree."""

import dagster as dg
import pandas as pd

from umm_assets.defs import partition_checks
from umm_assets.lib.reconcile import sources_disagree

ASSET = "reconciled_lift"
TEST_COVERAGE = "tests_within_predictive_interval"
SOURCES_AGREE = "sources_agree"
UNTESTED_WITHIN_MMM = "untested_within_mmm_interval"


def check_specs(partitions: dg.PartitionsDefinition) -> list[dg.AssetCheckSpec]:
    """Evaluated per week (see :mod:`umm_assets.defs.partition_checks`); all warnings."""
    return partition_checks.specs(ASSET, partitions, [
        (TEST_COVERAGE, "Each test's measured lift lies in the reconciled model's 90 % predictive interval for its "
                        "window (coverage reported).", False),
        (SOURCES_AGREE, "MMM, tests and calibrated attribution overlap within their intervals (warning).", False),
        (UNTESTED_WITHIN_MMM, "Every untested channel's reconciled ROAS stays inside the MMM's own 90 % interval; one "
                              "that leaves it is held at its current spend by the allocation.", False),
    ])


def results(tables: dict[str, pd.DataFrame]) -> list[dg.AssetCheckResult]:
    coverage = tables["test_coverage"]
    reconciled = coverage[coverage["source"] == "reconciled"]
    missed = reconciled[~reconciled["covered"]]
    summary = tables["summary"].iloc[0]
    table = tables["reconciled"]
    disagreeing = [row["channel"] for _, row in table.iterrows() if sources_disagree(row)]
    return [
        dg.AssetCheckResult(
            asset_key=ASSET, check_name=TEST_COVERAGE, passed=bool(missed.empty), severity=dg.AssetCheckSeverity.WARN,
            description=(f"{len(missed)} of {len(reconciled)} test(s) outside the reconciled interval: "
                         + ", ".join(missed["test_id"]) if not missed.empty
                         else f"all {len(reconciled)} test(s) covered" if len(reconciled) else "no tests in the window"),
            metadata={"coverage_reconciled": float(summary["coverage_reconciled"]) if len(reconciled) else None,
                      "coverage_mmm": float(summary["coverage_mmm"]) if len(reconciled) else None,
                      "tests": len(reconciled)},
        ),
        dg.AssetCheckResult(
            asset_key=ASSET, check_name=SOURCES_AGREE, passed=bool(not disagreeing), severity=dg.AssetCheckSeverity.WARN,
            description=("sources disagree beyond their intervals for " + ", ".join(disagreeing)) if disagreeing
            else "sources agree within their intervals",
            metadata={"channels": dg.MetadataValue.json(disagreeing)},
        ),
        _untested_within_mmm(table),
    ]


def _untested_within_mmm(table: pd.DataFrame) -> dg.AssetCheckResult:
    held = table[table["hold_in_allocation"]]
    numbers = held[["channel", "roas_mean", "mmm_roas_mean", "mmm_roas_lower", "mmm_roas_upper",
                    "shift_tests", "shift_attribution"]]
    return dg.AssetCheckResult(
        asset_key=ASSET, check_name=UNTESTED_WITHIN_MMM, passed=bool(held.empty), severity=dg.AssetCheckSeverity.WARN,
        description=" ".join(held["guard_note"]) or "every untested channel within the MMM's own interval",
        metadata={"held": dg.MetadataValue.json(numbers.round(4).to_dict(orient="records"))})

