"""Contract violations: what a user sees when the landing zone breaks a rule of the data contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

MAX_LISTED = 25
# a cell can hold megabytes: messages, the data-quality ledger and the API echo at most this much of it
MAX_VALUE_CHARS = 120
MAX_RULE_CHARS = 400
MAX_MESSAGE_CHARS = 1000  # a whole violation line (ledger entries written before values were shortened)


def naming(columns: Sequence[str]) -> dict:
    """:class:`Violation` arguments naming the columns a rule involves: one ``column``, or several ``columns``."""
    return {"column": columns[0]} if len(columns) == 1 else {"columns": tuple(columns)}


def cell(value) -> str:
    """A cell's value as messages show it: a date as ISO text, anything else as its Python repr."""
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return repr(value.item() if hasattr(value, "item") else value)


def shorten(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


@dataclass(frozen=True)
class Violation:
    """One broken rule, located as precisely as the input allows.

    ``row`` is the 1-based data row (header excluded); ``line`` the physical line in a CSV file.
    ``week`` is the Monday of the row's date when known: a violation without a week concerns every
    partition (the file could not be read, so its rows cannot be placed). ``columns`` names every
    column of a rule that involves several (``column`` stays empty then). Long texts are shortened.
    """

    file: str
    rule: str
    row: int | None = None
    line: int | None = None
    column: str | None = None
    value: str | None = None
    week: dt.date | None = None
    columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, limit in (("rule", MAX_RULE_CHARS), ("column", MAX_VALUE_CHARS), ("value", MAX_VALUE_CHARS)):
            text = getattr(self, name)
            if text is not None:
                object.__setattr__(self, name, shorten(text, limit))
        object.__setattr__(self, "columns", tuple(shorten(c) for c in self.columns))

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column '{self.column}'")
        elif self.columns:
            where.append("columns " + ", ".join(f"'{c}'" for c in self.columns))
        text = ", ".join(where) + f": {self.rule}"
        if self.value is not None:
            text += f" (got {self.value})"
        return text

    def as_record(self) -> dict:
        record = asdict(self)
        columns = record.pop("columns")
        record["column"] = self.column or ", ".join(columns) or None
        record["week"] = self.week.isoformat() if self.week else None
        return record


class ContractError(ValueError):
    """Raised when raw input breaks the data contract; carries every violation found."""

    def __init__(self, violations: Sequence[Violation], headline: str | None = None):
        self.violations = list(violations)
        count = len(self.violations)
        head = headline or f"{count} contract violation{'s' if count != 1 else ''} in the landing zone"
        lines = [f"  - {v}" for v in self.violations[:MAX_LISTED]]
        if count > MAX_LISTED:
            lines.append(f"  ... and {count - MAX_LISTED} more")
        super().__init__("\n".join([head + ":", *lines]))

    def table(self) -> pd.DataFrame:
        return violations_table(self.violations)


class MissingWeekError(ValueError):
    """A required input has no rows at all in a week."""


def violations_table(violations: Iterable[Violation]) -> pd.DataFrame:
    columns = ["file", "row", "line", "column", "rule", "value", "week"]
    return pd.DataFrame([v.as_record() for v in violations], columns=columns)


def affecting(violations: Iterable[Violation], weeks: Iterable[dt.date] | None) -> list[Violation]:
    """The violations that make the given weeks unusable (all of them when ``weeks`` is None)."""
    if weeks is None:
        return list(violations)
    wanted = set(weeks)
    return [v for v in violations if v.week is None or v.week in wanted]
