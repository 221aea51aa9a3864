"""Contract violations: what a user sees when the landing zone breaks a rule of the data contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import pandas as pd

MAX_LISTED = 25


@dataclass(frozen=True)
class Violation:
    """One broken rule, located as precisely as the input allows.

    ``row`` is the 1-based data row (header excluded); ``line`` the physical line in a CSV file.
    ``week`` is the Monday of the row's date when known: a violation without a week concerns every
    partition (the file could not be read, so its rows cannot be placed).
    """

    file: str
    rule: str
    row: int | None = None
    line: int | None = None
    column: str | None = None
    value: str | None = None
    week: dt.date | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.column:
            where.append(f"column '{self.column}'")
        text = ", ".join(where) + f": {self.rule}"
        if self.value is not None:
            text += f" (got {self.value})"
        return text

    def as_record(self) -> dict:
        record = asdict(self)
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
