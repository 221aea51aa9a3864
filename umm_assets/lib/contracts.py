"""The raw data contract (``data-contract.md``) as pandera schemas, one per input.

Validation runs in two stages so that one broken cell never hides another:

1. *parse*: on the raw cells (text for CSV): required columns present, required values present,
   dates ISO ``YYYY-MM-DD`` (typed Parquet dates: a date or timestamp type) and within the range the
   platform can hold, numbers parseable and finite, text free of control characters;
2. *rules*: on the rows that parsed, typed: non-negative amounts, no duplicated keys within a file,
   ordered intervals and dates, a test's lift inside its interval, channels that have spend somewhere.

Rules across the files of one input (duplicates, weekly beside daily rows ...) are in :mod:`.combined`.

Every failure becomes a :class:`Violation` naming the file, the row (or column) and the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from enum import StrEnum

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from umm_assets.lib.violations import Violation, cell, naming
from umm_assets.lib.weeks import week_starts

NATIONAL = "national"
ISO_DATE_RULE = "dates must be ISO YYYY-MM-DD"
FIRST_DAY, LAST_DAY = (pd.Timestamp.min.ceil("D").date(), pd.Timestamp.max.floor("D").date())
DATE_RANGE_RULE = f"date out of range: dates must lie between {FIRST_DAY} and {LAST_DAY}"
DATE_TYPE_RULE = "dates must be a date or timestamp type, or ISO YYYY-MM-DD text (got a column of type {dtype})"
NUMBER_RULE = "must be a finite number"
TEXT_RULE = "must not be blank"
CONTROL_CHARACTER_RULE = "must not contain control characters (NUL, tab, line breaks ...)"
NON_NEGATIVE_RULE = "must be non-negative"
NO_SPEND_RULE = "channel has no spend anywhere in media_spend/"


class Aggregate(StrEnum):
    """How the rows of one week become the week's value."""

    sum = "sum"  # amounts: spend, revenue, attributed revenue
    mean = "mean"  # levels: controls


@dataclass(frozen=True)
class RowRule:
    """A rule over several columns of one row: reported once per row, naming every column it involves."""

    name: str
    columns: tuple[str, ...]
    holds: Callable[[pd.DataFrame], pd.Series]

    def check(self) -> pa.Check:
        return pa.Check(self.holds, name=self.name)


@dataclass(frozen=True)
class InputSpec:
    """What one landing-zone folder must contain (see ``docs/data-contract.md``).

    ``aggregate`` says how a week's rows combine (None: rows are not weekly, e.g. tests) and
    ``series`` which columns besides week and geo tell one weekly value from another.
    ``unique_across_files``: the key must not repeat in another file either (tests are listed once).
    """

    kind: str
    folder: str
    dates: tuple[str, ...] = ("date",)
    texts: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    optional_texts: tuple[str, ...] = ("geo",)
    optional_numbers: tuple[str, ...] = ()
    non_negative: frozenset[str] = frozenset()
    key: tuple[str, ...] = ()
    extra_columns_are_numeric: bool = False
    channel_must_have_spend: bool = False
    row_rules: tuple[RowRule, ...] = field(default=())
    aggregate: Aggregate | None = None
    series: tuple[str, ...] = ()
    unique_across_files: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        return (*self.dates, *self.texts, *self.numbers)

    def known_columns(self) -> tuple[str, ...]:
        return (*self.required, *self.optional_texts, *self.optional_numbers)


SPEND = InputSpec(
    kind="spend",
    folder="media_spend",
    texts=("channel",),
    numbers=("spend",),
    optional_numbers=("impressions", "clicks"),
    non_negative=frozenset({"spend", "impressions", "clicks"}),
    key=("date", "channel"),
    aggregate=Aggregate.sum,
    series=("channel",),
)
OUTCOMES = InputSpec(
    kind="outcomes",
    folder="outcomes",
    numbers=("revenue",),
    optional_numbers=("conversions",),
    non_negative=frozenset({"revenue"}),
    key=("date",),
    aggregate=Aggregate.sum,
)
CONTROLS = InputSpec(kind="controls", folder="controls", key=("date",), extra_columns_are_numeric=True,
                     aggregate=Aggregate.mean)
TESTS = InputSpec(
    kind="tests",
    folder="incrementality_tests",
    dates=("start_date", "end_date"),
    texts=("test_id", "channel"),
    numbers=("lift", "lift_ci_lower", "lift_ci_upper"),
    optional_numbers=("confidence", "spend"),
    non_negative=frozenset({"spend"}),
    key=("test_id", "channel"),
    channel_must_have_spend=True,
    unique_across_files=True,
    row_rules=(
        RowRule("lift_ci_lower must be <= lift_ci_upper", ("lift_ci_lower", "lift_ci_upper"),
                lambda df: df["lift_ci_lower"] <= df["lift_ci_upper"]),
        RowRule("lift must lie inside its own interval (lift_ci_lower <= lift <= lift_ci_upper)",
                ("lift", "lift_ci_lower", "lift_ci_upper"),  # an unordered interval is reported by the rule above
                lambda df: (df["lift_ci_lower"] > df["lift_ci_upper"])
                | df["lift"].between(df["lift_ci_lower"], df["lift_ci_upper"])),
        RowRule("end_date must not be before start_date", ("start_date", "end_date"),
                lambda df: df["end_date"] >= df["start_date"]),
        RowRule("confidence must be a fraction strictly between 0 and 1 (e.g. 0.9)", ("confidence",),
                lambda df: df["confidence"].isna() | ((df["confidence"] > 0) & (df["confidence"] < 1))
                if "confidence" in df else pd.Series(True, index=df.index)),
    ),
)
ATTRIBUTION = InputSpec(
    kind="attribution",
    folder="attribution",
    texts=("channel",),
    numbers=("attributed_revenue",),
    optional_texts=("geo", "model"),
    optional_numbers=("attributed_conversions",),
    non_negative=frozenset({"attributed_revenue", "attributed_conversions"}),
    key=("date", "channel", "model"),
    channel_must_have_spend=True,
    aggregate=Aggregate.sum,
    series=("channel", "model"),
)
INPUTS = {spec.kind: spec for spec in (SPEND, OUTCOMES, CONTROLS, TESTS, ATTRIBUTION)}

_BUILTIN_RULES = {
    "column_in_dataframe": "required column is missing",
    "not_nullable": "required value is missing",
    "multiple_fields_uniqueness": "duplicated row: the key {key} appears more than once in this file",
}


# --- stage 1: parse -------------------------------------------------------------------------


def _dates(cells: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The cells as text, whether each is shaped YYYY-MM-DD, and whether pandas holds it as a date."""
    text = cells.astype(str).str.strip()
    shaped = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    return text, shaped, shaped & pd.to_datetime(text.where(shaped), format="%Y-%m-%d", errors="coerce").notna()


def _is_calendar_day(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _is_iso_date(cells: pd.Series) -> pd.Series:
    text, shaped, held = _dates(cells)
    # a real calendar day that pandas cannot hold (1677-01-01, 9999-12-27) is reported as out of range
    return held | (shaped & ~held & text.map(_is_calendar_day))


def _in_range(cells: pd.Series) -> pd.Series:
    text, shaped, held = _dates(cells)
    beyond = shaped & ~held
    return ~beyond | ~text.where(beyond, "").map(_is_calendar_day)


def _is_number(cells: pd.Series) -> pd.Series:
    values = pd.to_numeric(cells, errors="coerce")
    return values.notna() & np.isfinite(values.astype(float))


def _is_text(cells: pd.Series) -> pd.Series:
    return cells.astype(str).str.strip() != ""


def _is_printable(cells: pd.Series) -> pd.Series:
    return ~cells.astype(str).str.contains(r"[\x00-\x1f\x7f]", regex=True)


def _parse_schema(spec: InputSpec, columns: Collection[str]) -> pa.DataFrameSchema:
    def column(checks: list[pa.Check], required: bool) -> pa.Column:
        return pa.Column(checks=checks, nullable=not required, required=required)

    iso = [pa.Check(_is_iso_date, name=ISO_DATE_RULE), pa.Check(_in_range, name=DATE_RANGE_RULE)]
    number = [pa.Check(_is_number, name=NUMBER_RULE)]
    text = [pa.Check(_is_text, name=TEXT_RULE), pa.Check(_is_printable, name=CONTROL_CHARACTER_RULE)]
    schema = {c: column(iso, True) for c in spec.dates}
    schema |= {c: column(text, True) for c in spec.texts}
    schema |= {c: column(number, True) for c in spec.numbers}
    schema |= {c: column(text, False) for c in spec.optional_texts}
    schema |= {c: column(number, False) for c in spec.optional_numbers}
    if spec.extra_columns_are_numeric:
        extra = [c for c in columns if c not in schema]
        schema |= {c: pa.Column(checks=[pa.Check(_is_number, name="control columns must be numeric")],
                                nullable=True) for c in extra}
    return pa.DataFrameSchema(schema, strict=False)


def _typed(spec: InputSpec, cells: pd.DataFrame) -> pd.DataFrame:
    """Cast parsed cells to their types; unknown extra columns are dropped (they are accepted)."""
    out = pd.DataFrame(index=cells.index)
    for c in spec.dates:
        out[c] = pd.to_datetime(cells[c].astype(str).str.strip(), format="%Y-%m-%d")
    for c in (*spec.texts, *spec.optional_texts):
        if c in cells:
            out[c] = cells[c].astype("string").str.strip()
    numeric = [*spec.numbers, *spec.optional_numbers]
    if spec.extra_columns_are_numeric:
        numeric += [c for c in cells.columns if c not in out.columns and c not in spec.known_columns()]
    for c in numeric:
        if c in cells:
            out[c] = pd.to_numeric(cells[c], errors="coerce").astype(float)
    return out


# --- stage 2: rules -------------------------------------------------------------------------


def _rules_schema(spec: InputSpec, columns: Collection[str], spend_channels: Collection[str] | None
                  ) -> pa.DataFrameSchema:
    schema: dict[str, pa.Column] = {}
    for c in spec.non_negative & set(columns):
        schema[c] = pa.Column(float, pa.Check.ge(0, error=NON_NEGATIVE_RULE), nullable=True)
    if spec.channel_must_have_spend and spend_channels is not None:
        schema["channel"] = pa.Column(checks=pa.Check(lambda s: s.isin(list(spend_channels)), name=NO_SPEND_RULE))
    key = [c for c in (*spec.key, "geo") if c in columns]
    return pa.DataFrameSchema(
        schema, unique=key or None, report_duplicates="all", checks=[r.check() for r in spec.row_rules],
        strict=False)


# --- driver -----------------------------------------------------------------------------------


def normalize_cells(table: pd.DataFrame, spec: InputSpec, file: str) -> tuple[pd.DataFrame, list[Violation]]:
    """Typed (Parquet) date columns become ISO text so both formats go through the same checks.

    Only date and timestamp types are dates: an integer such as 20250902 would otherwise be read as
    nanoseconds since 1970 and its row would silently fall outside every week.
    """
    table = table.copy()
    violations = []
    for c in (c for c in spec.dates if c in table):
        column = table[c]
        if pd.api.types.is_datetime64_any_dtype(column):
            table[c] = column.dt.strftime("%Y-%m-%d")
        elif pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column):
            table[c] = column.map(lambda v: v.isoformat()[:10] if isinstance(v, dt.date) else v)
        else:
            violations.append(Violation(file, DATE_TYPE_RULE.format(dtype=column.dtype), column=c))
    return table, violations


def validate_table(
    spec: InputSpec,
    table: pd.DataFrame,
    file: str,
    *,
    text_lines: bool,
    spend_channels: Collection[str] | None = None,
) -> tuple[pd.DataFrame, list[Violation]]:
    """Validate one file's table against ``spec``.

    Returns the typed rows that pass every rule (index = 0-based data row) and the violations.
    A missing required column makes the whole file unusable: no rows are returned then.
    """
    table, violations = normalize_cells(table.reset_index(drop=True), spec, file)
    if violations:
        return table.iloc[0:0], violations
    weeks = _row_weeks(spec, table)
    locate = _Locator(file, text_lines, weeks, spec)
    try:
        _parse_schema(spec, table.columns).validate(table, lazy=True)
    except SchemaErrors as err:
        violations += locate(err.failure_cases)
    if any(v.row is None for v in violations):
        return table.iloc[0:0], violations

    bad_rows = {v.row - 1 for v in violations}
    parsed = _typed(spec, table.drop(index=list(bad_rows)))
    try:
        _rules_schema(spec, parsed.columns, spend_channels).validate(parsed, lazy=True)
    except SchemaErrors as err:
        rule_violations = locate(err.failure_cases, parsed)
        violations += rule_violations
        bad_rows |= {v.row - 1 for v in rule_violations if v.row is not None}
    violations.sort(key=lambda v: v.row or 0)  # in file order, whichever check found them
    return parsed.drop(index=list(bad_rows & set(parsed.index))), violations


def _row_weeks(spec: InputSpec, table: pd.DataFrame) -> pd.Series:
    first_date = spec.dates[0]
    if first_date not in table:
        return pd.Series(pd.NaT, index=table.index)
    days = pd.to_datetime(table[first_date].astype(str).str.strip(), format="%Y-%m-%d", errors="coerce")
    return week_starts(days)


@dataclass
class _Locator:
    """Turns pandera failure cases into located violations."""

    file: str
    text_lines: bool
    weeks: pd.Series
    spec: InputSpec

    def __call__(self, cases: pd.DataFrame, frame: pd.DataFrame | None = None) -> list[Violation]:
        violations: list[Violation] = []
        row_rules = {r.name: r for r in self.spec.row_rules}
        seen: set[tuple[str, int | None]] = set()  # row-wide checks report every column of a failing row
        for case in cases.itertuples(index=False):
            check = str(case.check)
            index = None if case.index is None or pd.isna(case.index) else int(case.index)
            if check == "multiple_fields_uniqueness" or check in row_rules:
                if (check, index) in seen:
                    continue
                seen.add((check, index))
                if check in row_rules:
                    violations.append(self._row_rule(row_rules[check], index, frame))
                    continue
                rule = _BUILTIN_RULES[check].format(key=self._key_text())
                violations.append(self._at(index, None, rule, None))
                continue
            rule = _BUILTIN_RULES.get(check, check)
            if check == "column_in_dataframe":
                violations.append(Violation(self.file, rule, column=str(case.failure_case)))
                continue
            if index is None:  # a check that crashed on the whole column: report it at column level
                violations.append(Violation(self.file, rule, column=_column(case)))
                continue
            value = None if check == "not_nullable" else cell(case.failure_case)
            violations.append(self._at(index, _column(case), rule, value))
        return violations

    def _row_rule(self, rule: RowRule, index: int, frame: pd.DataFrame) -> Violation:
        columns = [c for c in rule.columns if c in frame]
        value = ", ".join(f"{c}={cell(frame.at[index, c])}" for c in columns)
        return replace(self._at(index, None, rule.name, value), **naming(columns))

    def _key_text(self) -> str:
        return "(" + ", ".join(self.spec.key) + "[, geo])"

    def _at(self, index: int, column: str | None, rule: str, value: str | None) -> Violation:
        week = self.weeks.get(index)
        return Violation(
            self.file,
            rule,
            row=index + 1,
            line=index + 2 if self.text_lines else None,
            column=column,
            value=value,
            week=None if week is None or pd.isna(week) else week.date(),
        )


def _column(case) -> str | None:
    return None if case.column is None or pd.isna(case.column) else str(case.column)


