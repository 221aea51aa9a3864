"""ROAS & reconciliation: what each channel returns according to the MMM, the experiments and attribution,
and what the platform concludes from all three."""

from __future__ import annotations

import dash
import dash_mantine_components as dmc
import pandas as pd

from umm_dash import verdicts
from umm_dash.components import download
from umm_dash.components.cards import banners, empty_state, graph, page_header, section
from umm_dash.components.page import page
from umm_dash.components.table import frame_table, number, percent, text, yes_no
from umm_dash.data import EXPERIMENT_PLAN, RECONCILED_LIFT, current
from umm_dash.figures import roas as figures

dash.register_page(__name__, path="/roas", name="ROAS & reconciliation", order=2,
                   title="ROAS & reconciliation · Unified-M")
METHODS = {"calibrated_refit": "calibrated refit (the MMM refitted with each experiment as a likelihood)",
           "bayesian": "Bayesian update (the MMM posterior as prior, each experiment a likelihood)",
           "weighted_average": "precision-weighted average"}
WEIGHT_COLUMNS = {"channel": ("channel", text), "weight_mmm": ("MMM", percent()),
                  "weight_tests": ("experiments", percent()), "weight_attribution": ("attribution", percent()),
                  "n_tests": ("tests", number()), "tests_used": ("test ids", text),
                  "attribution_bias": ("attribution bias (×)", number(2)), "guard_note": ("note", text)}
EXPERIMENT_COLUMNS = {"channel": ("channel", text), "kind": ("test", text), "weeks": ("weeks", number()),
                      "spend_level": ("at spend", text), "roas_halfwidth_today": ("interval today (±)", percent()),
                      "roas_halfwidth_after": ("after (±)", percent()),
                      "value_per_week": ("revenue gained / week", number()), "cost": ("cost", number()),
                      "net_value": ("net over horizon", number()), "worth_it": ("worth it", yes_no)}


def _tables(week: str | None):
    return current().tables(RECONCILED_LIFT, week, "reconciled", "summary", "test_coverage")


@page("/roas")
def layout(week: str | None, **_):
    tables = _tables(week)
    reconciled, summary = tables["reconciled"], tables["summary"].iloc[0].to_dict()
    coverage = tables.get("test_coverage")
    method = str(summary.get("method", ""))
    return [
        page_header("ROAS & reconciliation", "What each channel returns per unit of spend, by source, and the "
                                             "reconciled estimate the plan uses.", week,
                    f"fusion: {METHODS.get(method, method)}"),
        *banners(verdicts.reconciliation(summary, reconciled, coverage)),
        section("Return on ad spend by source", graph("roas-forest", figures.forest(reconciled)),
                "Dots: estimates; bars: 90 % intervals. Experiments and bias-corrected attribution appear where a "
                "channel has them.", actions=download.button("roas-reconciled")),
        section("Experiments in their own units", _tests(coverage, week),
                "Each test's measured incremental revenue next to what the MMM and the reconciled model predict "
                "for the same channel, dates and spend.", actions=download.button("roas-tests")),
        section("How the sources were weighed", frame_table(reconciled, _weight_columns(reconciled),
                                                             id="roas-weights"),
                "Each source's share of the way the reconciled estimate moved towards it.",
                actions=download.button("roas-weights")),
        section("Which test to run next", _experiments(week),
                "Each channel's best test, simulated on this week's posterior: the ROAS interval after it, the "
                "revenue a better split would gain, and its cost.", actions=download.button("roas-experiment-plan")),
    ]


def _experiments(week: str | None):
    plan = current().optional(EXPERIMENT_PLAN, week, "designs", "summary")
    if plan is None:
        return empty_state("No experiment plan for this week",
                           f".venv/bin/umm materialize --partition {week} --select experiment_plan")
    designs, summary = plan["designs"], plan["summary"].iloc[0]
    best = designs[designs["best"]].sort_values("rank")
    lead = "Next" if len(best) and best["worth_it"].iloc[0] else "No test is worth its cost; the best candidate"
    lines = [dmc.Text(f"{lead}: {summary['top_sentence']}.", fw=600, id="roas-next-test")] if len(best) else []
    if summary["not_worth_testing"]:
        lines.append(dmc.Text(f"No test is worth its cost over {int(summary['horizon_weeks'])} weeks for: "
                              f"{summary['not_worth_testing'].replace(',', ', ')}.", size="sm"))
    lines.append(frame_table(best, EXPERIMENT_COLUMNS, id="roas-experiments"))
    lines.append(dmc.Text(
        f"Measured lifts simulated with {100 * summary['noise_cv']:.0f} % noise for a 4-week holdout "
        f"({summary['noise_source']}); cost = revenue forgone − what the saved spend earns at the plan's margin "
        f"(ROAS {summary['budget_marginal_roas']:.2f}); worth it: a positive net, and a gain clear of its "
        "Monte-Carlo error and at least 0.1 % of weekly media revenue.", size="xs", c="dimmed"))
    return dmc.Stack(lines, gap="xs")


def _tests(coverage: pd.DataFrame | None, week: str | None):
    if coverage is None or coverage.empty:
        return empty_state("No experiments ended by this week",
                           f".venv/bin/umm materialize --partition {week} --select "
                           "validated_tests,reconciled_lift,allocation,experiment_plan",
                           "Add finished tests under incrementality_tests/ in the landing zone, then reconcile again:")
    return graph("roas-tests", figures.tests(coverage))


def _weight_columns(frame: pd.DataFrame) -> dict:
    return {k: v for k, v in WEIGHT_COLUMNS.items() if k in frame}


@download.table("roas-reconciled")
def _reconciled(week: str | None) -> pd.DataFrame:
    return _tables(week)["reconciled"]


@download.table("roas-tests")
def _coverage(week: str | None) -> pd.DataFrame:
    return _tables(week).require("test_coverage")


@download.table("roas-weights")
def _weights(week: str | None) -> pd.DataFrame:
    reconciled = _tables(week)["reconciled"]
    return reconciled[["channel", "method", *(c for c in reconciled if c.startswith(("weight_", "shift_"))),
                       "n_tests", "tests_used"]]



@download.table("roas-experiment-plan")
def _experiment_plan(week: str | None) -> pd.DataFrame:
    return current().tables(EXPERIMENT_PLAN, week, "designs")["designs"]
