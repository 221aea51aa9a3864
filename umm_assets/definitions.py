"""The Dagster code location: ``defs`` is built when Dagster loads it, from the environment."""


import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_duckdb import DuckDBResource

from umm_assets.defs import automation
from umm_assets.defs.io_manager import WarehouseIOManager
from umm_assets.defs.partitions import weekly_partitions
from umm_assets.defs.resources import LandingZoneResource, WarehouseResource
from umm_assets.defs.allocate.assets import build_allocation_asset
from umm_assets.defs.model.assets import build_mmm_asset
from umm_assets.defs.reconcile.assets import build_reconcile_asset
from umm_assets.defs.validated.assets import validated_assets
from umm_assets.lib.settings import Settings


def build_defs(settings: Settings | None = None) -> dg.Definitions:
    """Everything in the code location, configured by ``settings`` (default: the environment)."""
    settings = settings or Settings.from_env()
    weekly = weekly_partitions(settings.first_week)
    warehouse = WarehouseResource(data_dir=settings.data_dir, duckdb=DuckDBResource(database=":memory:"))
    validated_job = automation.validated_job(weekly)
    weekly_refresh_job = automation.weekly_refresh_job(weekly)
    return dg.Definitions(
        assets=[
            *validated_assets(weekly),
            build_mmm_asset(weekly, settings.model_window_weeks),
            build_reconcile_asset(weekly, settings.model_window_weeks),
            build_allocation_asset(weekly),
        ],
        jobs=[validated_job, weekly_refresh_job],
        schedules=[automation.weekly_refresh_schedule(weekly_refresh_job)],
        sensors=[automation.landing_zone_sensor(validated_job, weekly)],
        resources={
            "landing": LandingZoneResource(uri=settings.raw_uri, s3=S3Resource()),
            "warehouse": warehouse,
            "warehouse_io_manager": WarehouseIOManager(warehouse_resource=warehouse),
        },
        # two cores: at most two steps at once (model fits use both cores themselves)
        executor=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_defs()
