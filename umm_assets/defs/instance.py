"""The Dagster instance's storage, chosen by one switch (``dagster_home/dagster.yaml`` names this class).

``UMM_DAGSTER_PG_URL=postgresql://user:pass@host:port/db`` puts run, event-log and schedule storage in
that Postgres database (dagster-postgres); unset, they stay in SQLite under ``DAGSTER_HOME``, with the one
consolidated event-log file measured to be 2x faster for weekly backfills. Every process that loads the
instance reads the switch the same way: ``umm`` commands, ``dagster dev``'s webserver, daemon and run
workers, and Dask workers (they rebuild the instance from its reference).

This is a Dagster instance plugin (``storage: custom:``). Dagster offers no public base class for one, so
this module alone imports from ``dagster._core``/``dagster._serdes``; it builds Dagster's own storage classes
from their configuration, the way ``dagster.yaml`` would.
"""

import os

import dagster as dg
import yaml
from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from umm_assets.lib.settings import load_settings


def psycopg2_url(url: str) -> str:
    """dagster-postgres talks psycopg2; SQLAlchemy 2 maps a bare ``postgresql://`` to psycopg 3."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg2://{rest}" if "+" not in scheme else url


def _data(module: str, cls: str, config: dict) -> ConfigurableClassData:
    return ConfigurableClassData(module, cls, yaml.dump(config, default_flow_style=False))


def _sqlite(base_dir: str) -> ConfigurableClassData:
    """What the instance used before this switch: SQLite runs and schedules, one consolidated event log."""
    def part(module: str, cls: str, folder: str) -> dict:
        data = _data(module, cls, {"base_dir": folder})
        return {"module_name": data.module_name, "class_name": data.class_name, "config_yaml": data.config_yaml}

    return _data("dagster._core.storage.legacy_storage", "CompositeStorage", {
        "run_storage": part("dagster._core.storage.runs", "SqliteRunStorage", os.path.join(base_dir, "history", "")),
        "event_log_storage": part("dagster._core.storage.event_log", "ConsolidatedSqliteEventLogStorage", base_dir),
        "schedule_storage": part("dagster._core.storage.schedules", "SqliteScheduleStorage",
                                 os.path.join(base_dir, "schedules")),
    })


def storage_data(base_dir: str) -> ConfigurableClassData:
    """The configuration of the storage the switch selects."""
    url = load_settings().dagster_pg_url
    if url:
        return _data("dagster_postgres", "DagsterPostgresStorage", {"postgres_url": psycopg2_url(url)})
    return _sqlite(base_dir)


class InstanceStorage(DagsterStorage, ConfigurableClass):
    """Never instantiated: loading it from ``dagster.yaml`` returns the storage :func:`storage_data` selects."""

    @classmethod
    def config_type(cls):
        return {"base_dir": dg.StringSource}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> DagsterStorage:
        return storage_data(config_value["base_dir"]).rehydrate(as_type=DagsterStorage)
