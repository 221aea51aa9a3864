"""This week's check verdicts, read back from what was stored (the dashboard never asks Dagster).

The pipeline's checks run on the same stored numbers: convergence against the thresholds the fit was
held to (kept in its diagnostics), experiments covered by the reconciled model, sources that disagree,
the optimizer's status and the budget sum, and the input contracts in the data-quality ledger.
Columns added later (the reconciliation's guard rail, the allocation's decision) are read if present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from umm_assets.lib.mmm.config import DIVERGENCES_MAX, ESS_MIN, RHAT_MAX

# the defaults the fits are held to, for fits stored before their thresholds were recorded
DEFAULT_RHAT_MAX, DEFAULT_ESS_MIN, DEFAULT_DIVERGENCES_MAX = RHAT_MAX, ESS_MIN, float(DIVERGENCES_MAX)
BUDGET_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Verdict:
    tone: str  # "fail", "warn" or "info"
    title: str
    text: str


def _number(row: Mapping, name: str, default: float = np.nan) -> float:
    value = row.get(name, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def convergence(diagnostics: Mapping) -> list[Verdict]:
    """R-hat, ESS and divergences of the MMM fit against the thresholds it was held to."""
    rhat, limit = _number(diagnostics, "rhat_max"), _number(diagnostics, "check_rhat_max", DEFAULT_RHAT_MAX)
    ess = min(_number(diagnostics, "ess_bulk_min"), _number(diagnostics, "ess_tail_min"))
    ess_floor = _number(diagnostics, "check_ess_min", DEFAULT_ESS_MIN)
    divergences = _number(diagnostics, "divergences", 0.0)
    allowed = _number(diagnostics, "check_divergences_max", DEFAULT_DIVERGENCES_MAX)
    out = []
    if rhat > limit:
        out.append(Verdict("fail", "MMM not converged: R-hat", f"R-hat max {rhat:.3f} is above {limit:g}."))
    if ess < ess_floor:
        out.append(Verdict("fail", "MMM not converged: effective sample size",
                           f"ESS min {ess:,.0f} is below {ess_floor:,.0f}."))
    if divergences > allowed:
        out.append(Verdict("fail", "MMM sampler divergences", f"{divergences:,.0f} divergent transitions "
                                                              f"(allowed: {allowed:,.0f})."))
    return out


def reconciliation(summary: Mapping, reconciled: pd.DataFrame, coverage: pd.DataFrame | None) -> list[Verdict]:
    """Experiments the reconciled model misses, sources that disagree, channels held by the guard rail."""
    out = []
    if coverage is not None and not coverage.empty:
        missed = coverage[(coverage["source"] == "reconciled") & ~coverage["covered"].astype(bool)]
        for row in missed.itertuples():
            out.append(Verdict("fail", f"Experiment {row.test_id} not reproduced",
                               f"Its measured lift ({row.lift:,.0f}) is outside the reconciled model's 90 % interval "
                               f"({row.predicted_lower:,.0f} – {row.predicted_upper:,.0f})."))
    disagreements = int(_number(summary, "disagreements", 0.0) or 0)
    if disagreements:
        out.append(Verdict("warn", "Sources disagree", f"On {disagreements} channel(s) the MMM, the experiments and "
                                                       "attribution disagree beyond their intervals: see ROAS & "
                                                       "reconciliation."))
    if "hold_in_allocation" in reconciled:
        for row in reconciled[reconciled["hold_in_allocation"].astype(bool)].itertuples():
            note = getattr(row, "guard_note", "") or "outside the MMM's own interval without an experiment"
            out.append(Verdict("info", f"{row.channel} held at its current spend", str(note)))
    return out


def allocation(summary: Mapping, frame: pd.DataFrame) -> list[Verdict]:
    """The optimizer's status, the budget sum, and a plan that kept the current split."""
    out = []
    status = str(summary.get("status", "") or "")
    if status and status not in ("optimal", "success", "ok"):
        out.append(Verdict("fail", f"Optimizer: {status}", str(summary.get("message", "") or "")))
    budget = _number(summary, "budget")
    total = float(frame["recommended"].sum()) if "recommended" in frame else np.nan
    if np.isfinite(budget) and np.isfinite(total) and abs(total - budget) > BUDGET_TOLERANCE * max(budget, 1.0) + 0.01:
        out.append(Verdict("fail", "Recommended split does not sum to the budget",
                           f"{total:,.2f} vs budget {budget:,.2f}."))
    if str(summary.get("decision", "") or "") == "kept_current":
        out.append(Verdict("info", "Current split kept", str(summary.get("decision_reason", "") or "")))
    notes = frame[frame["support_note"].fillna("") != ""] if "support_note" in frame else frame.iloc[:0]
    out.extend(Verdict("warn", f"{row.channel}: a spend level nothing measured", row.support_note)
               for row in notes.itertuples())
    return out


def quality(records: pd.DataFrame, week: str) -> list[Verdict]:
    """Input contracts that failed for this week (or for the experiments file)."""
    failed = records[(~records["passed"]) & records["partition"].isin([week, "all"])]
    return [Verdict("fail", f"Input {row.input} failed its {row.checks_failed} check",
                    row.messages or "see Model health, data quality") for row in failed.itertuples()]
