"""A new user's first run, without fitting: partitions start where the landing zone's data starts, `umm materialize
--daemon` queues a real backfill in the instance (what `make run` does before the daemon starts), the landing-zone
sensor does not validate the same weeks again while that backfill is queued, and the readers' "being
materialized" lookup finds the backfill (and a queued run) for exactly the asset weeks they target."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from tests.conftest import INSTANCE_CONFIG
from umm_assets.cli import main
from umm_assets.definitions import build_defs
from umm_assets.defs.progress import instance_lookup
from umm_assets.defs.resources import LandingZoneResource
from umm_assets.defs.runs import PARTITION, backfills_in_progress
from umm_assets.lib.serving.progress import CachedLookup, InProgress
from umm_assets.lib.settings import Settings, load_settings


def test_partitions_start_at_the_first_week_with_data_unless_set(platform, tmp_path):
    truth = platform.truth
    unset = Settings.from_env({"UMM_RAW_URI": str(platform.raw), "UMM_DATA_DIR": str(tmp_path / "wh")})
    keys = build_defs(unset).resolve_assets_def("validated_spend").partitions_def.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == (truth["first_week"], truth["last_week"], truth["weeks"])
    later = (dt.date.fromisoformat(truth["first_week"]) + dt.timedelta(weeks=10)).isoformat()
    chosen = unset.model_copy(update={"first_week": dt.date.fromisoformat(later)})
    assert build_defs(chosen).resolve_assets_def("validated_spend").partitions_def.get_partition_keys()[0] == later
    empty = unset.model_copy(update={"raw_uri": str(tmp_path / "empty")})
    keys = build_defs(empty).resolve_assets_def("validated_spend").partitions_def.get_partition_keys()
    assert keys == [truth["last_week"]]  # nothing to show yet: only the last complete week


def test_materialize_daemon_queues_one_backfill_the_sensor_and_readers_see(platform, tmp_path, monkeypatch, capsys):
    home = tmp_path / "queue_home"
    home.mkdir()
    monkeypatch.setenv("UMM_RAW_URI", str(platform.raw))
    monkeypatch.setenv("UMM_DATA_DIR", str(platform.data_dir))
    load_settings.cache_clear()
    with dg.instance_for_test(temp_dir=str(home), overrides=INSTANCE_CONFIG) as instance:
        assert main(["materialize", "--latest", "--daemon"]) == 0
        backfill_id = capsys.readouterr().out.strip().splitlines()[-1]
        [backfill] = backfills_in_progress(instance)
        assert backfill.backfill_id == backfill_id  # queued, nothing ran in this process
        assert not instance.get_runs()
        last = platform.truth["last_week"]
        target = backfill.asset_backfill_data.target_subset
        assert target.get_partitions_subset(dg.AssetKey("validated_spend")).get_partition_keys() == platform.weeks
        assert list(target.get_partitions_subset(dg.AssetKey("mmm_posterior")).get_partition_keys()) == [last]
        assert dg.AssetKey("validated_tests") in target.asset_keys

        # the landing-zone sensor's first tick records the landing zone instead of validating it a second time
        sensor = platform.defs.resolve_sensor_def("landing_zone_sensor")
        context = dg.build_sensor_context(instance=instance, resources={"landing": LandingZoneResource(
            uri=str(platform.raw))})
        result = sensor(context)
        assert not result.run_requests and result.cursor

        # readers: the chain's newest week is "being materialized" by that backfill; an older week is not
        lookup = instance_lookup(instance)
        found = lookup("allocation", last)
        assert (found.backfill_id, found.run_id, found.state) == (backfill_id, None, "waiting for its upstream assets")
        assert lookup("allocation", platform.weeks[-2]) is None
        assert lookup("validated_spend", platform.weeks[3]).backfill_id == backfill_id
        assert lookup("allocation", None).backfill_id == backfill_id  # "the newest week", none materialized yet

        # a run created for the week (not started yet) names itself and its time, before the backfill does
        job = platform.defs.resolve_implicit_global_asset_job_def()
        run = instance.create_run_for_job(job, asset_selection=frozenset({dg.AssetKey("mmm_posterior")}),
                                          tags={PARTITION: last}, status=dg.DagsterRunStatus.NOT_STARTED)
        queued = lookup("mmm_posterior", last)
        assert (queued.run_id, queued.state) == (run.run_id, "queued")
        assert queued.message.startswith(f"being materialized — run {run.run_id[:8]}, queued ")
        assert queued.ui_path() == f"/runs/{run.run_id}"


def test_the_cached_lookup_asks_once_per_ttl_and_never_fails_its_reader():
    calls = []

    def flaky(asset, week):
        calls.append((asset, week))
        if asset == "broken":
            raise OSError("database is locked")
        return InProgress(asset, week, "running", 0.0, run_id="abcdef0123456789")

    lookup = CachedLookup(flaky, ttl=60)
    assert lookup("allocation", "2026-11-23").message == ("being materialized — run abcdef01, started "
                                                           "1970-01-01 00:00:00 UTC")
    lookup("allocation", "2026-11-23")
    assert calls == [("allocation", "2026-11-23")]
    assert lookup("broken", None) is None


def test_the_weekly_refresh_fits_after_its_own_validation_only(platform):
    """The schedule's validation run leads to the chain for its week; a validation the landing-zone sensor
    started for a late file does not refit (the next weekly refresh does)."""
    week = platform.truth["last_week"]
    validated = platform.defs.resolve_job_def("validated_job")
    scheduled = validated.execute_in_process(instance=platform.instance, partition_key=week,
                                             tags={"dagster/schedule_name": "weekly_refresh"})
    request = platform.chain_request(scheduled.run_id)
    assert isinstance(request, dg.RunRequest) and request.partition_key == week
    assert request.run_key == f"weekly_refresh:{scheduled.run_id}"  # one chain run per validation run
    late_file = validated.execute_in_process(instance=platform.instance, partition_key=week,
                                             tags={"dagster/sensor_name": "landing_zone_sensor"})
    assert isinstance(platform.chain_request(late_file.run_id), dg.SkipReason)
