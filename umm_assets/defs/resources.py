"""Resources: the landing zone and the warehouse (each a local folder or an S3 prefix), DuckDB for reads, and
the model stages' compiled models.

The landing zone and the warehouse reach S3 through the platform's one S3 client
(:func:`umm_assets.lib.storage.s3_filesystem`), configured by AWS's standard settings (``AWS_ENDPOINT_URL`` for an
S3-compatible server).
"""


import dagster as dg
from dagster_duckdb import DuckDBResource

from umm_assets.lib.landing import LandingZone, WeeklyBesideDaily, open_landing_zone
from umm_assets.lib.mmm.config import MMMConfig
from umm_assets.lib.mmm.fit import MMMFitter
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


class ModelCompileCache:
    """One :class:`MMMFitter` per model structure (:meth:`MMMConfig.fingerprint`), shared by mmm_posterior and
    reconciled_lift's calibrated refit, so that every window of one shape reuses its compiled model.

    A plain object, not a ``ConfigurableResource``: Dagster copies those for every run, which would drop the
    compiled models between the runs of a backfill executed in one process.
    """

    def __init__(self) -> None:
        self._fitters: dict[str, MMMFitter] = {}

    def fitter_for(self, config: MMMConfig) -> MMMFitter:
        """The structure's fitter, sampling with the settings asked for now (an escalated retry differs
        only in those)."""
        key = config.fingerprint()
        if key not in self._fitters:
            self._fitters[key] = MMMFitter(config)
        fitter = self._fitters[key]
        fitter.config = config
        return fitter


# The process's cache, in every Definitions built in it: a process that builds the code location again (a Dask
# worker for a later step, a test session) still finds the models compiled before.
MODEL_COMPILE_CACHE = ModelCompileCache()
