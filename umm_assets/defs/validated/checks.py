"""Checks of the validated inputs: the data contract (blocking) and completeness (warning).

Both are evaluated inside the asset, against the raw rows, because a contract failure must stop
the write itself: when the contract check fails the asset raises and nothing reaches the
warehouse. Every outcome is also written to the warehouse's data-quality ledger for the API.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import dagster as dg
import pandas as pd

from umm_assets.defs import partition_checks
from umm_assets.lib.storage import Warehouse
from umm_assets.lib.violations import MAX_LISTED, MAX_MESSAGE_CHARS, Violation, shorten, violations_table

CONTRACT_CHECK = "contract"
COMPLETENESS_CHECK = "completeness"


def check_specs(asset: str, partitions: dg.PartitionsDefinition | None = None, *,
                completeness: bool = True) -> list[dg.AssetCheckSpec]:
    """The checks of one validated input, per week when ``partitions`` is given."""
    return partition_checks.specs(asset, partitions, [
        (CONTRACT_CHECK, "Every raw row of the partition obeys data-contract.md (blocking).", True),
        *([(COMPLETENESS_CHECK, "Daily rows cover whole weeks (warning: a partial export).", False)]
          if completeness else []),
    ])


def week_results(asset: str, keys: Sequence[str], rows: int, files: int,
                 partial: dict[dt.date, int]) -> dict[str, list[dg.AssetCheckResult]]:
    """Each week's results when the contract passed: the contract, and whether the week's days are complete."""
    return {key: [contract_passed(asset, rows, files),
                  completeness(asset, {w: n for w, n in partial.items() if w.isoformat() == key})] for key in keys}


def contract_failed(asset: str, violations: Sequence[Violation], message: str) -> dg.AssetCheckResult:
    table = violations_table(violations).head(50)
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=CONTRACT_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
        description=message.splitlines()[0],
        metadata={
            "violations": len(violations),
            "failing_rows": dg.MetadataValue.md(table.to_markdown(index=False) if not table.empty else message),
        },
    )


def contract_passed(asset: str, rows: int, files: int) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(asset_key=asset, check_name=CONTRACT_CHECK, passed=True,
                               metadata={"raw_rows_checked": rows, "files": files})


def completeness(asset: str, partial: dict[dt.date, int]) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=COMPLETENESS_CHECK,
        passed=not partial,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"{len(partial)} week(s) have daily rows for fewer than 7 days" if partial
                     else "every week with daily rows is complete"),
        metadata={"partial_weeks": dg.MetadataValue.json({str(k): v for k, v in partial.items()})},
    )


def record(warehouse: Warehouse, asset: str, partitions: Iterable[str], run_id: str, *,
           passed: bool, messages: Sequence[str] = (), rows: dict[str, int] | None = None,
           warnings: Sequence[str] = ()) -> None:
    """Write the contract verdict for each partition to the data-quality ledger."""
    checked_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    for partition in partitions:
        warehouse.record_quality(asset, partition, {
            "asset": asset,
            "partition": partition,
            "run_id": run_id,
            "checked_at": checked_at,
            "passed": passed,
            "rows": (rows or {}).get(partition),
            "checks": [
                {"name": CONTRACT_CHECK, "passed": passed,
                 "messages": [shorten(m, MAX_MESSAGE_CHARS) for m in messages[:MAX_LISTED]]},
                {"name": COMPLETENESS_CHECK, "passed": not warnings, "messages": list(warnings)},
            ],
        })


def preview(frame: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False) if not frame.empty else "_(no rows)_")


def column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(str(c), str(t)) for c, t in frame.dtypes.items()])
