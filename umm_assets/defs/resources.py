"""Resources: the landing zone (local folder or S3 through dagster-aws) and DuckDB for reads."""


import dagster as dg
from dagster_aws.s3 import S3Resource
from dagster_duckdb import DuckDBResource

from umm_assets.lib.landing import LandingZone, LocalLandingZone, S3LandingZone
from umm_assets.lib.storage import Warehouse


class LandingZoneResource(dg.ConfigurableResource):
    """Where raw files land: ``UMM_RAW_URI``, a folder or ``s3://bucket/prefix``.

    S3 goes through dagster-aws's ``S3Resource``; its endpoint comes from the usual AWS settings
    (``AWS_ENDPOINT_URL`` for an S3-compatible server), which boto3 reads itself.
    """

    uri: str
    s3: dg.ResourceDependency[S3Resource]

    def zone(self) -> LandingZone:
        if self.uri.startswith("s3://"):
            return S3LandingZone(self.s3.get_client(), self.uri)
        return LocalLandingZone(self.uri)


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse, ``UMM_DATA_DIR`` (a folder or ``s3://bucket/prefix``), read through DuckDB.

    Reads use an in-memory DuckDB (``DuckDBResource(database=":memory:")``) over the Parquet
    files: no database file, so no lock shared with any other process.
    """

    data_dir: str
    duckdb: dg.ResourceDependency[DuckDBResource]

    def get(self) -> Warehouse:
        return Warehouse(self.data_dir, connect=self.duckdb.get_connection)
