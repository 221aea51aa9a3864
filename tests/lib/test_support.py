"""Where a plan moves spend next to where the evidence measured the curves (umm_assets.lib.support), and the
spend level a test read its channel's curve at (ResponseModel.weekly_spend_during)."""

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib import support

ROAS = pd.DataFrame({"channel": ["tv", "search", "display"], "weekly_spend_p05": [8000.0, 3000.0, np.nan],
                     "weekly_spend_p95": [12000.0, 6000.0, np.nan]})
COVERAGE = pd.DataFrame({"channel": ["search", "search", "search"], "source": ["mmm", "reconciled", "mmm"],
                         "weekly_spend": [7000.0, 7000.0, 5000.0]})


def plan(**moves: tuple[float, float]) -> pd.DataFrame:
    return pd.DataFrame([{"channel": c, "current": a, "recommended": b} for c, (a, b) in moves.items()])


def test_a_move_past_every_measured_level_is_flagged_with_the_numbers():
    ranges = support.measured_ranges(ROAS, COVERAGE)
    assert ranges.loc["search", "tested_weekly_spend"] == 7000.0 and np.isnan(ranges.loc["tv", "tested_weekly_spend"])
    judged = support.with_support(plan(tv=(10_000, 15_000), search=(5000, 6800), display=(100, 900)), ranges)
    by = judged.set_index("channel")
    assert by.loc["tv", "support"] == support.ABOVE
    assert "15,000" in by.loc["tv", "support_note"] and "8,000-12,000" in by.loc["tv", "support_note"]
    assert "no test" in by.loc["tv", "support_note"]
    # above its window's 95th percentile, but a test ran higher: measured
    assert by.loc["search", "support"] == support.WITHIN and by.loc["search", "support_note"] == ""
    assert by.loc["display", "support"] == support.UNKNOWN  # a posterior stored before the ranges
    assert support.outside(judged) == ["tv"]


def test_only_a_move_out_of_the_range_is_flagged_not_a_channel_left_where_it_was():
    ranges = support.measured_ranges(ROAS, None)
    judged = support.with_support(plan(tv=(14_000, 14_000), search=(3500, 2000)), ranges).set_index("channel")
    assert judged.loc["tv", "support"] == support.WITHIN  # outside, but the plan does not move it
    assert judged.loc["search", "support"] == support.BELOW and "2,000" in judged.loc["search", "support_note"]


def test_a_scenario_is_judged_against_the_ranges_stored_with_its_partition():
    stored = support.with_support(plan(tv=(10_000, 11_000), search=(5000, 4000)), support.measured_ranges(ROAS, None))
    scenario = support.carried(plan(tv=(10_000, 20_000), search=(5000, 4000)), stored).set_index("channel")
    assert list(scenario["support"]) == [support.ABOVE, support.WITHIN]
    old = plan(tv=(10_000, 11_000))  # a partition stored before the ranges: nothing to judge against
    assert "support" not in support.carried(plan(tv=(10_000, 20_000)), old)


def test_the_spend_level_a_test_read_is_its_channels_weekly_spend_over_its_days(true_model):
    weeks = pd.date_range("2025-01-06", periods=10, freq="7D")
    history = pd.DataFrame({c: np.arange(10, dtype=float) * 100 + 1000 for c in true_model.channels}, index=weeks)
    channel = true_model.channels[0]
    # weeks 3 and 4 in full (1300, 1400) and 3 days of week 5 (1500)
    spend = true_model.weekly_spend_during(history, channel, weeks[3], weeks[5] + pd.Timedelta(days=2))
    assert spend == pytest.approx((1300 + 1400 + 1500 * 3 / 7) / (2 + 3 / 7))

