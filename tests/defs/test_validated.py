"""validated_* through real Dagster runs: a temporary instance, the real IO manager and warehouse."""

from __future__ import annotations

import contextlib
import gzip
import json

import dagster as dg
import duckdb
import pandas as pd
import pytest

from tests.conftest import VALIDATED, VALIDATED_WEEKLY, tree_digest
from umm_assets.defs.runs import failure_messages
from umm_assets.lib.storage import COMMIT_FILE


def daily_spend_truth(platform, week: str) -> dict[str, float]:
    """Spend per channel in one week, summed straight from the raw files with pandas."""
    frames = []
    for path in sorted((platform.raw / "media_spend").iterdir()):
        read = pd.read_parquet if path.suffix == ".parquet" else pd.read_csv
        frames.append(read(path)[["date", "channel", "spend"]])
    raw = pd.concat(frames)
    days = pd.to_datetime(raw["date"])
    monday = pd.Timestamp(week)
    in_week = raw[(days >= monday) & (days < monday + pd.Timedelta(days=7))]
    return in_week.groupby("channel")["spend"].sum().to_dict()


def test_range_backfill_materializes_every_week(platform):
    weeks = platform.weeks
    result = platform.materialize(VALIDATED, weeks[0], weeks[-1])
    warehouse = platform.warehouse
    for asset in VALIDATED_WEEKLY:
        assert warehouse.partitions(asset) == weeks
    assert warehouse.partitions("validated_tests") == ["all"]

    # days summed into weeks (TV comes as weekly rows, the rest daily, across csv/csv.gz/parquet)
    for week in (weeks[0], weeks[30], weeks[-1]):
        spend = warehouse.read("validated_spend", week).set_index("channel")["spend"]
        assert spend.to_dict() == pytest.approx(daily_spend_truth(platform, week))
    revenue = warehouse.read("validated_outcomes", weeks)
    assert len(revenue) == len(weeks) and (revenue["revenue"] > 0).all()
    tests = warehouse.read("validated_tests", "all")
    assert sorted(tests["test_id"]) == sorted(t["test_id"] for t in platform.truth["tests"])

    # recorded in the instance, with row counts, preview and passing checks
    instance = platform.instance
    assert set(instance.get_materialized_partitions(dg.AssetKey("validated_spend"))) == set(weeks)
    event = instance.get_latest_materialization_event(dg.AssetKey("validated_spend")).asset_materialization
    assert event.metadata["dagster/row_count"].value == 5 * len(weeks)
    assert "channel" in event.metadata["preview"].value
    checks = result.get_asset_check_evaluations()
    assert {(c.asset_key.to_user_string(), c.check_name) for c in checks if c.passed} >= {
        (a, "contract") for a in VALIDATED}

    # lineage beside the data: run id, code version, the raw files the week came from
    commit = warehouse.commit("validated_spend", weeks[-1])
    assert commit.run_id == result.run_id and commit.code_version.endswith("validated.1")
    files = {f["file"] for f in commit.upstream["files"]}
    assert "media_spend/tv_weekly_agency.csv" in files and all(f.startswith("media_spend/") for f in files)


def test_rematerializing_replaces_the_partition(platform):
    week = platform.weeks[10]
    first = platform.materialize(["validated_spend"], week)
    before = platform.warehouse.read("validated_spend", week)
    (platform.raw / "media_spend" / "extra.csv").write_text(f"date,channel,spend\n{week},tv,1000\n")
    second = platform.materialize(["validated_spend"], week)
    after = platform.warehouse.read("validated_spend", week)
    assert platform.warehouse.commit("validated_spend", week).run_id == second.run_id != first.run_id
    tv = lambda frame: frame.set_index("channel").loc["tv", "spend"]  # noqa: E731
    assert tv(after) == pytest.approx(tv(before) + 1000) and len(after) == len(before)
    versions = [p for p in (platform.data_dir / "validated_spend" / week).iterdir() if p.is_dir()]
    assert len(versions) == 2  # the current one and its predecessor (a reader may still be on it)


BAD_INPUTS = {
    # name: (file to write, content, asset that must fail, texts the error must contain)
    "missing_column": ("media_spend/bad.csv", "date,channel,amount\n{week},tv,1\n", "validated_spend",
                       ["media_spend/bad.csv", "column 'spend'", "required column is missing"]),
    "wrong_type": ("media_spend/bad.csv", "date,channel,spend\n{week},tv,1\n{week},search,a lot\n", "validated_spend",
                   ["media_spend/bad.csv", "row 2 (line 3)", "column 'spend'", "must be a finite number"]),
    "unparseable_date": ("outcomes/bad.csv", "date,revenue\n{week},1\n{week}x,2\n", "validated_outcomes",
                         ["outcomes/bad.csv", "row 2", "column 'date'", "dates must be ISO YYYY-MM-DD"]),
    "negative_spend": ("media_spend/bad.csv", "date,channel,spend\n{week},tv,-5\n", "validated_spend",
                       ["media_spend/bad.csv", "row 1 (line 2)", "column 'spend'", "must be non-negative"]),
    "duplicated_rows": ("media_spend/bad.csv", "date,channel,spend\n{week},tv,1\n{week},tv,2\n", "validated_spend",
                        ["media_spend/bad.csv", "row 1", "row 2", "duplicated row"]),
    "ci_out_of_order": ("incrementality_tests/bad.csv",
                        "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\n"
                        "X1,tv,{week},{week},10,20,5\n", "validated_tests",
                        ["incrementality_tests/bad.csv", "row 1", "lift_ci_lower must be <= lift_ci_upper"]),
    "test_ends_before_start": ("incrementality_tests/bad.csv",
                               "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\n"
                               "X1,tv,2024-03-01,2024-02-01,10,5,20\n", "validated_tests",
                               ["incrementality_tests/bad.csv", "row 1", "end_date must not be before start_date"]),
    "empty_file": ("media_spend/empty.csv", "", "validated_spend", ["media_spend/empty.csv", "file is empty"]),
    "non_utf8": ("media_spend/latin1.csv", "date,channel,spend\n{week},t\xe9l\xe9,1\n", "validated_spend",
                 ["media_spend/latin1.csv", "line 2", "not valid UTF-8"]),
    "test_channel_without_spend": ("incrementality_tests/bad.csv",
                                   "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\n"
                                   "X1,radio,{week},{week},10,5,20\n", "validated_tests",
                                   ["incrementality_tests/bad.csv", "row 1", "column 'channel'", "no spend anywhere",
                                    "radio"]),
    "attribution_channel_without_spend": ("attribution/bad.csv", "date,channel,attributed_revenue\n{week},radio,5\n",
                                          "validated_attribution",
                                          ["attribution/bad.csv", "row 1", "column 'channel'", "no spend anywhere"]),
    "partially_written_gzip": ("outcomes/partial.csv.gz", None, "validated_outcomes",
                               ["outcomes/partial.csv.gz", "gzip stream is truncated"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_with_location_and_keeps_the_previous_partition(platform, case):
    rel, content, asset, expected = BAD_INPUTS[case]
    week = platform.weeks[20]
    platform.materialize(VALIDATED, week)
    partition_dir = platform.data_dir / asset / ("all" if asset == "validated_tests" else week)
    before = tree_digest(partition_dir)

    path = platform.raw / rel
    if content is None:
        path.write_bytes(gzip.compress(f"date,revenue\n{week},5\n".encode() * 50)[:-12])
    else:
        path.write_bytes(content.format(week=week).encode("latin-1" if case == "non_utf8" else "utf-8"))
    result = platform.materialize([asset], week, expect_success=False)

    assert not result.success
    message = "\n".join(failure_messages(result))
    for text in expected:
        assert text in message, f"{text!r} not in {message!r}"
    assert tree_digest(partition_dir) == before  # nothing written: byte-identical
    failed = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in failed] == [("contract", False)]
    assert "failing_rows" in failed[0].metadata
    ledger = [r for r in platform.warehouse.quality(asset) if r["run_id"] == result.run_id]
    assert ledger and not ledger[0]["passed"] and expected[-1] in json.dumps(ledger[0])


def test_bad_row_in_another_week_does_not_block_this_one(platform):
    good, bad = platform.weeks[5], platform.weeks[6]
    (platform.raw / "media_spend" / "bad.csv").write_text(f"date,channel,spend\n{bad},tv,-1\n")
    platform.materialize(["validated_spend"], good)
    result = platform.materialize(["validated_spend"], bad, expect_success=False)
    assert "must be non-negative" in "\n".join(failure_messages(result))


def test_week_without_spend_rows_is_an_error(platform):
    week = platform.weeks[-1]
    for path in (platform.raw / "media_spend").iterdir():
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        frame = frame[pd.to_datetime(frame["date"]) < pd.Timestamp(week)]
        (frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False))
    result = platform.materialize(["validated_spend"], week, expect_success=False)
    message = "\n".join(failure_messages(result))
    assert f"no rows in media_spend/ dated in week {week}" in message and "required input" in message
    assert platform.warehouse.partitions("validated_spend") == []


def test_optional_inputs_may_be_absent(platform):
    for folder in ("controls", "attribution", "incrementality_tests"):
        for path in (platform.raw / folder).iterdir():
            path.unlink()
    week = platform.weeks[-1]
    platform.materialize(VALIDATED, week)
    assert platform.warehouse.read("validated_controls", week).empty
    assert platform.warehouse.read("validated_attribution", week).empty
    assert platform.warehouse.read("validated_tests", "all").empty


def test_catalog_views_are_queryable_and_never_block_writers(platform):
    weeks = platform.weeks[:3]
    platform.materialize(VALIDATED_WEEKLY, weeks[0], weeks[-1])
    catalog = platform.data_dir / "catalog.duckdb"
    with contextlib.closing(duckdb.connect(str(catalog), read_only=True)) as analyst:
        assert analyst.execute("select count(distinct partition) from validated_spend").fetchall() == [(3,)]
        # an analyst holding the catalog open does not stop the next materialization
        platform.materialize(["validated_spend"], platform.weeks[3])
        assert analyst.execute("select count(distinct partition) from validated_spend").fetchall() == [(3,)]
    with contextlib.closing(duckdb.connect(str(catalog), read_only=True)) as analyst:
        assert analyst.execute("select count(distinct partition) from validated_spend").fetchall() == [(4,)]
        total = analyst.execute("select sum(revenue) from validated_outcomes").fetchall()[0][0]
    assert total == pytest.approx(platform.warehouse.read("validated_outcomes", weeks)["revenue"].sum())


def test_definitions_graph_snapshot(platform):
    defs = platform.defs
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    model = ["mmm_posterior", "reconciled_lift", "allocation"]
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == sorted(VALIDATED + model)
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    assert checks == sorted([f"{a}:contract" for a in VALIDATED] + [f"{a}:completeness" for a in VALIDATED_WEEKLY]
                            + ["mmm_posterior:convergence", "mmm_posterior:holdout_error",
                               "reconciled_lift:tests_within_predictive_interval", "reconciled_lift:sources_agree",
                               "allocation:budget_sums_to_total", "allocation:bounds_respected",
                               "allocation:uplift_not_negative", "allocation:optimizer_converged"])
    deps = {k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys) for k in
            graph.get_all_asset_keys()}
    assert deps["mmm_posterior"] == ["validated_controls", "validated_outcomes", "validated_spend"]
    assert deps["reconciled_lift"] == ["mmm_posterior", "validated_attribution", "validated_controls",
                                       "validated_outcomes", "validated_spend", "validated_tests"]
    assert deps["allocation"] == ["reconciled_lift", "validated_spend"]
    weekly = defs.resolve_assets_def("validated_spend").partitions_def
    assert weekly.get_partition_keys()[0] == platform.truth["first_week"]
    assert weekly.get_partition_keys()[-1] == platform.truth["last_week"]
    assert {s.name for s in defs.schedules} == {"weekly_refresh"}
    assert {s.name for s in defs.sensors} == {"landing_zone_sensor"}


def test_landing_zone_sensor_requests_a_range_run_on_new_files(platform):
    sensor = platform.defs.resolve_sensor_def("landing_zone_sensor")
    resources = {"landing": platform.defs.resources["landing"]}
    with dg.build_sensor_context(instance=platform.instance, resources=resources) as context:
        request = sensor(context)
        assert isinstance(request, dg.RunRequest)
        assert request.tags["dagster/asset_partition_range_start"] == platform.weeks[0]
        assert request.tags["dagster/asset_partition_range_end"] == platform.weeks[-1]
    with dg.build_sensor_context(instance=platform.instance, resources=resources, cursor=context.cursor) as again:
        assert isinstance(sensor(again), dg.SkipReason)
    (platform.raw / "media_spend" / "late.csv").write_text(f"date,channel,spend\n{platform.weeks[-1]},tv,1\n")
    with dg.build_sensor_context(instance=platform.instance, resources=resources, cursor=context.cursor) as changed:
        assert isinstance(sensor(changed), dg.RunRequest)


def test_commit_pointer_is_the_only_thing_readers_follow(platform):
    week = platform.weeks[0]
    platform.materialize(["validated_spend"], week)
    pointer = json.loads((platform.data_dir / "validated_spend" / week / COMMIT_FILE).read_text())
    assert (platform.data_dir / "validated_spend" / week / pointer["version"] / "data.parquet").exists()
