"""The data contract on raw files: every rule yields a violation naming file, row/column and rule;
every accepted variation (gzip, BOM, CRLF, Parquet, extra columns, daily+weekly) reads correctly."""

from __future__ import annotations

import datetime as dt
import gzip
import io

import pandas as pd
import pytest

from umm_assets.lib import ingest
from umm_assets.lib.contracts import ATTRIBUTION, CONTROLS, OUTCOMES, SPEND, TESTS
from umm_assets.lib.landing import OUTSIDE_RULE, LocalLandingZone, WeeklyBesideDaily
from umm_assets.lib.violations import ContractError, MissingWeekError

MONDAY = dt.date(2024, 1, 1)


@pytest.fixture
def zone(tmp_path):
    return LocalLandingZone(tmp_path)


def put(zone, rel: str, content: bytes | str):
    path = zone.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def violations(zone, spec, **kwargs):
    return ingest.read_input(zone, spec, **kwargs).violations


def only(found):
    assert len(found) == 1, [str(v) for v in found]
    return found[0]


# --- accepted input -------------------------------------------------------------------------


def test_daily_and_weekly_rows_of_one_week_are_summed(zone):
    put(zone, "media_spend/daily.csv", "date,channel,spend\n" + "".join(
        f"2024-01-0{d},search,10\n" for d in range(1, 8)))
    put(zone, "media_spend/weekly.csv", "date,channel,spend\n2024-01-01,tv,500\n2024-01-08,tv,250\n")
    raw = ingest.read_input(zone, SPEND)
    assert raw.violations == []
    week = ingest.weekly_spend(raw, [MONDAY])[MONDAY].set_index("channel")["spend"]
    assert week.to_dict() == {"search": 70.0, "tv": 500.0}


def test_channel_without_rows_in_a_week_spent_zero(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-01,tv,5\n2024-01-08,search,7\n")
    raw = ingest.read_input(zone, SPEND)
    tables = ingest.weekly_spend(raw, [MONDAY, MONDAY + dt.timedelta(7)])
    assert tables[MONDAY].set_index("channel")["spend"].to_dict() == {"search": 0.0, "tv": 5.0}


@pytest.mark.parametrize("variant", ["bom", "crlf", "gzip", "parquet", "extra_column", "bom_crlf_gzip",
                                     "trailing_commas"])
def test_accepted_file_variants(zone, variant):
    text = "date,channel,spend,note\n2024-01-02,tv,5.5,promo week\n2024-01-03,search,2\n"
    if variant == "extra_column":
        put(zone, "media_spend/a.csv", text)
    elif variant == "trailing_commas":  # a spreadsheet export's empty columns are unnamed, not named twice
        put(zone, "media_spend/a.csv", text.replace("\n", ",,\n"))
    elif variant == "bom":
        put(zone, "media_spend/a.csv", b"\xef\xbb\xbf" + text.encode())
    elif variant == "crlf":
        put(zone, "media_spend/a.csv", text.replace("\n", "\r\n"))
    elif variant == "gzip":
        put(zone, "media_spend/a.csv.gz", gzip.compress(text.encode()))
    elif variant == "bom_crlf_gzip":
        put(zone, "media_spend/a.csv.gz", gzip.compress(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()))
    else:
        buffer = io.BytesIO()
        pd.DataFrame({"date": pd.to_datetime(["2024-01-02", "2024-01-03"]), "channel": ["tv", "search"],
                      "spend": [5.5, 2.0]}).to_parquet(buffer)
        put(zone, "media_spend/a.parquet", buffer.getvalue())
    raw = ingest.read_input(zone, SPEND)
    assert raw.violations == []
    week = ingest.weekly_spend(raw, [MONDAY])[MONDAY]
    assert week.set_index("channel")["spend"].to_dict() == {"search": 2.0, "tv": 5.5}
    assert list(week.columns) == ingest.SPEND_COLUMNS  # the unknown column is accepted and dropped


def test_in_progress_and_hidden_files_are_skipped(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1\n")
    put(zone, "media_spend/b.csv.tmp", "date,channel,spend\n2024-01-02,tv,")
    put(zone, "media_spend/_c.csv", "garbage")
    put(zone, "media_spend/.d.csv", "garbage")
    raw = ingest.read_input(zone, SPEND)
    assert [f.path for f in raw.files] == ["media_spend/a.csv"] and raw.violations == []


def test_controls_are_averaged_and_tests_default_confidence(zone):
    put(zone, "controls/c.csv", "date,price,promo\n2024-01-01,1.0,0\n2024-01-02,1.2,1\n")
    controls = ingest.weekly_controls(ingest.read_input(zone, CONTROLS), [MONDAY])[MONDAY]
    assert controls[["price", "promo"]].iloc[0].tolist() == pytest.approx([1.1, 0.5])
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1\n")
    put(zone, "incrementality_tests/t.csv", "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\n"
        "T1,tv,2024-01-01,2024-01-14,100,50,150\nT2,tv,2024-02-01,2024-02-14,100,50,150\n")
    raw = ingest.read_input(zone, TESTS, spend_channels={"tv"})
    finished = ingest.finished_tests(raw, dt.date(2024, 1, 31))
    assert finished["test_id"].tolist() == ["T1"] and finished["confidence"].tolist() == [0.9]


# --- rejected input: each names file, row or column, and the rule -------------------------------


def test_missing_required_column(zone):
    put(zone, "media_spend/a.csv", "date,channel,amount\n2024-01-02,tv,1\n")
    v = only(violations(zone, SPEND))
    assert (v.file, v.column, v.row, v.week) == ("media_spend/a.csv", "spend", None, None)
    assert "required column is missing" in str(v)


def test_wrong_type(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1\n2024-01-03,tv,lots\n")
    v = only(violations(zone, SPEND))
    assert (v.row, v.line, v.column, v.week) == (2, 3, "spend", MONDAY)
    assert str(v) == "media_spend/a.csv, row 2 (line 3), column 'spend': must be a finite number (got 'lots')"


@pytest.mark.parametrize("bad", ["2024-13-01", "02/01/2024", "2024-1-2", "yesterday"])
def test_unparseable_date(zone, bad):
    put(zone, "outcomes/o.csv", f"date,revenue\n2024-01-02,10\n{bad},11\n")
    v = only(violations(zone, OUTCOMES))
    assert (v.row, v.column) == (2, "date") and "dates must be ISO YYYY-MM-DD" in v.rule and bad in str(v)


def test_negative_spend_is_rejected_and_other_rows_survive(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1\n2024-01-09,tv,-5\n")
    raw = ingest.read_input(zone, SPEND)
    v = only(raw.violations)
    assert (v.row, v.column, v.rule, v.week) == (2, "spend", "must be non-negative", dt.date(2024, 1, 8))
    raw.raise_for([MONDAY])  # the other week is usable
    with pytest.raises(ContractError, match=r"row 2 \(line 3\), column 'spend': must be non-negative"):
        raw.raise_for([dt.date(2024, 1, 8)])


def test_negative_revenue_and_clicks(zone):
    put(zone, "outcomes/o.csv", "date,revenue\n2024-01-02,-1\n")
    assert only(violations(zone, OUTCOMES)).column == "revenue"
    put(zone, "media_spend/a.csv", "date,channel,spend,clicks\n2024-01-02,tv,1,-3\n")
    assert only(violations(zone, SPEND)).column == "clicks"


def test_duplicated_rows_within_a_file(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1\n2024-01-03,tv,2\n2024-01-02,tv,3\n")
    found = violations(zone, SPEND)
    assert sorted(v.row for v in found) == [1, 3]
    assert all("duplicated row" in v.rule and "(date, channel[, geo])" in v.rule for v in found)


def test_same_key_in_two_files_is_summed_not_rejected(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1\n")
    put(zone, "media_spend/b.csv", "date,channel,spend\n2024-01-02,tv,2\n")
    raw = ingest.read_input(zone, SPEND)
    assert raw.violations == [] and ingest.weekly_spend(raw, [MONDAY])[MONDAY]["spend"].tolist() == [3.0]


def test_test_interval_and_dates_out_of_order(zone):
    put(zone, "incrementality_tests/t.csv",
        "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\n"
        "T1,tv,2024-01-01,2024-01-14,100,150,50\n"
        "T2,tv,2024-02-14,2024-02-01,100,50,150\n")
    found = violations(zone, TESTS, spend_channels={"tv"})
    rules = {v.row: v.rule for v in found}
    assert rules == {1: "lift_ci_lower must be <= lift_ci_upper", 2: "end_date must not be before start_date"}
    assert all(v.file == "incrementality_tests/t.csv" for v in found)


def test_channel_without_spend_in_tests_and_attribution(zone):
    put(zone, "incrementality_tests/t.csv",
        "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\nT1,radio,2024-01-01,2024-01-14,1,0,2\n")
    put(zone, "attribution/a.csv", "date,channel,attributed_revenue\n2024-01-02,tv,5\n2024-01-02,podcast,5\n")
    v = only(violations(zone, TESTS, spend_channels={"tv"}))
    assert (v.row, v.column, v.value) == (1, "channel", "'radio'") and "no spend anywhere" in v.rule
    v = only(violations(zone, ATTRIBUTION, spend_channels={"tv"}))
    assert (v.row, v.column, v.value) == (2, "channel", "'podcast'")


@pytest.mark.parametrize("content", [b"", b"   \n", b"date,channel,spend\n"])
def test_empty_file(zone, content):
    put(zone, "media_spend/empty.csv", content)
    v = only(violations(zone, SPEND))
    assert v.file == "media_spend/empty.csv" and v.row is None and ("empty" in v.rule or "no data rows" in v.rule)


def test_non_utf8_text(zone):
    put(zone, "media_spend/latin1.csv", "date,channel,spend\n2024-01-02,télé,1\n".encode("latin-1"))
    v = only(violations(zone, SPEND))
    assert v.file == "media_spend/latin1.csv" and v.line == 2 and "not valid UTF-8" in v.rule


@pytest.mark.parametrize("kind", ["csv", "gzip", "parquet"])
def test_partially_written_file(zone, kind):
    text = "date,channel,spend\n" + "".join(f"2024-01-0{d},tv,{d}\n" for d in range(1, 8))
    if kind == "csv":
        put(zone, "media_spend/partial.csv", text[:-4])  # cut inside the last row: its spend is gone
        v = only(violations(zone, SPEND))
        assert (v.row, v.column, v.rule) == (7, "spend", "required value is missing")
        return
    if kind == "gzip":
        put(zone, "media_spend/partial.csv.gz", gzip.compress(text.encode())[:-10])
        assert "gzip stream is truncated" in only(violations(zone, SPEND)).rule
        return
    buffer = io.BytesIO()
    pd.DataFrame({"date": ["2024-01-02"], "channel": ["tv"], "spend": [1.0]}).to_parquet(buffer)
    put(zone, "media_spend/partial.parquet", buffer.getvalue()[:-20])
    v = only(violations(zone, SPEND))
    assert v.file == "media_spend/partial.parquet" and "not a complete Parquet file" in v.rule


def test_unsupported_file_type(zone):
    put(zone, "media_spend/spend.xlsx", b"PK\x03\x04")
    assert "unsupported file type" in only(violations(zone, SPEND)).rule


def test_control_columns_must_be_numeric(zone):
    put(zone, "controls/c.csv", "date,price,weather\n2024-01-02,1.0,sunny\n")
    v = only(violations(zone, CONTROLS))
    assert (v.row, v.column) == (1, "weather") and "numeric" in v.rule


def test_week_without_required_rows_says_so(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1\n")
    raw = ingest.read_input(zone, SPEND)
    with pytest.raises(MissingWeekError, match=r"no rows in media_spend/ dated in week 2024-01-08"):
        ingest.weekly_spend(raw, [MONDAY, dt.date(2024, 1, 8)])


def test_many_violations_are_all_reported(zone):
    rows = "".join(f"2024-01-02,ch{i},-{i + 1}\n" for i in range(40))
    put(zone, "media_spend/a.csv", "date,channel,spend\n" + rows)
    raw = ingest.read_input(zone, SPEND)
    assert len(raw.violations) == 40
    with pytest.raises(ContractError, match="and 15 more"):
        raw.raise_for()


# --- wrong numbers that used to be accepted (issue 13) -------------------------------------------


def parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


TESTS_HEADER = "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\n"


def test_weekly_sums_that_overflow_are_rejected_naming_rows_not_zeroed(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1e308\n2024-01-03,tv,1e308\n"
        "2024-01-02,search,5\n2024-01-09,tv,7\n")
    put(zone, "outcomes/o.csv", "date,revenue\n2024-01-02,1e308\n2024-01-03,1e308\n2024-01-09,3\n")
    raw = ingest.read_input(zone, SPEND)
    assert [(v.file, v.row, v.column, v.week) for v in raw.violations] == [
        ("media_spend/a.csv", 1, "spend", MONDAY), ("media_spend/a.csv", 2, "spend", MONDAY)]
    assert "week's total is not a finite number" in raw.violations[0].rule
    with pytest.raises(ContractError, match=r"row 2 \(line 3\), column 'spend': its week's total"):
        raw.raise_for([MONDAY])
    later = dt.date(2024, 1, 8)
    raw.raise_for([later])  # the other week is untouched and correct
    assert ingest.weekly_spend(raw, [later])[later].set_index("channel")["spend"].to_dict() == {
        "search": 0.0, "tv": 7.0}
    assert {v.row for v in violations(zone, OUTCOMES)} == {1, 2}


def test_a_missing_value_from_the_rows_is_never_filled_with_zero(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,5\n2024-01-02,search,1\n")
    raw = ingest.read_input(zone, SPEND)
    raw.rows.loc[raw.rows["channel"] == "tv", "spend"] = float("nan")  # what an overflow used to leave
    spend = ingest.weekly_spend(raw, [MONDAY])[MONDAY].set_index("channel")["spend"]
    assert spend["search"] == 1.0 and pd.isna(spend["tv"])


@pytest.mark.parametrize("dates", [[20250902, 20250903], [1.7e9, 1.8e9], [True, False]])
def test_parquet_dates_of_a_non_date_type_are_a_named_type_error(zone, dates):
    put(zone, "media_spend/a.parquet", parquet(pd.DataFrame({"date": dates, "channel": "tv", "spend": [1.0, 2.0]})))
    v = only(violations(zone, SPEND))
    assert (v.file, v.column, v.row, v.week) == ("media_spend/a.parquet", "date", None, None)
    assert "must be a date or timestamp type, or ISO YYYY-MM-DD text" in v.rule and "type" in v.rule


@pytest.mark.parametrize("dates", [pd.to_datetime(["2024-01-02", "2024-01-03"]),
                                   [dt.date(2024, 1, 2), dt.date(2024, 1, 3)], ["2024-01-02", "2024-01-03"],
                                   pd.to_datetime(["2024-01-02", "2024-01-03"]).tz_localize("UTC")])
def test_parquet_dates_as_dates_timestamps_or_iso_text_are_read(zone, dates):
    put(zone, "media_spend/a.parquet", parquet(pd.DataFrame({"date": dates, "channel": "tv", "spend": [1.0, 2.0]})))
    raw = ingest.read_input(zone, SPEND)
    assert raw.violations == [] and ingest.weekly_spend(raw, [MONDAY])[MONDAY]["spend"].tolist() == [3.0]


def test_an_identical_row_in_two_files_is_rejected_naming_both_files(zone):
    text = "date,channel,spend\n2024-01-02,search,11087.32\n2024-01-03,search,5\n"
    put(zone, "media_spend/export.csv", text)
    put(zone, "media_spend/export (1).csv", text.replace("2024-01-03,search,5", "2024-01-10,search,5"))
    found = violations(zone, SPEND)
    v = only([f for f in found if f.week == MONDAY])
    assert (v.file, v.row) == ("media_spend/export.csv", 1)  # files are read in name order
    assert "the same row as media_spend/export (1).csv row 1" in v.rule and "counted twice" in v.rule


@pytest.mark.parametrize("setting", ["error", "sum"])
def test_a_weekly_row_beside_daily_rows_of_the_same_channel_and_week_is_an_error_unless_opted_in(zone, setting):
    put(zone, "media_spend/daily.csv", "date,channel,spend\n" + "".join(
        f"2024-01-0{d},search,10\n" for d in range(1, 8)))
    put(zone, "media_spend/weekly.csv", "date,channel,spend\n2024-01-01,search,70\n2024-01-08,search,70\n"
        "2024-01-01,tv,500\n")
    raw = ingest.read_input(zone, SPEND, weekly_beside_daily=WeeklyBesideDaily(setting))
    if setting == "sum":
        assert raw.violations == []
        assert ingest.weekly_spend(raw, [MONDAY])[MONDAY].set_index("channel")["spend"].to_dict() == {
            "search": 140.0, "tv": 500.0}
        return
    v = only(raw.violations)  # the week of 2024-01-08 has no daily rows, tv none at all: both fine
    assert (v.file, v.row, v.week) == ("media_spend/weekly.csv", 1, MONDAY)
    assert "weekly row" in v.rule and "daily rows of the same channel and week" in v.rule
    assert "in media_spend/daily.csv" in v.rule and "UMM_WEEKLY_BESIDE_DAILY=sum" in v.rule


def test_a_copied_tests_file_is_a_duplicate_test_error(zone):
    tests = TESTS_HEADER + "T1,tv,2024-01-01,2024-01-14,100,50,150\n"
    put(zone, "incrementality_tests/q1.csv", tests)
    put(zone, "incrementality_tests/q1 copy.csv", tests.replace(",100,50,150", ",120,50,150"))
    v = only(violations(zone, TESTS, spend_channels={"tv"}))
    assert (v.file, v.row, v.columns) == ("incrementality_tests/q1.csv", 1, ("test_id", "channel"))
    assert "test_id='T1', channel='tv' is also in incrementality_tests/q1 copy.csv row 1" in str(v)


def test_a_zero_row_parquet_file_is_an_empty_file(zone):
    put(zone, "media_spend/a.parquet", parquet(pd.DataFrame({"date": pd.Series([], dtype=str),
                                                             "channel": pd.Series([], dtype=str),
                                                             "spend": pd.Series([], dtype=float)})))
    v = only(violations(zone, SPEND))
    assert v.file == "media_spend/a.parquet" and v.rule == "file has no data rows"


@pytest.mark.parametrize("kind,cell", [("csv", "sea\x00rch"), ("csv", "sea\x01rch"), ("csv", "\x7fsearch"),
                                       ("parquet", "sea\x00rch"), ("parquet", "sea\trch")])
def test_nul_bytes_and_control_characters_in_text_are_rejected(zone, kind, cell):
    if kind == "csv":
        put(zone, "media_spend/a.csv", f"date,channel,spend\n2024-01-02,tv,1\n2024-01-02,{cell},2\n")
    else:
        put(zone, "media_spend/a.parquet", parquet(pd.DataFrame({"date": ["2024-01-02"] * 2, "channel": ["tv", cell],
                                                                 "spend": [1.0, 2.0]})))
    v = only(violations(zone, SPEND))
    assert v.row == 2 and ("NUL byte" in v.rule or "control characters" in v.rule), str(v)


def test_a_nul_byte_in_the_header_is_rejected(zone):
    put(zone, "media_spend/a.csv", "date,chan\x00nel,spend\n2024-01-02,tv,1\n")
    v = only(violations(zone, SPEND))
    assert (v.line, v.row) == (1, None) and "header contains a NUL byte" in v.rule


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_column_named_twice_in_the_header_is_rejected(zone, kind):
    if kind == "csv":
        put(zone, "media_spend/a.csv", "date,channel,spend,spend\n2024-01-02,tv,1,2\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.table([pa.array(["2024-01-02"]), pa.array(["tv"]), pa.array([1.0]), pa.array([2.0])],
                                names=["date", "channel", "spend", "spend"]), buffer)
        put(zone, "media_spend/a.parquet", buffer.getvalue())
    v = only(violations(zone, SPEND))
    assert (v.column, v.row) == ("spend", None) and "appears 2 times in the header" in v.rule


def test_negative_attributed_revenue_is_rejected(zone):
    put(zone, "attribution/a.csv", "date,channel,attributed_revenue\n2024-01-02,tv,5\n2024-01-03,tv,-5\n")
    v = only(violations(zone, ATTRIBUTION, spend_channels={"tv"}))
    assert (v.row, v.column, v.rule) == (2, "attributed_revenue", "must be non-negative")


def test_a_lift_outside_its_own_interval_is_rejected_in_one_line_naming_its_columns(zone):
    put(zone, "incrementality_tests/t.csv", TESTS_HEADER + "T1,tv,2024-01-01,2024-01-14,200,50,150\n"
        "T2,tv,2024-01-01,2024-01-14,100,150,50\n")
    found = violations(zone, TESTS, spend_channels={"tv"})
    assert [(v.row, v.columns) for v in found] == [(1, ("lift", "lift_ci_lower", "lift_ci_upper")),
                                                   (2, ("lift_ci_lower", "lift_ci_upper"))]
    assert str(found[0]) == ("incrementality_tests/t.csv, row 1 (line 2), columns 'lift', 'lift_ci_lower', "
                             "'lift_ci_upper': lift must lie inside its own interval (lift_ci_lower <= lift <= "
                             "lift_ci_upper) (got lift=200.0, lift_ci_lower=50.0, lift_ci_upper=150.0)")


def test_controls_that_disagree_across_files_are_a_conflict_not_a_mean(zone):
    put(zone, "controls/a.csv", "date,price,promo\n2024-01-01,1.0,0\n2024-01-02,1.0,0\n")
    put(zone, "controls/b.csv", "date,price\n2024-01-01,99\n")
    put(zone, "controls/c.csv", "date,holiday\n2024-01-01,1\n")  # another column of the same date: merged
    raw = ingest.read_input(zone, CONTROLS)
    assert [(v.file, v.row, v.column, v.week) for v in raw.violations] == [
        ("controls/a.csv", 1, "price", MONDAY), ("controls/b.csv", 1, "price", MONDAY)]
    assert str(raw.violations[0]) == (
        "controls/a.csv, row 1 (line 2), column 'price': conflicting values for one date across files (price=99.0 "
        "in controls/b.csv row 1): one date must have one value (got price=1.0)")
    with pytest.raises(ContractError):
        raw.raise_for([MONDAY])


def test_symlinks_are_followed_only_inside_the_landing_zone(zone, tmp_path_factory):
    outside = tmp_path_factory.mktemp("elsewhere") / "spend.csv"
    outside.write_text("date,channel,spend\n2024-01-02,tv,1000\n")
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,search,1\n")
    put(zone, "archive/b.csv", "date,channel,spend\n2024-01-03,search,2\n")
    (zone.root / "media_spend" / "linked_out.csv").symlink_to(outside)
    (zone.root / "media_spend" / "passwd.csv").symlink_to("/etc/passwd")
    (zone.root / "media_spend" / "linked_in.csv").symlink_to(zone.root / "archive" / "b.csv")
    raw = ingest.read_input(zone, SPEND)
    assert sorted((v.file, v.rule) for v in raw.violations) == [
        ("media_spend/linked_out.csv", OUTSIDE_RULE), ("media_spend/passwd.csv", OUTSIDE_RULE)]
    assert all(v.week is None for v in raw.violations)  # the link's rows cannot be placed: every week waits
    assert ingest.weekly_spend(raw, [MONDAY])[MONDAY]["spend"].tolist() == [3.0]  # inside: followed
    with pytest.raises(ContractError):
        zone.read_bytes(next(f for f in raw.files if f.path == "media_spend/passwd.csv"))


# --- messages that say what is really wrong ---------------------------------------------------------


@pytest.mark.parametrize("bad", ["1677-01-01", "9999-12-27", "0001-01-01"])
def test_valid_dates_out_of_range_say_out_of_range(zone, bad):
    put(zone, "outcomes/o.csv", f"date,revenue\n2024-01-02,10\n{bad},11\n")
    v = only(violations(zone, OUTCOMES))
    assert (v.row, v.column) == (2, "date") and v.rule.startswith("date out of range") and "ISO" not in v.rule


def test_a_ragged_row_says_so(zone):
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1\n\n2024-01-03,tv,1,2,3\n")
    v = only(violations(zone, SPEND))
    assert (v.row, v.line) == (2, 4) and v.rule == "ragged row: it has 5 fields but the header has 3"
    put(zone, "media_spend/a.csv", "date,channel,spend\n2024-01-02,tv,1,2,3\n")  # first row: no index inferred
    assert only(violations(zone, SPEND)).rule == "ragged row: it has 5 fields but the header has 3"


def test_random_bytes_named_csv_gz_say_not_gzip(zone):
    put(zone, "media_spend/a.csv.gz", bytes(range(256)) * 4)
    v = only(violations(zone, SPEND))
    assert v.rule.startswith("not gzip data (no gzip header)")


def test_huge_cells_are_shortened_in_messages(zone):
    put(zone, "media_spend/a.csv", f"date,channel,spend\n2024-01-02,tv,{'9' * 50_000}x\n")
    v = only(violations(zone, SPEND))
    assert len(str(v)) < 400 and "(50,003 characters)" in str(v)  # the repr's quotes included
    assert len(str(ContractError([v] * 30))) < 30 * 400
