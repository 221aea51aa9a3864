"""Raw ingest: read every file of one input from the landing zone, validate it against the contract,
and shape the rows into weekly tables (weeks start on Monday; days are summed into their week)."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import pandas as pd

from umm_assets.lib import combined
from umm_assets.lib.contracts import NATIONAL, OUTCOMES, SPEND, InputSpec, validate_table
from umm_assets.lib.landing import LandingZone, RawFile, WeeklyBesideDaily
from umm_assets.lib.readers import read_table
from umm_assets.lib.violations import ContractError, MissingWeekError, Violation, affecting
from umm_assets.lib.weeks import WEEK, last_complete_week, week_starts

SPEND_COLUMNS = ["week", "geo", "channel", "spend", "impressions", "clicks"]
OUTCOME_COLUMNS = ["week", "geo", "revenue", "conversions"]
ATTRIBUTION_COLUMNS = ["week", "geo", "channel", "model", "attributed_revenue", "attributed_conversions"]
TEST_COLUMNS = ["test_id", "channel", "geo", "start_date", "end_date", "lift", "lift_ci_lower",
                "lift_ci_upper", "confidence", "spend"]
DEFAULT_CONFIDENCE = 0.9
DEFAULT_ATTRIBUTION_MODEL = "unknown"


@dataclass
class RawInput:
    """Every row of one input that passed the contract, and every violation found."""

    spec: InputSpec
    rows: pd.DataFrame
    files: list[RawFile]
    violations: list[Violation]

    def raise_for(self, weeks: Collection[dt.date] | None = None) -> None:
        """Raise :class:`ContractError` if a violation makes any of ``weeks`` (default: all) unusable."""
        found = affecting(self.violations, weeks)
        if found:
            raise ContractError(found, headline=f"{self.spec.folder}/ breaks the data contract")

    def lineage(self) -> list[dict]:
        return [f.lineage() for f in self.files]

    def weeks(self) -> list[dt.date]:
        """Weeks that have at least one valid row."""
        if self.rows.empty or "week" not in self.rows:
            return []
        return sorted({d.date() for d in self.rows["week"]})


# Decoding a file is the costly part of ingest; one run reads the spend folder several times
# (its own asset, and the channel check of tests and attribution), so decoded files are kept.
_DECODED: OrderedDict[tuple, tuple[pd.DataFrame, bool]] = OrderedDict()
_DECODED_MAX = 256


def _decode(zone: LandingZone, file: RawFile) -> tuple[pd.DataFrame, bool]:
    key = (zone.uri, file.path, file.size, file.modified)
    if key in _DECODED:
        _DECODED.move_to_end(key)
        return _DECODED[key]
    decoded = read_table(file, zone.read_bytes(file))
    _DECODED[key] = decoded
    if len(_DECODED) > _DECODED_MAX:
        _DECODED.popitem(last=False)
    return decoded


def read_input(
    zone: LandingZone, spec: InputSpec, *, spend_channels: Collection[str] | None = None,
    weekly_beside_daily: WeeklyBesideDaily = WeeklyBesideDaily.error,
) -> RawInput:
    """Read and validate every file of ``spec.folder``, each on its own and then all together (see
    :mod:`.combined`); nothing is raised here, see :meth:`RawInput.raise_for`."""
    files = zone.list_files(spec.folder)
    frames, violations = [], []
    for file in files:
        try:
            table, text = _decode(zone, file)
        except ContractError as err:
            violations += err.violations
            continue
        rows, found = validate_table(spec, table, file.path, text_lines=text, spend_channels=spend_channels)
        violations += found
        if not rows.empty:
            frames.append(rows.assign(_file=file.path, _row=rows.index + 1, _line=rows.index + 2 if text else None))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if not rows.empty:
        rows["geo"] = rows["geo"].fillna(NATIONAL) if "geo" in rows else NATIONAL
        if "date" in rows:
            rows["week"] = week_starts(rows["date"])
        found = combined.violations(spec, rows, weekly_beside_daily=weekly_beside_daily)
        violations += found
        rejected = {(v.file, v.row) for v in found}
        if rejected:
            rows = rows[[place not in rejected for place in zip(rows["_file"], rows["_row"])]].reset_index(drop=True)
    return RawInput(spec, rows, files, violations)


@dataclass(frozen=True)
class FileSummary:
    """What one raw file holds, without validating it: its rows and the weeks its dates fall in."""

    rows: int
    first_week: str | None
    last_week: str | None


def summarize_file(zone: LandingZone, spec: InputSpec, file: RawFile) -> FileSummary:
    """Rows and week span of one file (an unreadable file or a date that does not parse counts as no week:
    validation will name it)."""
    try:
        table, _ = _decode(zone, file)
    except ContractError:
        return FileSummary(0, None, None)
    column = spec.dates[0]
    days = pd.to_datetime(table[column].astype(str).str.strip(), format="%Y-%m-%d", errors="coerce") \
        if column in table else pd.Series(dtype="datetime64[ns]")
    weeks = week_starts(days.dropna())
    if weeks.empty:
        return FileSummary(len(table), None, None)
    return FileSummary(len(table), weeks.min().date().isoformat(), weeks.max().date().isoformat())


def raw_week_span(zone: LandingZone) -> tuple[dt.date, dt.date] | None:
    """Mondays of the earliest and the latest spend or outcome row in the landing zone (files are summarized, not
    validated: a broken file does not stop this, validation names it), or None when there is none."""
    summaries = [summarize_file(zone, spec, file) for spec in (SPEND, OUTCOMES) for file in zone.list_files(spec.folder)]
    firsts = [s.first_week for s in summaries if s.first_week]
    lasts = [s.last_week for s in summaries if s.last_week]
    return (dt.date.fromisoformat(min(firsts)), dt.date.fromisoformat(max(lasts))) if firsts else None


def first_raw_week(zone: LandingZone) -> dt.date | None:
    span = raw_week_span(zone)
    return span[0] if span else None


def last_raw_week(zone: LandingZone) -> dt.date | None:
    """The latest week with spend or outcome rows, up to the last complete week (the running week is no partition)."""
    span = raw_week_span(zone)
    return min(span[1], last_complete_week()) if span else None


def spend_channels(zone: LandingZone) -> set[str]:
    """Every channel with a spend row anywhere in the landing zone (valid rows only)."""
    raw = read_input(zone, SPEND)
    return set(raw.rows["channel"]) if not raw.rows.empty else set()


# --- weekly shaping ---------------------------------------------------------------------------


def _require_weeks(raw: RawInput, weeks: Sequence[dt.date], asset: str) -> None:
    have = set(raw.weeks())
    missing = [w for w in weeks if w not in have]
    if missing:
        listed = ", ".join(f"{w} ({w} .. {w + WEEK - dt.timedelta(days=1)})" for w in missing[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise MissingWeekError(
            f"{asset}: no rows in {raw.spec.folder}/ dated in week {listed}{more}; "
            f"{raw.spec.kind} is a required input, so a week without rows is an error, not zero "
            f"({len(raw.files)} file(s) read under {raw.spec.folder}/)"
        )


def _rows_in(raw: RawInput, weeks: Sequence[dt.date]) -> pd.DataFrame:
    if raw.rows.empty:
        return raw.rows
    return raw.rows[raw.rows["week"].isin(pd.to_datetime(list(weeks)))]


def _split(table: pd.DataFrame, weeks: Sequence[dt.date], columns: list[str]) -> dict[dt.date, pd.DataFrame]:
    out = {}
    for week in weeks:
        part = table[table["week"] == pd.Timestamp(week)] if not table.empty else table
        out[week] = part.reindex(columns=columns).sort_values(columns[:3]).reset_index(drop=True)
    return out


def _sum(rows: pd.DataFrame, by: list[str], columns: list[str]) -> pd.DataFrame:
    present = [c for c in columns if c in rows]
    # min_count=1: a measure nobody reported stays missing instead of becoming 0
    summed = rows.groupby(by, as_index=False)[present].sum(min_count=1)
    return summed.reindex(columns=[*by, *columns])


def weekly_spend(raw: RawInput, weeks: Sequence[dt.date]) -> dict[dt.date, pd.DataFrame]:
    """Spend per (week, geo, channel); a channel that exists elsewhere but not in a week spent zero."""
    _require_weeks(raw, weeks, "validated_spend")
    table = _sum(_rows_in(raw, weeks), ["week", "geo", "channel"], ["spend", "impressions", "clicks"])
    grid = pd.MultiIndex.from_product(
        [pd.to_datetime(list(weeks)), sorted(raw.rows["geo"].unique()), sorted(raw.rows["channel"].unique())],
        names=["week", "geo", "channel"],
    )
    table = table.set_index(["week", "geo", "channel"])
    absent = grid.difference(table.index)
    table = table.reindex(grid)
    # only a channel-week without rows spent zero: a missing value that came from the rows stays missing
    table.loc[absent, "spend"] = 0.0
    return _split(table.reset_index(), weeks, SPEND_COLUMNS)


def weekly_outcomes(raw: RawInput, weeks: Sequence[dt.date]) -> dict[dt.date, pd.DataFrame]:
    """Revenue (and conversions) per (week, geo)."""
    _require_weeks(raw, weeks, "validated_outcomes")
    table = _sum(_rows_in(raw, weeks), ["week", "geo"], ["revenue", "conversions"])
    return _split(table, weeks, OUTCOME_COLUMNS)


def control_columns(raw: RawInput) -> list[str]:
    if raw.rows.empty:
        return []
    return sorted(c for c in raw.rows.columns if c not in {"date", "geo", *combined.META})


def weekly_controls(raw: RawInput, weeks: Sequence[dt.date]) -> dict[dt.date, pd.DataFrame]:
    """Controls per (week, geo): the mean of the week's rows (controls are levels such as a price
    index or a promo flag, so a week of daily rows and one weekly row mean the same thing).
    Controls are optional: a week without rows gives an empty table."""
    columns = control_columns(raw)
    rows = _rows_in(raw, weeks)
    table = rows.groupby(["week", "geo"], as_index=False)[columns].mean() if not rows.empty else rows
    return _split(table, weeks, ["week", "geo", *columns])


def weekly_attribution(raw: RawInput, weeks: Sequence[dt.date]) -> dict[dt.date, pd.DataFrame]:
    """Attributed revenue per (week, geo, channel, model); optional, so a week may be empty."""
    rows = _rows_in(raw, weeks)
    if not rows.empty:
        rows = rows.assign(model=rows["model"].fillna(DEFAULT_ATTRIBUTION_MODEL) if "model" in rows
                           else DEFAULT_ATTRIBUTION_MODEL)
        rows = _sum(rows, ["week", "geo", "channel", "model"], ["attributed_revenue", "attributed_conversions"])
    return _split(rows, weeks, ATTRIBUTION_COLUMNS)


def finished_tests(raw: RawInput, as_of: dt.date) -> pd.DataFrame:
    """Every incrementality test that ended on or before ``as_of``, one row per (test, channel, geo)."""
    rows = raw.rows
    if rows.empty:
        return pd.DataFrame(columns=TEST_COLUMNS)
    rows = rows[rows["end_date"] <= pd.Timestamp(as_of)].copy()
    rows["confidence"] = rows["confidence"].fillna(DEFAULT_CONFIDENCE) if "confidence" in rows else DEFAULT_CONFIDENCE
    return rows.reindex(columns=TEST_COLUMNS).sort_values(["end_date", "test_id", "channel"]).reset_index(drop=True)


def partial_weeks(raw: RawInput, weeks: Sequence[dt.date]) -> dict[dt.date, int]:
    """Weeks whose rows are daily but cover fewer than 7 days (likely an incomplete export)."""
    rows = _rows_in(raw, weeks)
    if rows.empty:
        return {}
    days = rows.groupby("week")["date"].nunique()
    return {w.date(): int(n) for w, n in days.items() if 1 < n < 7}
