"""Rules over the rows of every file of one input together: what no single file can show.

- the same row in two files (a re-uploaded export) would be counted twice;
- a key that must be listed once (a test) repeated in another file (a copied file);
- a weekly row beside daily rows of the same series and week: the week would count both, unless the
  user says they do not overlap (``UMM_WEEKLY_BESIDE_DAILY=sum``);
- two files giving one date different control values: a conflict, not something to average;
- a week whose sum of valid values is not a finite number (too large to add): the weekly total
  would be lost.

Each rule yields one violation per row it rejects, naming the other file involved. These are pandas
group-bys rather than pandera checks because each message names the row's counterpart in another
file, which pandera's failure cases cannot carry.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from umm_assets.lib.contracts import NATIONAL, Aggregate, InputSpec
from umm_assets.lib.landing import WEEKLY_BESIDE_DAILY, WeeklyBesideDaily
from umm_assets.lib.violations import Violation, cell, naming

META = ("_file", "_row", "_line", "week")  # where a row comes from, added by ingest.read_input


def violations(spec: InputSpec, rows: pd.DataFrame, *,
               weekly_beside_daily: WeeklyBesideDaily = WeeklyBesideDaily.error) -> list[Violation]:
    """Every violation of the rules above among ``rows`` (the valid rows of every file, with :data:`META`)."""
    if rows.empty:
        return []
    found = list(_repeated_keys(spec, rows) if spec.unique_across_files else _exact_duplicates(rows))
    if spec.aggregate is Aggregate.sum and weekly_beside_daily is WeeklyBesideDaily.error:
        found += _weekly_beside_daily(spec, rows)
    if spec.aggregate is Aggregate.mean:
        found += _conflicting_values(rows)
    if spec.aggregate is not None:
        found += _non_finite_sums(spec, rows)
    return found


def _at(row: pd.Series, rule: str, columns: tuple[str, ...] = (), value: str | None = None) -> Violation:
    line = row.get("_line")
    week = row.get("week")
    return Violation(row["_file"], rule, row=int(row["_row"]), line=None if pd.isna(line) else int(line),
                     week=None if week is None or pd.isna(week) else week.date(), value=value, **naming(columns))


def _where(row: pd.Series) -> str:
    return f"{row['_file']} row {row['_row']}"


def _series(spec: InputSpec, rows: pd.DataFrame) -> list[str]:
    """The columns that tell one weekly value from another (an optional one may be absent)."""
    return ["week", "geo", *(c for c in spec.series if c in rows)]


def _values(row: pd.Series, columns) -> str:
    return ", ".join(f"{c}={cell(row[c])}" for c in columns)


def _data_columns(rows: pd.DataFrame) -> list[str]:
    return [c for c in rows.columns if c not in META]


def _numbers(rows: pd.DataFrame) -> list[str]:
    return [c for c in _data_columns(rows) if pd.api.types.is_float_dtype(rows[c])]


def _first_of_group(rows: pd.DataFrame, by: list[str]) -> pd.Series:
    """For each row, the index of the first row (in file order) with the same values in ``by``."""
    group = rows.groupby(by, dropna=False, sort=False).ngroup()
    return pd.Series(rows.index, index=rows.index).groupby(group).transform("min")


def _repeated_elsewhere(rows: pd.DataFrame, by: list[str]) -> Iterator[tuple[pd.Series, pd.Series]]:
    """(row, first row like it) for rows whose first like row is in another file."""
    first = _first_of_group(rows, by)
    elsewhere = rows["_file"].to_numpy() != rows.loc[first, "_file"].to_numpy()
    for index in rows.index[elsewhere]:
        yield rows.loc[index], rows.loc[first[index]]


def _exact_duplicates(rows: pd.DataFrame) -> Iterator[Violation]:
    # within one file the key rule already reports repeats; across files an identical row is a re-upload
    for row, first in _repeated_elsewhere(rows, _data_columns(rows)):
        yield _at(row, f"the same row as {_where(first)}: an identical row in two files would be counted "
                       "twice (a re-uploaded export?); remove one of them")


def _repeated_keys(spec: InputSpec, rows: pd.DataFrame) -> Iterator[Violation]:
    for row, first in _repeated_elsewhere(rows, [*spec.key, "geo"]):
        key = [*spec.key, "geo"] if row["geo"] != NATIONAL else list(spec.key)
        yield _at(row, f"{_values(row, key)} is also in {_where(first)}: {spec.folder}/ must list each "
                       f"({', '.join(spec.key)}[, geo]) once across all its files (a copied file?)",
                  columns=tuple(key))


def _weekly_beside_daily(spec: InputSpec, rows: pd.DataFrame) -> Iterator[Violation]:
    # a weekly row is dated on its week's Monday, in a file whose every date is a Monday
    weekly = (rows["date"].dt.weekday == 0).groupby(rows["_file"]).transform("all")
    group = rows.groupby(_series(spec, rows), dropna=False, sort=False).ngroup()
    daily_files = rows.loc[~weekly, "_file"].groupby(group[~weekly]).agg(lambda f: ", ".join(sorted(set(f))))
    clash = weekly & group.map(daily_files).notna()
    named = " and ".join(spec.series or ("geo",))
    for index in rows.index[clash]:
        yield _at(rows.loc[index], f"a weekly row (every date in its file is a Monday) beside daily rows of the "
                                   f"same {named} and week in {daily_files[group[index]]}: the week would count "
                                   f"both. Remove one, or set {WEEKLY_BESIDE_DAILY}=sum if they do not overlap")


def _conflicting_values(rows: pd.DataFrame) -> Iterator[Violation]:
    # within one file a date is listed once (the key rule), so rows sharing a date come from several files
    group = rows.groupby(["date", "geo"], dropna=False, sort=False).ngroup()
    numbers = _numbers(rows)
    differ = pd.DataFrame({c: rows[c].groupby(group).transform("nunique") > 1 for c in numbers}, index=rows.index)
    for index in rows.index[differ.any(axis=1)]:
        row = rows.loc[index]
        columns = [c for c in numbers if differ.at[index, c] and pd.notna(row[c])]
        if not columns:
            continue
        others = rows[(group == group[index]) & (rows["_file"] != row["_file"])
                      & rows[columns].notna().any(axis=1)]
        theirs = "; ".join(f"{_values(o, columns)} in {_where(o)}" for _, o in others.iterrows())
        yield _at(row, f"conflicting values for one date across files ({theirs}): one date must have one value",
                  columns=tuple(columns), value=_values(row, columns))


def _non_finite_sums(spec: InputSpec, rows: pd.DataFrame) -> Iterator[Violation]:
    numbers = _numbers(rows)
    with np.errstate(over="ignore", invalid="ignore"):
        sums = rows.groupby(_series(spec, rows), dropna=False, sort=False)[numbers].transform("sum")
    lost = pd.DataFrame(~np.isfinite(sums.to_numpy(dtype=float)), index=rows.index, columns=numbers)
    lost &= rows[numbers].notna()
    for index in rows.index[lost.any(axis=1)]:
        row = rows.loc[index]
        columns = tuple(c for c in numbers if lost.at[index, c])
        yield _at(row, "its week's total is not a finite number (values too large to add): the weekly total "
                       "would be lost", columns=columns, value=_values(row, columns))
