"""mmm_posterior through real Dagster runs: the stored posterior, the response shape chosen by LOO, a
refit's determinism, and the windows it refuses (too short, a week that failed validation)."""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from tests.conftest import MODEL_CHAIN, VALIDATED
from tests.defs.conftest import LENIENT, OP_CONFIG, SHORT
from umm_assets.defs.runs import failure_messages, materialize_range
from umm_assets.defs.windows import require_complete
from umm_assets.lib.mmm.fit import load_mmm
from umm_assets.lib.mmm.policy import MORE_FLEXIBLE
from umm_assets.lib.storage import Warehouse


def test_posterior_is_pymc_marketings_own_format(modelled):
    platform, _ = modelled
    path = platform.warehouse.file("mmm_posterior", platform.truth["last_week"], "model.nc")
    mmm = load_mmm(path)
    assert set(mmm.channel_columns) == set(platform.truth["channels"])
    assert "posterior" in mmm.idata


def test_refitting_a_week_with_the_same_data_and_seed_gives_the_same_summaries(scratch):
    """Both refits sample the shape the session's chain already compiled: the first fit of a shape in a process
    compiles a frozen graph, later ones the data-swappable graph (lib/mmm/fit.CompileReuse), and the two
    graphs' floating-point paths differ, so their draws agree only within Monte-Carlo error."""
    platform, _ = scratch
    week = platform.truth["last_week"]
    shape = {k: OP_CONFIG["mmm_posterior"][k] for k in ("saturation", "adstock")}
    config = {"mmm_posterior": {**SHORT, **LENIENT, **shape, "holdout_weeks": 0, "seed": 3}}
    tables = []
    for _ in range(2):
        assert materialize_range(platform.defs, platform.instance, ["mmm_posterior"], week, log_level="WARNING",
                                 op_config=config).success
        tables.append({t: platform.warehouse.read("mmm_posterior", week, t) for t in ("roas", "contributions",
                                                                                      "response_curves")})
    for name in tables[0]:
        pd.testing.assert_frame_equal(tables[0][name], tables[1][name])


def test_too_little_history_is_refused_with_a_clear_error(modelled):
    platform, _ = modelled
    early = platform.weeks[40]  # 41 weeks of history < 52
    result = materialize_range(platform.defs, platform.instance, ["mmm_posterior"], early, log_level="WARNING",
                               op_config=OP_CONFIG)
    message = "\n".join(failure_messages(result))
    assert not result.success and "mmm_posterior[" in message and "52" in message
    assert early not in Warehouse(platform.settings.data_dir).partitions("mmm_posterior")


def _metadata_table(value: dg.TableMetadataValue) -> pd.DataFrame:
    """A table of a materialization's metadata, its values as shown (text: ``-1,234.56``, ``yes``)."""
    return pd.DataFrame([record.data for record in value.records])


def _number(shown: str) -> float:
    return float(shown.replace(",", ""))


def test_by_default_the_response_shape_is_chosen_by_loo_and_the_kept_one_is_refitted(modelled):
    """Saturation and adstock auto: logistic and Hill with geometric carry-over, then delayed carry-over
    with the saturation kept; the fit kept is stored, shown and refitted."""
    platform, _ = modelled
    week = platform.weeks[-2]
    defaults = {k: v for k, v in OP_CONFIG["mmm_posterior"].items() if k not in ("saturation", "adstock")}
    auto = {**OP_CONFIG, "mmm_posterior": {**defaults, "holdout_weeks": 0}}
    result = materialize_range(platform.defs, platform.instance, MODEL_CHAIN[:2], week, log_level="WARNING",
                               op_config=auto)
    assert result.success, failure_messages(result)
    event = next(e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "mmm_posterior")
    comparison = _metadata_table(event.materialization.metadata["loo_comparison"])
    rows = comparison.assign(elpd=comparison["elpd_loo"].map(_number), shape=comparison["saturation"] + " "
                             + comparison["adstock"]).set_index("shape")
    geometric, delayed = rows[rows["adstock"] == "geometric"], rows[rows["adstock"] == "delayed"]
    assert sorted(geometric["saturation"]) == ["hill", "logistic"] and len(delayed) == 1
    kept = rows[rows["chosen"] == "yes"].iloc[0]
    # the kept fit is the best one, or one more flexible that trails it within the paired standard error
    best = rows.loc[rows["elpd"].idxmax()]
    if best.name != kept.name:
        lead, se = best["elpd"] - kept["elpd"], _number(best["elpd_diff_se"])
        assert lead == pytest.approx(_number(best["elpd_diff"]), abs=0.05) and lead <= se
        assert flexibility(best) < flexibility(kept)
    diagnostics = platform.warehouse.read("mmm_posterior", week, "diagnostics").iloc[0]
    assert (diagnostics["saturation"], diagnostics["adstock"]) == (kept["saturation"], kept["adstock"])
    assert diagnostics["elpd_loo"] == pytest.approx(kept["elpd"], rel=1e-4)  # as shown in the metadata
    assert np.isfinite(diagnostics["elpd_loo_se"]) and diagnostics["elpd_loo_se"] > 0
    stored = platform.warehouse.read("mmm_posterior", week, "loo_comparison")
    assert len(stored) == 3 and stored["chosen"].sum() == 1  # what the dashboard shows
    assert stored.loc[stored["chosen"], "adstock"].item() == kept["adstock"]
    # the calibrated refit fits the model that was kept, not the default
    spec = json.loads(platform.warehouse.read("reconciled_lift", week, "spec")["spec_json"].iloc[0])
    assert (spec["model_config"]["saturation"], spec["model_config"]["adstock"]) == (kept["saturation"],
                                                                                     kept["adstock"])
    names = set(platform.warehouse.read("reconciled_lift", week, "parameter_draws")["name"])
    assert ("saturation_slope" in names) == (kept["saturation"] == "hill")
    assert ("adstock_theta" in names) == (kept["adstock"] == "delayed")


def flexibility(row: pd.Series) -> int:
    return sum(row[part] == family for part, family in MORE_FLEXIBLE.items())


def test_a_week_that_failed_validation_stops_the_fit_with_the_reason(platform):
    """A bad spend row blocks its week's validated_spend (the contract); the model window that covers the
    week must not read it as a week of zero spend: mmm_posterior fails naming the week and the rule."""
    weeks = platform.weeks
    bad_week = weeks[30]
    (platform.raw / "media_spend" / "late_fix.csv").write_text(f"date,channel,spend\n{bad_week},tv,-5\n")
    platform.materialize(VALIDATED, weeks[0], weeks[29])
    platform.materialize(VALIDATED, weeks[31], weeks[-1])
    assert not platform.materialize(VALIDATED, bad_week, expect_success=False).success
    assert bad_week not in platform.warehouse.partitions("validated_spend")
    result = materialize_range(platform.defs, platform.instance, ["mmm_posterior"], weeks[-1], log_level="WARNING",
                               op_config=OP_CONFIG)
    message = "\n".join(failure_messages(result))
    assert not result.success and "has gaps, so nothing was fitted" in message
    assert f"{bad_week} (failed validation: media_spend/late_fix.csv" in message and "non-negative" in message
    assert platform.warehouse.partitions("mmm_posterior") == []


def test_a_channel_without_a_row_in_a_week_is_zero_not_a_gap(tmp_path):
    """The raw contract: a channel with no row in a week that has rows spent nothing."""
    weeks = pd.date_range("2024-01-01", periods=10, freq="W-MON")
    spend = pd.DataFrame([{"week": w, "channel": c, "spend": 1.0} for w in weeks for c in ("tv", "search")])
    spend = spend[~((spend["week"] == weeks[4]) & (spend["channel"] == "tv"))]
    outcomes = pd.DataFrame({"week": weeks, "revenue": 1.0})
    frames = {"validated_spend": spend, "validated_outcomes": outcomes, "validated_controls": pd.DataFrame()}
    require_complete(weeks[-1].date().isoformat(), 156, frames, Warehouse(tmp_path), "mmm_posterior")  # no error
    with pytest.raises(dg.Failure, match=rf"validated_spend lacks 1 week\(s\): {weeks[4].date()} \(never validated\)"):
        require_complete(weeks[-1].date().isoformat(), 156, {**frames, "validated_spend": spend[spend["week"] != weeks[4]]},
                         Warehouse(tmp_path), "mmm_posterior")

