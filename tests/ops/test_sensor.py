"""Part 4: the landing zone as external assets, observed by the sensor, which keeps file signatures in its
cursor and reads only the files that changed."""

from __future__ import annotations

import datetime as dt
import shutil

import dagster as dg
import pytest

from tests.conftest import INSTANCE_CONFIG
from umm_assets.definitions import build_defs
from umm_assets.defs.resources import LandingZoneResource
from umm_assets.lib import ingest
from umm_assets.lib.contracts import INPUTS
from umm_assets.lib.settings import Settings



@pytest.fixture
def tick(small_world, tmp_path, monkeypatch):
    """``tick(cursor) -> (result, files read)``: one evaluation of the sensor over a copy of the small world."""
    raw_src, truth = small_world
    raw = tmp_path / "raw"
    shutil.copytree(raw_src, raw)
    settings = Settings.from_env({"UMM_RAW_URI": str(raw), "UMM_DATA_DIR": str(tmp_path / "wh"),
                                  "UMM_FIRST_WEEK": truth["first_week"]})
    sensor = build_defs(settings).resolve_sensor_def("landing_zone_sensor")
    read = []
    real = ingest.summarize_file
    monkeypatch.setattr(ingest, "summarize_file", lambda zone, spec, file: read.append(file.path) or real(zone, spec, file))
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home"), overrides=INSTANCE_CONFIG) as instance:
        def run(cursor):
            read.clear()
            context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                              resources={"landing": LandingZoneResource(uri=str(raw))})
            return sensor(context), list(read)

        yield run, raw, truth


def test_the_raw_folders_are_external_assets_upstream_of_validation():
    graph = build_defs().resolve_asset_graph()
    raw = {dg.AssetKey(["raw", spec.folder]) for spec in INPUTS.values()}
    assert raw <= graph.get_all_asset_keys() and all(graph.get(k).is_external for k in raw)
    assert dg.AssetKey(["raw", "media_spend"]) in graph.get(dg.AssetKey("validated_spend")).parent_keys
    assert dg.AssetKey(["raw", "media_spend"]) in graph.get(dg.AssetKey("validated_attribution")).parent_keys


def test_observes_every_folder_then_reads_only_what_changed(tick):
    run, raw, truth = tick
    first, read = run(None)
    assert len(read) == sum(1 for p in raw.rglob("*") if p.is_file() and p.name != "truth.json")
    observed = {e.asset_key.path[-1]: e.metadata for e in first.asset_events}
    assert set(observed) == {spec.folder for spec in INPUTS.values()}
    assert observed["media_spend"]["file_count"].value == len(list((raw / "media_spend").iterdir()))
    assert observed["outcomes"]["rows"].value > 0 and "newest_file" in observed["outcomes"]
    [request] = first.run_requests  # nothing materialized yet: every week with raw rows
    assert (request.tags["dagster/asset_partition_range_start"],
            request.tags["dagster/asset_partition_range_end"]) == (truth["first_week"], truth["last_week"])

    quiet, read = run(first.cursor)
    assert read == [] and isinstance(quiet, dg.SkipReason)

    week = (dt.date.fromisoformat(truth["last_week"]) - dt.timedelta(weeks=3)).isoformat()
    (raw / "media_spend" / "late.csv").write_text(f"date,channel,spend\n{week},tv,10\n")
    late, read = run(first.cursor)
    assert read == ["media_spend/late.csv"]  # one file read, not the landing zone
    assert [e.asset_key.path[-1] for e in late.asset_events] == ["media_spend"]
    [request] = late.run_requests
    assert (request.tags["dagster/asset_partition_range_start"],
            request.tags["dagster/asset_partition_range_end"]) == (week, week)

    (raw / "media_spend" / "late.csv").unlink()
    removed, read = run(late.cursor)
    assert read == [] and [r.tags["dagster/asset_partition_range_start"] for r in removed.run_requests] == [week]
