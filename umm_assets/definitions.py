"""The Dagster code location: ``defs`` is built when Dagster loads it, from the platform's settings."""

import warnings

import dagster as dg
from dagster_duckdb import DuckDBResource

from umm_assets.defs import automation
from umm_assets.defs.allocation.assets import build_allocation_asset
from umm_assets.defs.experiment_plan.assets import build_experiment_plan_asset
from umm_assets.defs.io_manager import WarehouseIOManager
from umm_assets.defs.mmm_posterior.assets import build_mmm_asset
from umm_assets.defs.partitions import first_week, weekly_partitions
from umm_assets.defs.raw import raw_specs
from umm_assets.defs.reconciled_lift.assets import build_reconcile_asset
from umm_assets.defs.resources import MODEL_COMPILE_CACHE, LandingZoneResource, WarehouseResource
from umm_assets.defs.runs import console_logger
from umm_assets.defs.validated.assets import validated_assets
from umm_assets.lib.settings import Settings, load_settings


def executor(settings: Settings) -> dg.ExecutorDefinition:
    """Where a run's steps execute: on the Dask scheduler of ``UMM_DASK_ADDRESS`` (each worker a thread of its
    own, see the README's "Deployment"), else in local processes, at most two at once (two cores, and model
    fits use both cores themselves)."""
    if settings.dask_address:  # imported only then: dagster-dask imports dask's dataframes and arrays (~3 s)
        from umm_assets.defs.dask_executor import dask_executor

        return dask_executor.configured({"address": settings.dask_address})
    return dg.multiprocess_executor.configured({"max_concurrent": 2})


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    """Everything in the code location, configured by ``settings`` (default: the environment's)."""
    settings = settings or load_settings()
    with warnings.catch_warnings():
        if settings.log_level != "DEBUG":  # UMM_LOG_LEVEL=DEBUG shows them
            quiet_dagster_warnings()
        return _build(settings)


def _build(settings: Settings) -> dg.Definitions:
    weekly = weekly_partitions(first_week(settings))
    warehouse = WarehouseResource(data_dir=settings.data_dir, duckdb=DuckDBResource(database=":memory:"))
    validated_job = automation.validated_job(weekly)
    model_chain_job = automation.model_chain_job(weekly)
    assets = [
        *validated_assets(weekly),
        build_mmm_asset(weekly, settings.model_window_weeks, settings.dash_url),
        build_reconcile_asset(weekly, settings.model_window_weeks, settings.dash_url),
        build_allocation_asset(weekly, settings.dash_url),
        build_experiment_plan_asset(weekly, settings.model_window_weeks, settings.dash_url),
    ]
    freshness_checks, freshness_sensor = automation.freshness_checks([a for a in assets if a.partitions_def])
    return dg.Definitions(
        assets=[*raw_specs(), *assets],
        asset_checks=freshness_checks,
        jobs=[validated_job, model_chain_job],
        schedules=[automation.weekly_refresh_schedule(validated_job)],
        sensors=[automation.landing_zone_sensor(validated_job, weekly), freshness_sensor,
                 automation.weekly_refresh_chain(validated_job, model_chain_job)],
        resources={
            "landing": LandingZoneResource(uri=settings.raw_uri, weekly_beside_daily=settings.weekly_beside_daily),
            "warehouse": warehouse,
            "warehouse_io_manager": WarehouseIOManager(warehouse_resource=warehouse),
            "model_cache": MODEL_COMPILE_CACHE,
        },
        executor=executor(settings),
        loggers={"console": console_logger},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs()


def quiet_dagster_warnings() -> None:
    """Dagster's warnings about its own APIs (beta, preview, superseded) are for Dagster's developers: the
    platform uses those APIs on purpose (per-week checks, backfill policies, window mappings), and its users
    should not read 24 such lines whenever the code location loads."""
    for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
        warnings.filterwarnings("ignore", category=category)
