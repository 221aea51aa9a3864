"""Resources: the landing zone and the warehouse (each a local folder or an S3 prefix), and DuckDB for reads.

Both reach S3 through the platform's one S3 client (:func:`umm_assets.lib.storage.s3_filesystem`),
configured by AWS's standard settings (``AWS_ENDPOINT_URL`` for an S3-compatible server).
"""


import dagster as dg
from dagster_duckdb import DuckDBResource

from umm_assets.lib.landing import LandingZone, WeeklyBesideDaily, open_landing_zone
from umm_assets.lib.storage import Warehouse


class LandingZoneResource(dg.ConfigurableResource):
    """Where raw files land: ``UMM_RAW_URI``, a folder or ``s3://bucket/prefix``.

    ``weekly_beside_daily`` is ``UMM_WEEKLY_BESIDE_DAILY`` (see ``docs/data-contract.md``).
    """

    uri: str
    weekly_beside_daily: WeeklyBesideDaily = WeeklyBesideDaily.error

    def zone(self) -> LandingZone:
        return open_landing_zone(self.uri)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse, ``UMM_DATA_DIR`` (a folder or ``s3://bucket/prefix``), read through DuckDB.

    Reads use an in-memory DuckDB (``DuckDBResource(database=":memory:")``) over the Parquet
    files: no database file, so no lock shared with any other process.
    """

    data_dir: str
    duckdb: dg.ResourceDependency[DuckDBResource]

    def get(self) -> Warehouse:
        return Warehouse(self.data_dir, connect=self.duckdb.get_connection)
