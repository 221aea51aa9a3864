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
from umm_assets.lib.storage import DATA_TABLE, UNPARTITIONED, Commit, Stored, Warehouse


class PartitionView:
    """A lazily read multi-table partition (e.g. an ``mmm_posterior`` week) handed to downstream assets."""

    def __init__(self, warehouse: Warehouse, commit: Commit):
        self.warehouse = warehouse
        self.commit = commit

    @property
    def partition(self) -> str:
        return self.commit.partition

    def table(self, name: str) -> pd.DataFrame:
        return self.warehouse.read_commit(self.commit, name)

    def file(self, name: str):
        return self.warehouse.file(self.commit.asset, self.commit.partition, name, commit=self.commit)


def _as_stored(value: Any) -> Stored:
    if isinstance(value, Stored):
        return value
    if isinstance(value, pd.DataFrame):
        return Stored.table(value)
    raise TypeError(f"the warehouse stores DataFrames or Stored values, not {type(value).__name__}")


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
        commits = [
            warehouse.write(asset, key, stored, run_id=context.run_id, code_version=context.asset_spec.code_version)
            for key, stored in values.items()
        ]
        warehouse.refresh_catalog()
        newest = commits[-1]
        context.add_output_metadata({
            "warehouse_path": dg.MetadataValue.path(f"{warehouse.uri}/{asset}/{newest.partition}/{newest.version}"),
            "version": newest.version,
            "partitions_written": len(commits),
            "tables": dg.MetadataValue.json(newest.tables),
        })

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
