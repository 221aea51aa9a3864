"""Asset checks per weekly partition, and committing only the weeks that pass the blocking ones.

A run over several weeks reports every week's checks (a check spec with ``partitions_def``, one evaluation
per week: Dagster 1.13's ``AssetCheckResult`` records only a single-partition run's week, so the
evaluation is built here with its week). A week that fails a blocking check is not written; the weeks of
the same run that pass are committed on their own (:func:`commit_passing`) and the run fails naming the
weeks it left out, so one bad week never throws away the good ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence

import dagster as dg

from umm_assets.defs.io_manager import commit
from umm_assets.defs.resources import WarehouseResource
from umm_assets.lib.storage import Stored


def specs(asset: str, partitions: dg.PartitionsDefinition | None,
          checks: Iterable[tuple[str, str, bool]]) -> list[dg.AssetCheckSpec]:
    """One spec per ``(name, description, blocking)``, evaluated per partition of ``partitions``."""
    with warnings.catch_warnings():  # partitioned checks are a preview in Dagster 1.13: what this module relies on
        warnings.simplefilter("ignore", category=dg.PreviewWarning)
        return [dg.AssetCheckSpec(name, asset=asset, description=description, blocking=blocking,
                                  partitions_def=partitions) for name, description, blocking in checks]


def per_week(context: dg.AssetExecutionContext, results: Mapping[str, Sequence[dg.AssetCheckResult]]
             ) -> Iterator[dg.AssetCheckEvaluation | dg.Output]:
    """The evaluations of ``results`` (week -> that week's check results) of the checks this run selected,
    each recorded for its week, then each check's (empty) output."""
    selected = {key.name for key in context.selected_asset_check_keys}
    blocking = {spec.name: spec.blocking for spec in context.assets_def.check_specs}
    for week, week_results in results.items():
        for r in week_results:
            if r.check_name in selected:
                yield dg.AssetCheckEvaluation(asset_key=r.asset_key, check_name=r.check_name, passed=r.passed,
                                              metadata=r.metadata, severity=r.severity, description=r.description,
                                              blocking=blocking[r.check_name], partition=week)
    for key in context.selected_asset_check_keys:
        yield dg.Output(None, output_name=context.assets_def.get_output_name_for_asset_check_key(key))


def failing(context: dg.AssetExecutionContext, results: Mapping[str, Sequence[dg.AssetCheckResult]]
            ) -> dict[str, list[str]]:
    """Weeks that fail a blocking check of ERROR severity, with the checks they fail."""
    blocking = {spec.name for spec in context.assets_def.check_specs if spec.blocking}
    failed = {week: [r.check_name for r in rs if not r.passed and r.severity == dg.AssetCheckSeverity.ERROR
                     and r.check_name in blocking] for week, rs in results.items()}
    return {week: names for week, names in failed.items() if names}


def commit_passing(context: dg.AssetExecutionContext, warehouse: WarehouseResource, values: Mapping[str, Stored],
                   failed: Iterable[str]) -> Iterator[dg.AssetMaterialization]:
    """Write the weeks of ``values`` not in ``failed`` (all or nothing among them) and report each as
    materialized by this run; the failed weeks keep their previous version."""
    passing = {week: value for week, value in values.items() if week not in set(failed)}
    if not passing:
        return
    asset = context.assets_def.key
    for week_commit, metadata in commit(context, warehouse.get(), asset.to_user_string(), passing,
                                        code_version=context.assets_def.code_versions_by_key.get(asset)):
        yield dg.AssetMaterialization(asset_key=asset, partition=week_commit.partition, metadata=metadata)
