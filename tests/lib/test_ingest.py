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
from umm_assets.lib.landing import LocalLandingZone
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


@pytest.mark.parametrize("variant", ["bom", "crlf", "gzip", "parquet", "extra_column", "bom_crlf_gzip"])
def test_accepted_file_variants(zone, variant):
    text = "date,channel,spend,note\n2024-01-02,tv,5.5,promo week\n2024-01-03,search,2\n"
    if variant == "extra_column":
        put(zone, "media_spend/a.csv", text)
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
