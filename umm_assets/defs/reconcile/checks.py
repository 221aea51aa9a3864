"""Checks of ``reconciled_lift``: the experiments agree with the reconciled model; sources agree."""

import dagster as dg
import pandas as pd

from umm_assets.lib.reconcile import sources_disagree

ASSET = "reconciled_lift"
TEST_COVERAGE = "tests_within_predictive_interval"
SOURCES_AGREE = "sources_agree"


def check_specs() -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(TEST_COVERAGE, asset=ASSET,
                          description="Each test's measured lift lies in the reconciled model's 90 % predictive "
                                      "interval for its window (coverage reported)."),
        dg.AssetCheckSpec(SOURCES_AGREE, asset=ASSET,
                          description="MMM, tests and calibrated attribution overlap within their intervals (warning)."),
    ]


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
    ]

