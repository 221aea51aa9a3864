"""Response (and request) models of every endpoint: what ``/docs`` shows and what clients rely on.

Money is in the units of the input; spend, budgets and revenue are **per week** unless a field says
``_total``. ``{mean, lower, upper}`` intervals are 90 % credible intervals. Every data response has a
``lineage``: which materialization of which asset partition it was read from.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Number = float | None


def clean(value: Any) -> float | None:
    """A float for JSON: NaN/inf (e.g. no holdout) become None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- shared pieces -----------------------------------------------------------------------------


class Interval(Model):
    """A posterior mean with a 90 % credible interval."""

    mean: Number
    lower: Number
    upper: Number

    @classmethod
    def of(cls, mean: Any, lower: Any, upper: Any) -> Interval:
        return cls(mean=clean(mean), lower=clean(lower), upper=clean(upper))


class IntervalSeries(Model):
    """Means and 90 % bounds along a grid (parallel lists)."""

    mean: list[Number]
    lower: list[Number]
    upper: list[Number]


class Lineage(Model):
    """Where a response comes from: one committed materialization of one asset partition.

    Views over many partitions (``/health``, ``/partitions``, ``/data-quality``) name the view as
    ``asset``, the newest contributing run and time, and list what they cover in ``upstream``.
    """

    asset: str
    partition: str | None
    run_id: str | None
    materialized_at: str | None
    code_version: str | None = None
    upstream: dict[str, Any] = Field(default_factory=dict, description="upstream partitions this one was built from")
    version: str | None = Field(None, description="the stored version (changes on every rewrite)")


class Window(Model):
    """The model's training window."""

    start: str | None
    end: str | None
    weeks: int | None


class ErrorResponse(Model):
    detail: str = Field(description="what went wrong, in words")
    code: str = Field(description="machine-readable kind: not_materialized, invalid_parameter, unauthorized, ...")
    errors: list[dict[str, Any]] | None = Field(None, description="per-field problems of a request validation error")


# --- health and partitions ---------------------------------------------------------------------


class AssetStatus(Model):
    newest: str | None = Field(description="newest materialized partition (week) or null")
    materialized_at: str | None
    run_id: str | None
    partitions: int


class HealthResponse(Model):
    status: Literal["ok"]
    newest: dict[str, str | None] = Field(description="newest materialized partition per asset")
    assets: dict[str, AssetStatus]
    lineage: Lineage


class PartitionInfo(Model):
    partition: str
    status: Literal["materialized", "stale", "failed", "pending"] = Field(description=(
        "materialized: committed; stale: committed, but the newest contract check of its input failed (the previous "
        "good version is served); failed: never committed, its check failed; pending: checked, not committed"))
    materialized_at: str | None
    run_id: str | None
    version: str | None
    code_version: str | None
    checked_at: str | None = Field(None, description="time of the newest data-quality verdict (validated_* only)")
    messages: list[str] = Field(default_factory=list, description="messages of failed checks")


class PartitionsResponse(Model):
    as_of: str | None
    assets: dict[str, list[PartitionInfo]] = Field(description="per asset, its partitions oldest first")
    lineage: Lineage


# --- MMM ---------------------------------------------------------------------------------------


class RoasRow(Model):
    channel: str
    spend: Number = Field(description="mean weekly spend over the model window")
    contribution: Number = Field(description="mean weekly incremental revenue over the window (posterior mean)")
    roas: Interval = Field(description="contribution / spend over the window (posterior mean and 90 % interval)")
    roas_median: Number
    contribution_interval: Interval = Field(description="mean weekly contribution with its 90 % interval")
    spend_total: Number = Field(description="spend over the whole window")
    contribution_total: Interval = Field(description="incremental revenue over the whole window")


class RoasResponse(Model):
    as_of: str
    window: Window
    channels: list[RoasRow]
    lineage: Lineage


class ContributionWeek(Model):
    week: str
    baseline: Interval = Field(description="intercept + trend + seasonality + controls")
    channels: dict[str, Interval] = Field(description="each channel's contribution that week")
    actual: Number = Field(None, description="observed revenue")
    predicted: Interval | None = Field(None, description="posterior predictive revenue")


class ContributionsResponse(Model):
    as_of: str
    geo: str
    geos: list[str]
    channels: list[str]
    weeks: list[ContributionWeek]
    lineage: Lineage


class ResponseCurve(Model):
    channel: str
    spend: list[float] = Field(description="weekly-spend grid")
    response: IntervalSeries = Field(description="steady-state weekly revenue at each grid point")
    marginal_roas: IntervalSeries = Field(description="d revenue / d spend at each grid point")
    current_spend: Number = Field(description="current weekly spend (mean of the last weeks)")
    current_response: Interval = Field(description="response at the current spend (interpolated on the grid)")
    current_marginal_roas: Interval = Field(description="marginal ROAS at the current spend (interpolated)")


class ResponseCurvesResponse(Model):
    as_of: str
    source: Literal["mmm", "reconciled"]
    channels: list[ResponseCurve]
    lineage: Lineage


class DiagnosticsResponse(Model):
    as_of: str
    rhat_max: Number
    ess_bulk_min: Number
    ess_tail_min: Number
    ess_min: Number = Field(description="min of bulk and tail ESS")
    divergences: int | None
    mape: Number = Field(description="in-sample mean absolute percentage error")
    r2: Number
    holdout_mape: Number = Field(description="error on the held-out last weeks (null without holdout)")
    holdout_weeks: int | None
    holdout_coverage_90: Number = None
    ppc_coverage_90: Number = Field(description="share of actuals inside the 90 % posterior predictive interval")
    interval_coverage: Number = Field(description="same as ppc_coverage_90")
    window: Window
    details: dict[str, Any] = Field(default_factory=dict, description="every other diagnostic the stage recorded")
    lineage: Lineage


# --- reconciliation ----------------------------------------------------------------------------


class AttributionEstimate(Model):
    roas: Number = Field(description="attributed revenue / spend, as reported")
    bias: Number = Field(description="estimated bias of the attribution (reported / true)")
    bias_log_sd: Number = Field(None, description="uncertainty of the bias (sd of its log): wide for an untested "
                                                  "channel unless many tested channels agree")
    bias_source: str | None = Field(None, description="'tests' (observed on this channel) or 'hierarchical (n "
                                                      "tested channels)' (predicted from other channels)")
    calibrated: Interval = Field(description="attribution ROAS after removing the bias")


class Weights(Model):
    """Each source's real influence: the share of the way to its own estimate the fusion went (log units)."""

    mmm: Number
    tests: Number
    attribution: Number


class Shifts(Model):
    tests: Number = Field(None, description="reconciled-before-attribution / MMM median ROAS")
    attribution: Number = Field(None, description="reconciled / reconciled-before-attribution median ROAS")


class Guard(Model):
    held: bool = Field(description="an untested channel outside the MMM's own 90 % interval: the allocation "
                                   "holds it at its current spend")
    note: str = Field(description="why, with the numbers (empty when not held)")


class ReconciledChannel(Model):
    channel: str
    method: str
    spend_total: Number = Field(description="spend over the model window")
    roas: Interval = Field(description="reconciled ROAS")
    incremental_revenue_total: Interval = Field(description="incremental revenue over the model window (reconciled)")
    mmm: Interval = Field(description="the MMM's ROAS")
    tests: Interval | None = Field(description="ROAS from incrementality tests (null without tests)")
    attribution: AttributionEstimate | None = Field(description="attribution's estimate (null without attribution)")
    weights: Weights
    shifts: Shifts
    guard: Guard
    n_tests: int
    tests_used: list[str]


class ExperimentCoverage(Model):
    test_id: str
    channel: str
    start_date: str
    end_date: str
    lift: Interval = Field(description="measured lift (mean is the point estimate)")
    predicted: Interval = Field(description="lift the reconciled model predicts for the test window")
    covered: bool
    source: str


class ReconciliationSummary(Model):
    method: str
    n_tests: int
    signals: list[str]
    coverage_mmm: Number
    coverage_reconciled: Number
    disagreements: int
    held_channels: list[str] = Field(default_factory=list, description="untested channels the guard rail flagged")


class ReconciliationResponse(Model):
    as_of: str
    method: str
    summary: ReconciliationSummary
    channels: list[ReconciledChannel]
    tests: list[ExperimentCoverage]
    lineage: Lineage


# --- experiment plan ---------------------------------------------------------------------------


class ExperimentDesign(Model):
    """One candidate test, assessed by simulating it on the week's posterior (see docs/design.md)."""

    rank: int
    channel: str
    kind: Literal["holdout", "increase"]  # the channel off in the test cells, or its spend raised by half
    weeks: int
    spend_level: Literal["usual", "recommended"]
    weekly_spend: Number  # the channel's weekly spend around the test
    test_weekly_spend: Number  # its weekly spend in the test cells during the test
    roas_halfwidth_today: Number  # half the 90 % ROAS interval over its median: 0.48 is ±48 %
    roas_halfwidth_after: Number  # the same, expected after the test
    value_per_week: Interval  # revenue per week a better split is expected to gain (90 % Monte-Carlo interval)
    revenue_forgone: Number  # revenue the test forgoes (carry-over after it included)
    spend_saved: Number  # spend the test does not spend (negative: extra spend)
    cost: Number  # revenue forgone minus what the saved spend earns at the plan's margin
    net_value: Number  # value over the horizon minus the cost
    worth_it: bool
    best: bool  # the channel's best design
    reliable: bool  # enough posterior draws fit a typical outcome (else its numbers are rough)
    sentence: str  # the design in words


class ExperimentPlanSummary(Model):
    top_channel: str | None
    next_test: str | None  # the top design in words
    worth_testing: list[str]
    not_worth_testing: list[str]
    horizon_weeks: int
    noise_cv: Number  # the measured lift's relative sd for a 4-week holdout
    noise_source: str  # past tests, default or given
    budget_marginal_roas: Number
    notes: list[str]


class ExperimentPlanResponse(Model):
    as_of: str
    summary: ExperimentPlanSummary
    designs: list[ExperimentDesign]  # ranked, best first
    lineage: Lineage


# --- allocation and scenarios -----------------------------------------------------------------


class Bounds(Model):
    lower: Number
    upper: Number


class CurrentRecommended(Model):
    current: Number
    recommended: Number


class MeasuredSpend(Model):
    p05: Number = Field(description="5th percentile of the weekly spend in the model's window")
    p95: Number = Field(description="95th percentile of the weekly spend in the model's window")
    tested: Number = Field(None, description="the highest weekly spend a test of the channel ran at (null: untested)")


class AllocationChannel(Model):
    channel: str
    current: Number = Field(description="current weekly spend")
    recommended: Number = Field(description="recommended weekly spend")
    change: Number
    bounds: Bounds
    locked: bool
    hold_reason: str = Field("", description="non-empty: held at its current spend by the reconciliation's guard rail")
    measured_spend: MeasuredSpend | None = Field(
        None, description="the weekly spend levels the evidence measured the channel's curve at (absent for a plan "
                          "stored before they were recorded)")
    support: str = Field("unknown", description="'within data', 'above data' or 'below data': whether the "
                                                "recommended spend leaves the measured levels (its return is then "
                                                "extrapolated), or 'unknown'")
    support_note: str = Field("", description="non-empty when support is above or below data: the numbers, in words")
    marginal_roas: CurrentRecommended
    expected_revenue: CurrentRecommended


class ExpectedRevenue(Model):
    current: Number
    recommended: Number
    uplift: Interval
    uplift_under_mmm: Interval | None = Field(None, description="the plan's uplift under the plain MMM posterior")


class FrontierPoint(Model):
    budget: Number
    budget_ratio: Number
    expected_revenue: Interval
    uplift: Interval


class AllocationResponse(Model):
    as_of: str
    budget: Number = Field(description="weekly budget")
    current_total: Number
    objective: str
    status: str
    message: str
    iterations: int | None
    decision: str = Field("recommended", description="recommended, or kept_current when the reconciled posterior "
                                                     "or the plain MMM expects the optimal plan to lose revenue")
    decision_reason: str = Field("", description="why the current split was kept")
    expected_revenue: ExpectedRevenue
    channels: list[AllocationChannel]
    frontier: list[FrontierPoint] = Field(default_factory=list, description="expected revenue at other budgets")
    lineage: Lineage


# Money in a request: a JSON number (strict: true is not 1.0, "5" is not 5), finite, non-negative and at most
# 1e15 a week; 1e308 would overflow the solver's sums into an "optimal" answer without numbers.
MAX_MONEY = 1e15
Money = Annotated[float, Field(strict=True, ge=0, le=MAX_MONEY, allow_inf_nan=False)]


class ScenarioBound(Model):
    lower: Money | None = None
    upper: Money | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ScenarioBound:
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower bound {self.lower:g} is above upper bound {self.upper:g}")
        return self


class ScenarioRequest(Model):
    """A custom weekly budget; optional bounds per channel and channels locked at a spend."""

    budget: Money = Field(description="weekly budget to allocate (input units, at most 1e15)")
    bounds: dict[str, ScenarioBound] | None = Field(
        None, max_length=1000, description='weekly spend bounds per channel, replacing the stored ones: '
                                           '{"tv": {"lower": 0, "upper": 50000}} or {"tv": [0, 50000]}')
    locked: dict[str, Money] | list[str] | None = Field(
        None, max_length=1000, description='channels held fixed: {"tv": 30000} (at that spend) or ["tv"] '
                                           '(at its current spend)')
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"budget": 80000, "bounds": {"tv": {"lower": 10000, "upper": 40000}}, "locked": ["search"]}]})

    @field_validator("bounds", mode="before")
    @classmethod
    def _pairs(cls, value):
        """Accept ``[lower, upper]`` pairs as well as objects."""
        if isinstance(value, dict):
            return {c: {"lower": b[0], "upper": b[1]} if isinstance(b, list | tuple) and len(b) == 2 else b
                    for c, b in value.items()}
        return value

    def bounds_tuples(self) -> dict[str, tuple[float | None, float | None]] | None:
        return None if self.bounds is None else {c: (b.lower, b.upper) for c, b in self.bounds.items()}


class ScenarioResponse(AllocationResponse):
    scenario: ScenarioRequest = Field(description="the request, as understood")


# --- history -----------------------------------------------------------------------------------


class HistoryChannel(Model):
    channel: str
    roas: Interval = Field(description="reconciled ROAS (empty when reconciled_lift is not materialized that week)")
    mmm_roas: Interval = Field(description="the MMM's ROAS")
    current: Number = Field(description="weekly spend the plan started from")
    recommended: Number = Field(description="recommended weekly spend")
    held: bool = Field(description="held at its current spend by the reconciliation's guard rail")


class HistoryWeek(Model):
    as_of: str
    channels: list[HistoryChannel]


class HistoryResponse(Model):
    start: str | None = Field(description="the range asked for (`from`; null: open)")
    end: str | None = Field(description="the range asked for (`to`; null: open)")
    weeks: list[HistoryWeek] = Field(description="every as-of week with any model stage materialized, oldest first")
    lineage: Lineage


# --- data quality ------------------------------------------------------------------------------


class CheckOutcome(Model):
    name: str
    passed: bool
    messages: list[str]


class QualityRecord(Model):
    asset: str
    input: str = Field(description="the input (spend, outcomes, controls, attribution, tests)")
    partition: str
    run_id: str | None
    checked_at: str | None
    passed: bool
    rows: int | None
    checks: list[CheckOutcome]
    failed_checks: list[str]


class QualitySummary(Model):
    records: int
    passed: int
    failed: int


class DataQualityResponse(Model):
    as_of: str | None
    records: list[QualityRecord] = Field(description="per partition and input, oldest partition first")
    summary: QualitySummary
    lineage: Lineage


# --- admin -------------------------------------------------------------------------------------


class KeyInfo(Model):
    id: str
    name: str
    role: str
    created_at: str
    revoked_at: str | None
    active: bool


class KeysResponse(Model):
    keys: list[KeyInfo]


class AuditEntry(Model):
    model_config = ConfigDict(extra="allow")

    time: str
    key_id: str | None
    key_name: str | None
    role: str | None
    method: str
    path: str
    query: str
    status: int
    latency_ms: float
    client: str | None


class AuditResponse(Model):
    entries: list[AuditEntry] = Field(description="newest first")
