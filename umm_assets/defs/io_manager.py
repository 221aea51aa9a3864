"""The warehouse IO manager: Dagster's side of :mod:`umm_assets.lib.storage`.

An asset returns a DataFrame or a :class:`Stored` (tables, artifacts, upstream lineage) per
partition; a single-run backfill returns ``{partition_key: value}``. Each partition is committed
atomically with its lineage; loads of one partition or a window go through DuckDB.
"""


from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd

from umm_assets.defs.resources import WarehouseResource
from umm_assets.lib.serving.reader import Snapshot
from umm_assets.lib.storage import DATA_TABLE, UNPARTITIONED, Commit, Stored, Warehouse


class PartitionView(Snapshot):
    """A lazily read multi-table partition (e.g. an ``mmm_posterior`` week) handed to downstream assets."""

    def __init__(self, warehouse: Warehouse, commit: Commit):
        super().__init__(commit, warehouse.read_commit)
        self.warehouse = warehouse

    def file(self, name: str):
        return self.warehouse.file(self.commit.asset, self.commit.partition, name, commit=self.commit)


def _as_stored(value: Any) -> Stored:
    if isinstance(value, Stored):
        return value
    if isinstance(value, pd.DataFrame):
        return Stored.table(value)
    raise TypeError(f"the warehouse stores DataFrames or Stored values, not {type(value).__name__}")


def _refresh_catalog(context, warehouse: Warehouse) -> str:
    """Rebuild the analysts' catalog. The partitions are committed by then, and the run's outcome must agree
    with its commits: a catalog that cannot be rebuilt (a convenience view, rebuilt on every write) is a
    warning in the run and the materialization's metadata, not a failed run that nevertheless wrote data."""
    try:
        skipped = warehouse.refresh_catalog()
    except Exception as err:  # noqa: BLE001 (whatever broke the catalog, the data is committed)
        context.log.warning(f"catalog.duckdb was not rebuilt ({err}); the next write rebuilds it")
        return f"not rebuilt: {err}"
    if not skipped:
        return "rebuilt"
    outcome = f"rebuilt without {len(skipped)} unreadable partition(s): " + "; ".join(skipped[:5])
    context.log.warning(f"catalog.duckdb {outcome}")
    return outcome


def commit(context, warehouse: Warehouse, asset: str, values: Mapping[str, Stored], *,
           code_version: str | None) -> list[tuple[Commit, dict]]:
    """Write ``values`` (partition -> value) all or nothing, rebuild the catalog, and return each commit with
    the metadata its materialization carries. ``context`` is the output's or the asset's (run id, log)."""
    commits = warehouse.write_many(asset, values, run_id=context.run_id, code_version=code_version)
    catalog = _refresh_catalog(context, warehouse)
    return [(c, {"warehouse_path": dg.MetadataValue.path(f"{warehouse.uri}/{asset}/{c.partition}/{c.version}"),
                 "version": c.version, "partitions_written": len(commits), "tables": dg.MetadataValue.json(c.tables),
                 "catalog": catalog}) for c in commits]


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores asset partitions as Parquet in the warehouse (``UMM_DATA_DIR``), local or s3://."""

    warehouse_resource: dg.ResourceDependency[WarehouseResource]

    def warehouse(self) -> Warehouse:
        return self.warehouse_resource.get()

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        if obj is None:
            return
        warehouse = self.warehouse()
        asset = context.asset_key.to_user_string()
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [UNPARTITIONED]
        if len(keys) > 1 or (isinstance(obj, Mapping) and set(obj) == set(keys)):
            if not isinstance(obj, Mapping) or set(obj) != set(keys):
                raise TypeError(f"{asset}: a run over {len(keys)} partitions must return one value per partition")
            values = {k: _as_stored(obj[k]) for k in keys}
        else:
            values = {keys[0]: _as_stored(obj)}
        written = commit(context, warehouse, asset, values, code_version=context.asset_spec.code_version)
        context.add_output_metadata(written[-1][1])

    def load_input(self, context: dg.InputContext) -> Any:
        warehouse = self.warehouse()
        asset = context.asset_key.to_user_string()
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else [UNPARTITIONED]
        commits = {k: c for k in keys if (c := warehouse.commit(asset, k)) is not None}
        missing = [k for k in keys if k not in commits]
        if missing:
            context.log.info(f"{asset}: {len(missing)} of {len(keys)} upstream partitions are not materialized "
                             f"({missing[0]} .. {missing[-1]}); loading the {len(commits)} that are")
        if not commits:
            raise dg.Failure(f"{asset} has no materialized partition among {keys[0]} .. {keys[-1]}: "
                             f"materialize it first")
        if all(set(c.tables) == {DATA_TABLE} for c in commits.values()):
            return warehouse.read(asset, list(commits))
        views = {k: PartitionView(warehouse, c) for k, c in commits.items()}
        return views if context.has_asset_partitions and len(keys) > 1 else next(iter(views.values()))
