"""Part 1: Dagster's instance on PostgreSQL, selected by UMM_DAGSTER_PG_URL alone. The session's world ran
`umm materialize` (validation over every week, then the model chain) against a throwaway PostgreSQL; its
runs, events and checks are read back here through Dagster's instance API and straight from the database."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from tests.conftest import MODEL_CHAIN, ROOT, VALIDATED
from tests.servers import environment

pytestmark = [pytest.mark.ops, pytest.mark.postgres]


def test_runs_and_events_are_stored_in_postgres(ops_world):
    with ops_world.active():
        instance = ops_world.instance()
        runs = instance.get_runs()
        chain = [r for r in runs if {k.to_user_string() for k in r.asset_selection or []} == set(MODEL_CHAIN)]
        validation = [r for r in runs if {k.to_user_string() for k in r.asset_selection or []} == set(VALIDATED)]
        assert len(validation) == 1 and len(chain) == len(ops_world.model_weeks)
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in [*validation, *chain])
        assert sorted(instance.get_materialized_partitions(dg.AssetKey("validated_spend"))) == ops_world.weeks
        assert sorted(instance.get_materialized_partitions(dg.AssetKey("allocation"))) == ops_world.model_weeks
        # pool limits and run retries come from the same dagster.yaml, whatever the storage
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
    home = ops_world.env["DAGSTER_HOME"]
    with psycopg2.connect(ops_world.env["UMM_DAGSTER_PG_URL"]) as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from runs")
        assert cursor.fetchone()[0] == len(runs)
        cursor.execute("select count(*) from event_logs where asset_key is not null")
        assert cursor.fetchone()[0] > len(ops_world.weeks)
    assert not (Path(home) / "history" / "runs.db").exists()  # nothing went to SQLite


def test_without_the_switch_the_instance_stays_on_sqlite(tmp_path):
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", tmp_path / "dagster.yaml")
    with environment({"DAGSTER_HOME": str(tmp_path), "UMM_DAGSTER_PG_URL": ""}):
        with dg.DagsterInstance.get() as instance:
            assert instance.get_runs() == []
    assert (tmp_path / "history" / "runs.db").exists() and (tmp_path / "event_log.db").exists()
