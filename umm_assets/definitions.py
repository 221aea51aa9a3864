"""The Dagster code location: ``defs`` is built when Dagster loads it, from the platform's settings."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from umm_assets.defs import automation
from umm_assets.defs.dask_executor import dask_executor
from umm_assets.defs.io_manager import WarehouseIOManager
from umm_assets.defs.partitions import weekly_partitions
from umm_assets.defs.raw import raw_specs
from umm_assets.defs.resources import LandingZoneResource, WarehouseResource
from umm_assets.defs.runs import console_logger
from umm_assets.defs.allocate.assets import build_allocation_asset
from umm_assets.defs.model.assets import build_mmm_asset
from umm_assets.defs.reconcile.assets import build_reconcile_asset
from umm_assets.defs.validated.assets import validated_assets
from umm_assets.lib.settings import Settings, load_settings


def executor(settings: Settings) -> dg.ExecutorDefinition:
    """Where a run's steps execute: on the Dask scheduler of ``UMM_DASK_ADDRESS`` (each worker a thread of its
    own, see the README's "Deployment"), else in local processes, at most two at once (two cores, and model
    fits use both cores themselves)."""
    if settings.dask_address:
        return dask_executor.configured({"address": settings.dask_address})
    return dg.multiprocess_executor.configured({"max_concurrent": 2})


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    """Everything in the code location, configured by ``settings`` (default: the environment's)."""
    settings = settings or load_settings()
    weekly = weekly_partitions(settings.first_week)
    warehouse = WarehouseResource(data_dir=settings.data_dir, duckdb=DuckDBResource(database=":memory:"))
    validated_job = automation.validated_job(weekly)
    weekly_refresh_job = automation.weekly_refresh_job(weekly)
    assets = [
        *validated_assets(weekly),
        build_mmm_asset(weekly, settings.model_window_weeks),
        build_reconcile_asset(weekly, settings.model_window_weeks),
        build_allocation_asset(weekly),
    ]
    freshness_checks, freshness_sensor = automation.freshness_checks([a for a in assets if a.partitions_def])
    return dg.Definitions(
        assets=[*raw_specs(), *assets],
        asset_checks=freshness_checks,
        jobs=[validated_job, weekly_refresh_job, automation.materialize_job(weekly)],
        schedules=[automation.weekly_refresh_schedule(weekly_refresh_job)],
        sensors=[automation.landing_zone_sensor(validated_job, weekly), freshness_sensor],
        resources={
            "landing": LandingZoneResource(uri=settings.raw_uri, weekly_beside_daily=settings.weekly_beside_daily),
            "warehouse": warehouse,
            "warehouse_io_manager": WarehouseIOManager(warehouse_resource=warehouse),
        },
        executor=executor(settings),
        loggers={"console": console_logger},
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs()
