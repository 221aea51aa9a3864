"""reconciled_lift through real Dagster runs: the tests known by the week, the thresholds a posterior is held
to, and the calibrated refit reused when only attribution changed."""

from __future__ import annotations

import pandas as pd

from tests.defs.conftest import LENIENT, OP_CONFIG, SHORT
from umm_assets.defs.runs import failure_messages, materialize_range


def test_reconciliation_uses_the_tests_known_by_the_week(modelled):
    platform, _ = modelled
    table = platform.warehouse.read("reconciled_lift", platform.truth["last_week"], "reconciled").set_index("channel")
    tested = {t["channel"]: t["test_id"] for t in platform.truth["tests"]}
    for channel, test_id in tested.items():
        assert table.loc[channel, "tests_used"] == test_id and table.loc[channel, "weight_tests"] > 0
    untested = [c for c in table.index if c not in tested]
    assert (table.loc[untested, "n_tests"] == 0).all()
    assert (table["method"] == "calibrated_refit").all()
    assert table["attribution_roas"].notna().all()  # last-click is reported for every channel


def test_reconciliation_holds_a_posterior_to_the_thresholds_its_fit_was_checked_against(modelled):
    """A week fitted with relaxed thresholds (as these short test chains are) passed its check, so
    reconciled_lift accepts it and holds its refit to the same thresholds, without allow_unconverged."""
    platform, _ = modelled
    week = platform.weeks[-3]
    fitted = materialize_range(platform.defs, platform.instance, ["mmm_posterior"], week, log_level="WARNING",
                               op_config=OP_CONFIG)
    assert fitted.success, failure_messages(fitted)
    diagnostics = platform.warehouse.read("mmm_posterior", week, "diagnostics").iloc[0]
    assert {k: diagnostics[f"check_{k}"] for k in LENIENT} == LENIENT
    strict_reconcile = {"reconciled_lift": {**SHORT, "allow_unconverged": False}}
    reconciled = materialize_range(platform.defs, platform.instance, ["reconciled_lift"], week, log_level="WARNING",
                                   op_config=strict_reconcile)
    assert reconciled.success, failure_messages(reconciled)
    assert platform.warehouse.read("reconciled_lift", week, "summary")["method"].iloc[0] == "calibrated_refit"


def test_a_new_attribution_file_reuses_the_calibrated_refit(scratch):
    """The refit depends on the posterior, the tests and the window, not on attribution: re-materializing
    reconciled_lift after a new attribution file reuses the stored refit instead of sampling again."""
    platform, _ = scratch
    week = platform.truth["last_week"]
    # (earlier tests may have refitted this week's posterior: reconcile it with the current one first)
    first = materialize_range(platform.defs, platform.instance, ["reconciled_lift"], week, log_level="WARNING",
                              op_config=OP_CONFIG)
    assert first.success, failure_messages(first)
    before = platform.warehouse.read("reconciled_lift", week, "summary").iloc[0]
    assert before["method"] == "calibrated_refit" and before["refit_key"]
    attribution = platform.raw / "attribution" / "last_click.csv.gz"
    frame = pd.read_csv(attribution)
    frame["attributed_revenue"] = (frame["attributed_revenue"] * 1.7).round(2)
    frame.to_csv(attribution, index=False, compression="gzip")
    platform.materialize(["validated_attribution"], platform.truth["first_week"], week)
    result = materialize_range(platform.defs, platform.instance, ["reconciled_lift"], week, log_level="INFO",
                               op_config=OP_CONFIG)
    assert result.success, failure_messages(result)
    logs = [e.message for e in platform.instance.all_logs(result.run_id) if e.message]
    assert any("reusing it" in m for m in logs) and not any("refitting the MMM" in m for m in logs)
    after = platform.warehouse.read("reconciled_lift", week, "reconciled").set_index("channel")
    assert platform.warehouse.read("reconciled_lift", week, "summary").iloc[0]["refit_key"] == before["refit_key"]
    assert (after["attribution_roas"] > 0).all()

