"""The raw data contract (``data-contract.md``) as pandera schemas, one per input.

Validation runs in two stages so that one broken cell never hides another:

1. *parse*: on the raw cells (text for CSV): required columns present, required values present,
   dates ISO ``YYYY-MM-DD``, numbers parseable and finite;
2. *rules*: on the rows that parsed, typed: non-negative amounts, no duplicated keys within a file,
   ordered intervals and dates, channels that have spend somewhere.

Every failure becomes a :class:`Violation` naming the file, the row (or column) and the rule.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from umm_assets.lib.violations import Violation
from umm_assets.lib.weeks import week_starts

NATIONAL = "national"
ISO_DATE_RULE = "dates must be ISO YYYY-MM-DD"
NUMBER_RULE = "must be a finite number"
TEXT_RULE = "must not be blank"
NON_NEGATIVE_RULE = "must be non-negative"
NO_SPEND_RULE = "channel has no spend anywhere in media_spend/"


@dataclass(frozen=True)
class InputSpec:
    """What one landing-zone folder must contain (see ``data-contract.md``)."""

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
    frame_checks: tuple[pa.Check, ...] = field(default=())

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
)
OUTCOMES = InputSpec(
    kind="outcomes",
    folder="outcomes",
    numbers=("revenue",),
    optional_numbers=("conversions",),
    non_negative=frozenset({"revenue"}),
    key=("date",),
)
CONTROLS = InputSpec(kind="controls", folder="controls", key=("date",), extra_columns_are_numeric=True)
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
    frame_checks=(
        pa.Check(
            lambda df: df["lift_ci_lower"] <= df["lift_ci_upper"],
            name="lift_ci_lower must be <= lift_ci_upper",
        ),
        pa.Check(lambda df: df["end_date"] >= df["start_date"], name="end_date must not be before start_date"),
        pa.Check(
            lambda df: df["confidence"].isna() | ((df["confidence"] > 0) & (df["confidence"] < 1))
            if "confidence" in df
            else pd.Series(True, index=df.index),
            name="confidence must be a fraction strictly between 0 and 1 (e.g. 0.9)",
        ),
    ),
)
ATTRIBUTION = InputSpec(
    kind="attribution",
    folder="attribution",
    texts=("channel",),
    numbers=("attributed_revenue",),
    optional_texts=("geo", "model"),
    optional_numbers=("attributed_conversions",),
    key=("date", "channel", "model"),
    channel_must_have_spend=True,
)
INPUTS = {spec.kind: spec for spec in (SPEND, OUTCOMES, CONTROLS, TESTS, ATTRIBUTION)}

_BUILTIN_RULES = {
    "column_in_dataframe": "required column is missing",
    "not_nullable": "required value is missing",
    "multiple_fields_uniqueness": "duplicated row: the key {key} appears more than once in this file",
}


# --- stage 1: parse -------------------------------------------------------------------------


def _is_iso_date(cells: pd.Series) -> pd.Series:
    text = cells.astype(str).str.strip()
    shaped = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    return shaped & pd.to_datetime(text.where(shaped), format="%Y-%m-%d", errors="coerce").notna()


def _is_number(cells: pd.Series) -> pd.Series:
    values = pd.to_numeric(cells, errors="coerce")
    return values.notna() & np.isfinite(values.astype(float))


def _is_text(cells: pd.Series) -> pd.Series:
    return cells.astype(str).str.strip() != ""


def _parse_schema(spec: InputSpec, columns: Collection[str]) -> pa.DataFrameSchema:
    def column(check: pa.Check, required: bool) -> pa.Column:
        return pa.Column(checks=[check], nullable=not required, required=required)

    iso = pa.Check(_is_iso_date, name=ISO_DATE_RULE)
    number = pa.Check(_is_number, name=NUMBER_RULE)
    text = pa.Check(_is_text, name=TEXT_RULE)
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
        schema, unique=key or None, report_duplicates="all", checks=list(spec.frame_checks), strict=False
    )


# --- driver -----------------------------------------------------------------------------------


def normalize_cells(table: pd.DataFrame, spec: InputSpec) -> pd.DataFrame:
    """Typed (Parquet) date columns become ISO text so both formats go through the same checks."""
    table = table.copy()
    for c in spec.dates:
        if c in table and not (pd.api.types.is_object_dtype(table[c]) or pd.api.types.is_string_dtype(table[c])):
            table[c] = pd.to_datetime(table[c], errors="coerce").dt.strftime("%Y-%m-%d")
        elif c in table:
            table[c] = table[c].map(lambda v: v.isoformat()[:10] if isinstance(v, dt.date) else v)
    return table


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
    table = normalize_cells(table, spec).reset_index(drop=True)
    weeks = _row_weeks(spec, table)
    locate = _Locator(file, text_lines, weeks, spec)

    violations: list[Violation] = []
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
        rule_violations = locate(err.failure_cases)
        violations += rule_violations
        bad_rows |= {v.row - 1 for v in rule_violations if v.row is not None}
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

    def __call__(self, cases: pd.DataFrame) -> list[Violation]:
        violations: list[Violation] = []
        seen_duplicates: set[int] = set()
        for case in cases.itertuples(index=False):
            check = str(case.check)
            index = None if case.index is None or pd.isna(case.index) else int(case.index)
            if check == "multiple_fields_uniqueness":
                if index in seen_duplicates:
                    continue
                seen_duplicates.add(index)
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
            value = None if check == "not_nullable" else repr(_plain(case.failure_case))
            violations.append(self._at(index, _column(case), rule, value))
        return violations

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


def _plain(value):
    return value.item() if hasattr(value, "item") else value
