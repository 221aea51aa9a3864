"""Numbers, durations and links formatted for people (umm_assets.lib.humanize): pure, no fit."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib import humanize
from umm_assets.lib.humanize import FitTime


@pytest.mark.parametrize(("seconds", "shown"), [
    (0, "0.0 s"), (0.04, "0.0 s"), (52.3, "52.3 s"), (59.94, "59.9 s"), (59.96, "1 min 0 s"), (60, "1 min 0 s"),
    (221.4, "3 min 41 s"), (432.4, "7 min 12 s"), (3599.4, "59 min 59 s"), (3600, "1 h 0 min"),
    (3 * 3600 + 5 * 60 + 20, "3 h 5 min"), (-1, "0.0 s")])
def test_durations_read_as_a_person_says_them(seconds, shown):
    assert humanize.duration(seconds) == shown


def test_a_fit_time_sums_its_attempts_and_names_its_parts():
    first = (200.0, {"build": 1.0, "compile": 52.0, "sampling": 130.0, "holdout": 12.0, "total": 199.0}, False)
    again = (250.0, {"compile": 1.5, "sampling": 240.0, "total": 249.0}, True)
    timed = FitTime.of("logistic", [first, again])
    assert (timed.seconds, timed.attempts, timed.compile_reused) == (450.0, 2, False)
    assert timed.parts == {"compile": 53.5, "sampling": 370.0, "holdout": 12.0}
    assert timed.describe() == ("logistic fit 7 min 30 s in 2 attempts (compile 53.5 s, sampling 6 min 10 s, "
                                "holdout 12.0 s)")
    reused = FitTime.of("hill", [(198.0, {"compile": 0.4, "sampling": 180.0}, True)])
    assert reused.describe() == "hill fit 3 min 18 s (compile 0.4 s (reused), sampling 3 min 0 s)"
    assert FitTime.of("", [(5.0, {}, False)]).describe() == "fit 5.0 s"


def test_the_step_line_accounts_for_the_whole_step():
    fits = [FitTime("logistic", 221.4, {"compile": 52.0, "sampling": 150.0}),
            FitTime("hill", 198.0, {"compile": 50.0, "sampling": 140.0})]
    line = humanize.step_time_line("mmm_posterior[2026-11-23]", 432.4, fits,
                                   rest="window, choice, tables and saving", detail="156 weeks fitted")
    assert line == ("mmm_posterior[2026-11-23]: 156 weeks fitted, 7 min 12 s in all — logistic fit 3 min 41 s "
                    "(compile 52.0 s, sampling 2 min 30 s), hill fit 3 min 18 s (compile 50.0 s, sampling "
                    "2 min 20 s), window, choice, tables and saving 13.0 s")
    # a remainder never goes negative (timers of the parts read a moment apart)
    assert humanize.step_time_line("x", 10.0, [FitTime("", 10.2)]).endswith("the rest 0.0 s")


@pytest.mark.parametrize(("column", "value", "shown"), [
    ("spend", 2891080.4, "2,891,080"), ("spend", 2.89108e6, "2,891,080"), ("current", -12345.6, "-12,346"),
    ("uplift_mean", 45.3, "45.30"), ("roas_mean", 3.1, "3.10"), ("marginal_roas_recommended", 0.456, "0.46"),
    ("attribution_bias", 1.234, "1.23"), ("weight_tests", 0.4213, "42.1 %"), ("ppc_coverage_90", 0.9, "90.0 %"),
    ("holdout_mape", 0.0532, "5.3 %"), ("rhat_max", 1.0042, "1.004"), ("check_rhat_max", 1.01, "1.010"),
    ("ess_bulk_min", 812.7, "813"), ("elpd_loo", -1234.567, "-1,234.57"), ("budget_ratio", 0.5, "0.50"),
    ("roas_mean", float("nan"), "—"), ("spend", float("inf"), "∞"),
])
def test_table_cells_are_formatted_by_their_column(column, value, shown):
    assert humanize.cell(value, humanize.column_kind(column)) == shown


def test_cells_of_other_types():
    assert humanize.cell(None) == humanize.cell(pd.NaT) == humanize.cell(np.nan) == "—"
    assert humanize.cell(True) == "yes" and humanize.cell(np.bool_(False)) == "no"
    assert humanize.cell(1234567) == humanize.cell(np.int64(1234567)) == "1,234,567"
    assert humanize.cell(pd.Timestamp("2026-11-23")) == humanize.cell(dt.date(2026, 11, 23)) == "2026-11-23"
    assert humanize.cell("search") == "search"


def test_records_and_fields_are_text_for_people():
    frame = pd.DataFrame({"channel": ["search", "tv"], "spend": [2891080.4, 1.5e7], "roas_mean": [3.1, 0.873],
                          "n_tests": [2, 0], "hold_in_allocation": [False, True]})
    assert humanize.formatted_records(frame) == [
        {"channel": "search", "spend": "2,891,080", "roas_mean": "3.10", "n_tests": "2", "hold_in_allocation": "no"},
        {"channel": "tv", "spend": "15,000,000", "roas_mean": "0.87", "n_tests": "0", "hold_in_allocation": "yes"}]
    assert len(humanize.formatted_records(frame, rows=1)) == 1
    summary = pd.Series({"budget": 250000.0, "uplift_mean": 12345.678, "cvar_alpha": 0.1, "iterations": 17,
                         "decision": "recommended"})
    assert humanize.fields_frame(summary).to_dict("records") == [
        {"field": "budget", "value": "250,000"}, {"field": "uplift_mean", "value": "12,346"},
        {"field": "cvar_alpha", "value": "0.10"}, {"field": "iterations", "value": "17"},
        {"field": "decision", "value": "recommended"}]


def test_headline_figures():
    roas = pd.DataFrame({"channel": ["Paid Social", "search", "tv"], "spend": [100.0, 300.0, 600.0],
                         "roas_mean": [2.345, 3.0, np.nan], "contribution_mean": [234.5, 900.0, 300.0]})
    assert humanize.channel_figures(roas, "roas_mean") == {"roas_paid_social": 2.35, "roas_search": 3.0}
    assert humanize.channel_figures(roas, "roas_mean", limit=1) == {}  # tv (most spend) has no ROAS
    assert humanize.channel_figures(roas, "roas_mean", limit=2) == {"roas_search": 3.0}
    assert humanize.blended_roas(roas["spend"], roas["contribution_mean"]) == 1.43
    assert humanize.blended_roas([0.0], [10.0]) is None
    assert humanize.headline_key("fit_seconds", "hill") == "fit_seconds_hill"
    assert humanize.headline_key("roas", "Display (CPM)") == "roas_display_cpm"


def test_dashboard_page_urls():
    assert humanize.dash_page_url("http://127.0.0.1:8050", "/roas", "2026-11-23") == \
        "http://127.0.0.1:8050/roas?week=2026-11-23"
    assert humanize.dash_page_url("https://umm.example.com/dash/", "planner", "2026-11-23") == \
        "https://umm.example.com/dash/planner?week=2026-11-23"
    assert humanize.dash_page_url("http://h:1", "/roas") == "http://h:1/roas"
