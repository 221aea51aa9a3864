"""Model health: can this week's model be trusted — convergence, fit, out-of-sample error, the choice of
response shape (saturation and carry-over), and the data-quality verdicts of its inputs."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
import pandas as pd

from umm_dash import verdicts
from umm_dash.components import download
from umm_dash.components.cards import banners, graph, kpi, page_header, section
from umm_dash.components.page import page
from umm_dash.components.table import frame_table, number, text
from umm_dash.data import MMM_POSTERIOR, current
from umm_dash.figures import health as figures

dash.register_page(__name__, path="/health", name="Model health", order=5, title="Model health · Unified-M")
FAILURE_COLUMNS = {"partition": ("week", text), "input": ("input", text), "rows": ("rows", number()),
                   "checks_failed": ("failed checks", text), "messages": ("what failed (file, row, rule)", text)}
LOO_COLUMNS = {"saturation": ("saturation", text), "adstock": ("carry-over", text),
               "elpd_loo": ("elpd (LOO)", number(1)), "elpd_diff": ("difference", number(1)),
               "elpd_diff_se": ("± se", number(1)),
               "converged": ("converged", text), "chosen": ("kept", text)}


def _tables(week: str | None):
    return current().tables(MMM_POSTERIOR, week, "diagnostics", "fit", "loo_comparison")


def _share(value) -> str:
    return "–" if pd.isna(value) else f"{100 * float(value):.1f} %"


def cards(d: dict) -> list:
    """The diagnostics as headline numbers, each against the threshold it is held to."""
    rhat_limit = d.get("check_rhat_max", verdicts.DEFAULT_RHAT_MAX)
    ess_floor = d.get("check_ess_min", verdicts.DEFAULT_ESS_MIN)
    ess = min(d.get("ess_bulk_min", float("nan")), d.get("ess_tail_min", float("nan")))
    holdout = d.get("holdout_mape")
    return [
        kpi("R-hat (max)", f"{d.get('rhat_max', float('nan')):.3f}", f"converged at ≤ {rhat_limit:g}",
            id="health-rhat", tone="red" if d.get("rhat_max", 0) > rhat_limit else "green"),
        kpi("Effective sample size (min)", f"{ess:,.0f}", f"bulk and tail; needs ≥ {ess_floor:,.0f}",
            id="health-ess", tone="red" if ess < ess_floor else "green"),
        kpi("Divergences", f"{int(d.get('divergences', 0)):,}", "sampler transitions that failed; needs 0",
            id="health-divergences", tone="red" if d.get("divergences", 0) > d.get("check_divergences_max", 0)
            else "green"),
        kpi("In-sample error", _share(d.get("mape")), f"MAPE of weekly revenue; R² {d.get('r2', float('nan')):.3f}",
            id="health-mape"),
        kpi("Holdout error", _share(holdout), f"MAPE on the last {int(d.get('holdout_weeks', 0) or 0)} weeks left "
                                              "out" if holdout is not None and not pd.isna(holdout) else "no holdout",
            id="health-holdout"),
        kpi("Interval coverage", _share(d.get("ppc_coverage_90")),
            "weeks inside the 90 % predictive interval (≈ 90 % is well calibrated)", id="health-coverage"),
    ]


def loo(d: dict, comparison: pd.DataFrame | None):
    """The response shape kept and, when several were fitted, the PSIS-LOO comparison that chose it."""
    line = (f"Saturation kept: {d.get('saturation', '?')}; carry-over: {d.get('adstock', '?')}. PSIS-LOO elpd "
            f"{d.get('elpd_loo', float('nan')):.1f} ± {d.get('elpd_loo_se', float('nan')):.1f} (largest Pareto k "
            f"{d.get('loo_pareto_k_max', float('nan')):.2f}; above 0.7 the estimate is unreliable).")
    if comparison is None or len(comparison) < 2:
        return dmc.Stack([dmc.Text(line, size="sm", id="health-loo"),
                          dmc.Text("Only this shape was fitted. With saturation or adstock auto (mmm_posterior's run "
                                   "config) the candidate shapes are fitted and compared here.",
                                   size="xs", c="dimmed")], gap=4)
    comparison = comparison.assign(**{c: comparison[c].map({True: "yes", False: "no"})
                                      for c in ("converged", "chosen")})
    return dmc.Stack([dmc.Text(line, size="sm", id="health-loo"),
                      frame_table(comparison, {k: v for k, v in LOO_COLUMNS.items() if k in comparison})], gap=4)


@page("/health")
def layout(week: str | None, **_):
    tables = _tables(week)
    diagnostics = tables["diagnostics"].iloc[0].to_dict()
    quality = current().quality(week)
    return [
        page_header("Model health", "Can this week's model be trusted? Convergence, fit, out-of-sample error, and "
                                    "the data-quality verdicts of its inputs.", week,
                    f"{diagnostics.get('sampler', '')}, {int(diagnostics.get('chains', 0) or 0)} chains × "
                    f"{int(diagnostics.get('draws', 0) or 0)} draws"),
        *banners(verdicts.convergence(diagnostics) + verdicts.quality(quality, week)),
        dmc.SimpleGrid(cards(diagnostics), cols={"base": 2, "lg": 3}, spacing="md"),
        section("Response shape", loo(diagnostics, tables.get("loo_comparison")),
                "Which saturation curve and carry-over the model uses, chosen by how well each predicts weeks it "
                "did not see."),
        section("Fit against actual revenue", graph("health-fit", figures.fit(tables["fit"], _geo(tables["fit"]))),
                "Weeks outside the shaded 90 % predictive interval are red.", actions=download.button("health-fit")),
        section("Data quality of the inputs", [
            frame_table(quality_matrix(quality), {c: (c, text) for c in quality_matrix(quality)},
                        id="health-quality-matrix"),
            dmc.Title("Failed verdicts", order=5, mt="md"),
            _failures(quality),
        ], "Every input of the last 13 weeks: rows accepted (✓) or the contract check that failed (✗).",
            actions=download.button("health-quality")),
    ]


def _geo(fit: pd.DataFrame) -> str:
    geos = sorted(fit["geo"].astype(str).unique())
    return "national" if "national" in geos else geos[0]


def quality_matrix(quality: pd.DataFrame) -> pd.DataFrame:
    """One row per week, one column per input: '✓ 5 rows' or '✗ contract'."""
    if quality.empty:
        return pd.DataFrame(columns=["week"])
    cells = quality.assign(cell=[_cell(r.passed, r.rows, r.checks_failed) for r in quality.itertuples()])
    matrix = cells.pivot_table(index="partition", columns="input", values="cell", aggfunc="first").fillna("–")
    order = sorted((p for p in matrix.index if p != "all"), reverse=True) + [p for p in matrix.index if p == "all"]
    return matrix.loc[order].reset_index().rename(columns={"partition": "week"})


def _cell(passed: bool, rows, failed: str) -> str:
    if not passed:
        return f"✗ {failed}"
    return "✓" if pd.isna(rows) else f"✓ {int(rows)} row{'s' if int(rows) != 1 else ''}"


def _failures(quality: pd.DataFrame):
    failed = quality[~quality["passed"]] if not quality.empty else quality
    if failed.empty:
        return dmc.Text("None in these weeks.", size="sm", c="dimmed", id="health-no-failures")
    return frame_table(failed, FAILURE_COLUMNS, id="health-failures", min_width=720)


@download.table("health-fit")
def _fit(week: str | None) -> pd.DataFrame:
    return _tables(week)["fit"]


@download.table("health-quality")
def _quality(week: str | None) -> pd.DataFrame:
    return current().quality(week) if week else pd.DataFrame()
