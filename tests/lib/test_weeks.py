"""Dated windows on weekly rows, and a test's lift uncertainty from its interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from umm_assets.lib.mmm.calibration import lift_sd
from umm_assets.lib.weeks import shares_inside


def test_a_window_is_prorated_by_days_onto_the_weeks_it_touches():
    mondays = pd.date_range("2024-01-01", periods=4, freq="W-MON")
    # Thursday of week 1 to Tuesday of week 3, both days included: 4 + 7 + 2 days
    shares = shares_inside(mondays, pd.Timestamp("2024-01-04"), pd.Timestamp("2024-01-16"))
    np.testing.assert_allclose(shares, [4 / 7, 1, 2 / 7, 0])
    assert shares_inside(mondays, pd.Timestamp("2023-06-01"), pd.Timestamp("2023-06-30")).sum() == 0


def test_lift_sd_reads_the_interval_at_its_confidence():
    assert lift_sd(100, 80, 120, 0.9) == pytest.approx(20 / 1.6449, rel=1e-4)
    assert lift_sd(100, 80, 120, None) == lift_sd(100, 80, 120, float("nan")) == lift_sd(100, 80, 120, 0.9)
    assert lift_sd(100, 90, 110, 0.5) == pytest.approx(10 / 0.6745, rel=1e-4)
    assert lift_sd(100, 100, 100, 0.9) > 0  # a zero-width interval is not infinite precision
