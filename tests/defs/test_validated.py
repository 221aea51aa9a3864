"""validated_* through real Dagster runs: a temporary instance, the real IO manager and warehouse."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import gzip
import json
import shutil

import dagster as dg
import duckdb
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from tests.conftest import VALIDATED, VALIDATED_WEEKLY, tree_digest
from umm_api.app import create_app
from umm_api.settings import ApiSettings
from umm_assets.definitions import build_defs
from umm_assets.defs.runs import failure_messages
from umm_assets.lib.landing import WeeklyBesideDaily
from umm_assets.lib.serving.keys import KeyStore
from umm_assets.lib.storage import COMMIT_FILE, Warehouse


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

    def write() -> None:
        path = platform.raw / rel
        if content is None:
            path.write_bytes(gzip.compress(f"date,revenue\n{week},5\n".encode() * 50)[:-12])
        else:
            path.write_bytes(content.format(week=week).encode("latin-1" if case == "non_utf8" else "utf-8"))

    assert_rejected(platform, asset, week, write, expected)


def assert_rejected(platform, asset: str, week: str, write, expected: list[str]):
    """``write()`` breaks the landing zone: materializing ``asset`` for ``week`` must fail naming every text of
    ``expected``, leave its partition byte-identical, and record the failure in the data-quality ledger."""
    partition_dir = platform.data_dir / asset / ("all" if asset == "validated_tests" else week)
    before = tree_digest(partition_dir)
    write()
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
    return result, ledger[0]


def _day(week: str, offset: int) -> str:
    return (dt.date.fromisoformat(week) + dt.timedelta(days=offset)).isoformat()


def _text(rel: str, text: str):
    return lambda raw, week: (raw / rel).write_text(text.format(week=week, tue=_day(week, 1), wed=_day(week, 2)))


def _parquet(rel: str, frame):
    return lambda raw, week: frame(week).to_parquet(raw / rel, index=False)


def _link(rel: str, target: str):
    return lambda raw, week: (raw / rel).symlink_to(target)


def _copy(rel: str, source: str):
    return lambda raw, week: shutil.copy(raw / source, raw / rel)


def _two(rel_a: str, rel_b: str, text: str):
    return lambda raw, week: [_text(rel, text)(raw, week) for rel in (rel_a, rel_b)]


SPEND_HEADER = "date,channel,spend\n"
TEST_HEADER = "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\n"
WRONG_NUMBERS = {
    # name: (asset that must fail, writes the bad input, texts the error must contain); issue 13
    "overflowing_weekly_sum": (
        "validated_spend", _text("media_spend/huge.csv", SPEND_HEADER + "{tue},search,1e308\n{wed},search,1e308\n"),
        ["media_spend/huge.csv, row 1", "media_spend/huge.csv, row 2", "not a finite number"]),
    "integer_parquet_dates": (
        "validated_spend", _parquet("media_spend/int_dates.parquet", lambda week: pd.DataFrame(
            {"date": [int(week.replace("-", ""))], "channel": ["tv"], "spend": [1.0]})),
        ["media_spend/int_dates.parquet", "column 'date'", "date or timestamp type"]),
    "same_rows_in_two_files": (
        "validated_spend", _two("media_spend/export.csv", "media_spend/export (1).csv",
                                SPEND_HEADER + "{tue},search,123.45\n"),
        ["media_spend/export.csv, row 1", "the same row as media_spend/export (1).csv row 1", "counted twice"]),
    "weekly_beside_daily": (
        "validated_spend", _text("media_spend/search_weekly.csv", SPEND_HEADER + "{week},search,5000\n"),
        ["media_spend/search_weekly.csv, row 1", "daily rows of the same channel", "UMM_WEEKLY_BESIDE_DAILY=sum"]),
    "copied_tests_file": (
        "validated_tests", _copy("incrementality_tests/experiments (copy).csv", "incrementality_tests/experiments.csv"),
        ["incrementality_tests/experiments.csv, row 1", "is also in incrementality_tests/experiments (copy).csv row 1",
         "once across all its files"]),
    "zero_row_parquet": (
        "validated_outcomes", _parquet("outcomes/empty.parquet", lambda week: pd.DataFrame(
            {"date": pd.Series([], dtype=str), "revenue": pd.Series([], dtype=float)})),
        ["outcomes/empty.parquet", "file has no data rows"]),
    "nul_in_a_channel": (
        "validated_spend", _text("media_spend/nul.csv", SPEND_HEADER + "{tue},sea\x00rch,1\n"),
        ["media_spend/nul.csv, row 1", "NUL byte"]),
    "column_named_twice": (
        "validated_spend", _text("media_spend/twice.csv", "date,channel,spend,spend\n{tue},search,1,2\n"),
        ["media_spend/twice.csv", "column 'spend'", "appears 2 times in the header"]),
    "negative_attributed_revenue": (
        "validated_attribution", _text("attribution/neg.csv", "date,channel,attributed_revenue\n{tue},search,-5\n"),
        ["attribution/neg.csv, row 1", "column 'attributed_revenue'", "must be non-negative"]),
    "lift_outside_its_interval": (
        "validated_tests", _text("incrementality_tests/bad.csv", TEST_HEADER + "X1,tv,{week},{wed},500,5,20\n"),
        ["incrementality_tests/bad.csv, row 1", "columns 'lift', 'lift_ci_lower', 'lift_ci_upper'",
         "lift must lie inside its own interval"]),
    "controls_that_disagree": (
        "validated_controls", _text("controls/other.csv", "date,price_index\n{tue},99\n"),
        ["controls/other.csv, row 1", "controls/controls.csv", "conflicting values for one date"]),
    "symlink_out_of_the_zone": (
        "validated_spend", _link("media_spend/passwd.csv", "/etc/passwd"),
        ["media_spend/passwd.csv", "leads outside the landing zone: not read"]),
}


@pytest.mark.parametrize("case", sorted(WRONG_NUMBERS))
def test_input_that_would_change_numbers_silently_is_rejected(platform, case):
    asset, write, expected = WRONG_NUMBERS[case]
    week = platform.weeks[20]
    platform.materialize([asset], week)
    assert_rejected(platform, asset, week, lambda: write(platform.raw, week), expected)


def test_a_weekly_row_beside_daily_rows_is_summed_when_the_user_opts_in(platform):
    week = platform.weeks[20]
    before = platform.warehouse
    platform.materialize(["validated_spend"], week)
    search = before.read("validated_spend", week).set_index("channel").loc["search", "spend"]
    (platform.raw / "media_spend" / "search_weekly.csv").write_text(f"date,channel,spend\n{week},search,5000\n")
    settings = platform.settings.model_copy(update={"weekly_beside_daily": WeeklyBesideDaily.sum})
    opted_in = dataclasses.replace(platform, settings=settings, defs=build_defs(settings))
    opted_in.materialize(["validated_spend"], week)
    assert before.read("validated_spend", week).set_index("channel").loc["search", "spend"] == pytest.approx(
        search + 5000)


def test_a_huge_bad_cell_is_shortened_in_the_error_the_ledger_and_the_api(platform, tmp_path):
    week = platform.weeks[20]
    platform.materialize(["validated_spend"], week)
    write = _text("media_spend/huge_cell.csv", "date,channel,spend\n{tue},search," + "9" * 1_000_000 + "x\n")
    result, ledger = assert_rejected(platform, "validated_spend", week, lambda: write(platform.raw, week),
                                     ["media_spend/huge_cell.csv, row 1", "(1,000,003 characters)"])
    assert len("\n".join(failure_messages(result))) < 2_000 and len(json.dumps(ledger)) < 5_000
    legacy = {**ledger, "partition": platform.weeks[19]}  # written before values were shortened
    legacy["checks"] = [{"name": "contract", "passed": False, "messages": ["x" * 10_000_000]}]
    platform.warehouse.record_quality("validated_spend", platform.weeks[19], legacy)
    settings = ApiSettings(data_dir=str(platform.data_dir), state_dir=str(tmp_path / "api"))
    key = KeyStore(settings.keys_file).create("quality", "viewer")[1]
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/v1/data-quality", params={"failed_only": True},
                              headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200 and len(response.content) < 10_000
    assert "(1,000,003 characters)" in response.text


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
    model = ["mmm_posterior", "reconciled_lift", "allocation", "experiment_plan"]
    raw = [f"raw/{folder}" for folder in ("media_spend", "outcomes", "controls", "incrementality_tests", "attribution")]
    assert sorted(k.to_user_string() for k in graph.get_all_asset_keys()) == sorted(VALIDATED + model + raw)
    checks = sorted(f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys)
    assert checks == sorted([f"{a}:contract" for a in VALIDATED] + [f"{a}:completeness" for a in VALIDATED_WEEKLY]
                            + ["mmm_posterior:convergence", "mmm_posterior:holdout_error",
                               "reconciled_lift:tests_within_predictive_interval", "reconciled_lift:sources_agree",
                               "reconciled_lift:untested_within_mmm_interval",
                               "allocation:budget_sums_to_total", "allocation:bounds_respected",
                               "allocation:uplift_not_negative", "allocation:optimizer_converged",
                               "allocation:not_worse_than_current_under_mmm",
                               "allocation:plan_within_measured_spend",
                               "experiment_plan:ranking_stable_across_seeds",
                               "experiment_plan:well_measured_channel_valued_low"]
                            + [f"{a}:freshness_check" for a in VALIDATED_WEEKLY + model])
    deps = {k.to_user_string(): sorted(p.to_user_string() for p in graph.get(k).parent_keys) for k in
            graph.get_all_asset_keys()}
    assert deps["mmm_posterior"] == ["validated_controls", "validated_outcomes", "validated_spend"]
    assert deps["reconciled_lift"] == ["mmm_posterior", "validated_attribution", "validated_controls",
                                       "validated_outcomes", "validated_spend", "validated_tests"]
    assert deps["allocation"] == ["mmm_posterior", "reconciled_lift", "validated_spend"]
    assert deps["experiment_plan"] == ["allocation", "validated_spend", "validated_tests"]
    weekly = defs.resolve_assets_def("validated_spend").partitions_def
    assert weekly.get_partition_keys()[0] == platform.truth["first_week"]
    assert weekly.get_partition_keys()[-1] == platform.truth["last_week"]
    assert {s.name for s in defs.schedules} == {"weekly_refresh"}
    assert {s.name for s in defs.sensors} == {"landing_zone_sensor", "freshness_checks_sensor", "weekly_refresh_chain"}
    assert {j.name for j in defs.jobs} == {"validated_job", "model_chain_job"}


def test_landing_zone_sensor_requests_a_range_run_on_new_files(platform):
    sensor = platform.defs.resolve_sensor_def("landing_zone_sensor")
    resources = {"landing": platform.defs.resources["landing"]}
    with dg.build_sensor_context(instance=platform.instance, resources=resources) as context:
        [request] = (first := sensor(context)).run_requests
        assert request.tags["dagster/asset_partition_range_start"] == platform.weeks[0]
        assert request.tags["dagster/asset_partition_range_end"] == platform.weeks[-1]
    with dg.build_sensor_context(instance=platform.instance, resources=resources, cursor=first.cursor) as again:
        assert isinstance(sensor(again), dg.SkipReason)
    (platform.raw / "media_spend" / "late.csv").write_text(f"date,channel,spend\n{platform.weeks[-1]},tv,1\n")
    with dg.build_sensor_context(instance=platform.instance, resources=resources, cursor=first.cursor) as changed:
        assert sensor(changed).run_requests


def test_commit_pointer_is_the_only_thing_readers_follow(platform):
    week = platform.weeks[0]
    platform.materialize(["validated_spend"], week)
    pointer = json.loads((platform.data_dir / "validated_spend" / week / COMMIT_FILE).read_text())
    assert (platform.data_dir / "validated_spend" / week / pointer["version"] / "data.parquet").exists()


# --- the commit protocol through real runs (issue 13) ------------------------------------------------


def test_a_run_that_fails_while_writing_replaces_no_partition_and_says_why(platform, monkeypatch):
    weeks = platform.weeks[:3]
    platform.materialize(["validated_spend"], weeks[0], weeks[-1])
    before = tree_digest(platform.data_dir / "validated_spend")
    (platform.raw / "media_spend" / "extra.csv").write_text("date,channel,spend\n" + "".join(
        f"{w},tv,1000\n" for w in weeks))  # every week would change
    real, written = pd.DataFrame.to_parquet, []

    def disk_fills_at_the_third_partition(frame, *args, **kwargs):
        written.append(1)
        if len(written) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(frame, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_fills_at_the_third_partition)
    result = platform.materialize(["validated_spend"], weeks[0], weeks[-1], expect_success=False)
    assert not result.success and "No space left on device" in "\n".join(failure_messages(result))
    assert tree_digest(platform.data_dir / "validated_spend") == before  # all or nothing


def test_a_catalog_that_cannot_be_rebuilt_is_a_warning_of_a_run_that_committed(platform, monkeypatch):
    def disk_full(self):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Warehouse, "refresh_catalog", disk_full)
    week = platform.weeks[0]
    result = platform.materialize(["validated_spend"], week)  # the run's outcome agrees with its commit
    assert platform.warehouse.commit("validated_spend", week).run_id == result.run_id
    event = platform.instance.get_latest_materialization_event(dg.AssetKey("validated_spend")).asset_materialization
    assert event.metadata["catalog"].value == "not rebuilt: [Errno 28] No space left on device"
