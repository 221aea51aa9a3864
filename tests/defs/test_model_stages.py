"""mmm_posterior -> reconciled_lift -> allocation through real Dagster runs (short chains: these
tests check the wiring, the stored tables and the checks; accuracy is in tests/recovery)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from tests.conftest import INSTANCE_CONFIG, QUICK_RUN_CONFIG, VALIDATED, Platform
from umm_assets.definitions import build_defs
from umm_assets.defs.runs import failure_messages, materialize_range
from umm_assets.defs.windows import require_complete
from umm_assets.lib import allocate, demo
from umm_assets.lib.mmm.fit import load_mmm
from umm_assets.lib.mmm.policy import MORE_FLEXIBLE
from umm_assets.lib.outputs import SCHEMAS
from umm_assets.lib.settings import Settings
from umm_assets.lib.storage import Stored, Warehouse

MODEL_CHAIN = ["mmm_posterior", "reconciled_lift", "allocation"]
OP_CONFIG = QUICK_RUN_CONFIG
SHORT = {k: OP_CONFIG["mmm_posterior"][k] for k in ("chains", "draws", "tune")}
LENIENT = {k: OP_CONFIG["mmm_posterior"][k] for k in ("rhat_max", "ess_min", "divergences_max")}


@pytest.fixture(scope="module")
def modelled(tmp_path_factory, end_week):
    """A 70-week demo world, validated, then its last week as the Monday refresh takes it once that week has
    closed: the schedule's validation run, then the model chain run its sensor requests on that run's success."""
    root = tmp_path_factory.mktemp("modelled")
    truth = demo.generate(root / "raw", seed=5, weeks=70, end_week=end_week)
    settings = Settings.from_env({"UMM_RAW_URI": str(root / "raw"), "UMM_DATA_DIR": str(root / "warehouse"),
                                  "UMM_FIRST_WEEK": truth["first_week"]})
    (root / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(root / "home"), overrides=INSTANCE_CONFIG) as instance:
        platform = Platform(root / "raw", root / "warehouse", settings, build_defs(settings), instance, truth)
        platform.materialize(VALIDATED, truth["first_week"], truth["last_week"])
        schedule = platform.defs.resolve_schedule_def("weekly_refresh")
        monday_after = dt.datetime.fromisoformat(truth["last_week"]).replace(tzinfo=dt.UTC) + dt.timedelta(days=7, hours=6)
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=monday_after) as context:
            (request,) = schedule.evaluate_tick(context).run_requests
        assert request.partition_key == truth["last_week"]
        validation = _execute(platform, schedule.job_name, request)  # the refresh's first run: the week validated
        assert _materialized(validation) == {*VALIDATED}
        request = platform.chain_request(validation.run_id)  # on its success, the sensor asks for the chain
        assert isinstance(request, dg.RunRequest) and request.partition_key == truth["last_week"]
        result = _execute(platform, "model_chain_job", request)
        assert _materialized(result) == {*MODEL_CHAIN}
        yield platform, result


def _execute(platform: Platform, job: str, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    ops = {name: {"config": config} for name, config in OP_CONFIG.items()} if job == "model_chain_job" else {}
    result = platform.defs.resolve_job_def(job).execute_in_process(
        instance=platform.instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}, "ops": ops})
    assert result.success, failure_messages(result)
    return result


def _materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}



def test_every_stage_stores_its_contract_tables(modelled):
    platform, result = modelled
    week = platform.truth["last_week"]
    warehouse = platform.warehouse
    for asset, schemas in SCHEMAS.items():
        commit = warehouse.require(asset, week)
        if asset in MODEL_CHAIN:
            assert commit.run_id == result.run_id
        for table, schema in schemas.items():
            schema.validate(warehouse.read_commit(commit, table))
    roas = warehouse.read("mmm_posterior", week, "roas")
    assert sorted(roas["channel"]) == sorted(platform.truth["channels"])
    assert (roas["roas_p05"] <= roas["roas_p50"]).all() and (roas["roas_p50"] <= roas["roas_p95"]).all()
    lineage = warehouse.commit("reconciled_lift", week).upstream
    assert lineage["mmm_posterior"]["version"] == warehouse.commit("mmm_posterior", week).version
    assert sorted(lineage["validated_tests"]) == sorted(t["test_id"] for t in platform.truth["tests"])


def test_posterior_is_pymc_marketings_own_format(modelled):
    platform, _ = modelled
    path = platform.warehouse.file("mmm_posterior", platform.truth["last_week"], "model.nc")
    mmm = load_mmm(path)
    assert set(mmm.channel_columns) == set(platform.truth["channels"])
    assert "posterior" in mmm.idata


def test_checks_metadata_and_progress_are_in_dagster(modelled):
    platform, result = modelled
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    assert {"convergence", "holdout_error"} <= {name for asset, name in checks if asset == "mmm_posterior"}
    assert checks[("allocation", "budget_sums_to_total")].passed
    assert checks[("allocation", "bounds_respected")].passed
    assert ("reconciled_lift", "tests_within_predictive_interval") in checks
    materialization = platform.instance.get_latest_materialization_event(dg.AssetKey("mmm_posterior"))
    metadata = materialization.asset_materialization.metadata
    assert {"diagnostics", "roas", "fit_vs_actual"} <= set(metadata)
    assert "data:image/png;base64," in metadata["fit_vs_actual"].value
    logs = [e.message for e in platform.instance.all_logs(result.run_id) if e.message]
    assert any("mmm_posterior[" in m and "sampling:" in m for m in logs), "no sampling progress in the run log"
    assert any("calibrated refit" in m for m in logs)


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


def test_allocation_is_feasible_and_scenarios_solve_from_the_stored_partition(modelled):
    platform, _ = modelled
    week = platform.truth["last_week"]
    commit = platform.warehouse.require("allocation", week)
    tables = {name: platform.warehouse.read_commit(commit, name) for name in commit.tables}
    stored = tables["allocation"]
    summary = tables["summary"].iloc[0]
    assert stored["recommended"].sum() == pytest.approx(summary["budget"])
    assert (stored["recommended"] >= stored["lower_bound"] - 1e-6).all()
    assert summary["budget"] == pytest.approx(stored["current"].sum())  # default: the last 13 weeks' mean
    frontier = tables["frontier"]
    assert frontier["budget_ratio"].min() == 0.5 and frontier["budget_ratio"].max() == 1.5
    solved = allocate.solve_scenario(tables, float(summary["budget"]))
    assert np.allclose(solved.allocation["recommended"], stored["recommended"], rtol=1e-3, atol=1.0)


def test_a_failed_convergence_check_blocks_reconciliation_and_allocation(modelled, tmp_path):
    platform, _ = modelled
    week = platform.truth["last_week"]
    before = {a: platform.warehouse.commit(a, week).version for a in ("reconciled_lift", "allocation")}
    strict = {"mmm_posterior": {**SHORT, "holdout_weeks": 0, "rhat_max": 1.0, "ess_min": 1e9, "escalate": False}}
    mmm_before = platform.warehouse.commit("mmm_posterior", week).version
    result = materialize_range(platform.defs, platform.instance, MODEL_CHAIN, week, log_level="WARNING",
                               op_config={**OP_CONFIG, **strict})
    assert not result.success
    convergence = [c for c in result.get_asset_check_evaluations() if c.check_name == "convergence"]
    assert convergence and not convergence[0].passed
    assert "did not converge, so nothing was written" in "\n".join(failure_messages(result))
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert not materialized  # the failed fit is not stored; nothing downstream ran
    assert platform.warehouse.commit("mmm_posterior", week).version == mmm_before
    assert {a: platform.warehouse.commit(a, week).version for a in before} == before
    # an unconverged posterior stored on purpose is refused by a separate reconciliation run
    kept = {"mmm_posterior": {**strict["mmm_posterior"], "keep_unconverged": True}}
    assert materialize_range(platform.defs, platform.instance, ["mmm_posterior"], week, log_level="WARNING",
                             op_config=kept).success is False  # stored, but its blocking check failed the run
    assert platform.warehouse.commit("mmm_posterior", week).version != mmm_before
    alone = materialize_range(platform.defs, platform.instance, ["reconciled_lift"], week, log_level="WARNING")
    assert not alone.success and "did not converge" in "\n".join(failure_messages(alone))


def test_refitting_a_week_with_the_same_data_and_seed_gives_the_same_summaries(modelled):
    platform, _ = modelled
    week = platform.truth["last_week"]
    config = {"mmm_posterior": {**SHORT, **LENIENT, "holdout_weeks": 0, "seed": 3}}
    tables = []
    for _ in range(2):
        assert materialize_range(platform.defs, platform.instance, ["mmm_posterior"], week, log_level="WARNING",
                                 op_config=config).success
        tables.append({t: platform.warehouse.read("mmm_posterior", week, t) for t in ("roas", "contributions",
                                                                                      "response_curves")})
    for name in tables[0]:
        pd.testing.assert_frame_equal(tables[0][name], tables[1][name])


def test_too_little_history_is_refused_with_a_clear_error(modelled, tmp_path):
    platform, _ = modelled
    early = platform.weeks[40]  # 41 weeks of history < 52
    result = materialize_range(platform.defs, platform.instance, ["mmm_posterior"], early, log_level="WARNING",
                               op_config=OP_CONFIG)
    message = "\n".join(failure_messages(result))
    assert not result.success and "mmm_posterior[" in message and "52" in message
    assert early not in Warehouse(platform.settings.data_dir).partitions("mmm_posterior")
    shutil.rmtree(tmp_path, ignore_errors=True)


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


def test_a_new_attribution_file_reuses_the_calibrated_refit(modelled):
    """The refit depends on the posterior, the tests and the window, not on attribution: re-materializing
    reconciled_lift after a new attribution file reuses the stored refit instead of sampling again."""
    platform, _ = modelled
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


def test_a_held_channel_stays_at_its_current_spend_and_every_plan_is_held_to_the_mmm(modelled):
    """A reconciled partition whose guard rail held an untested channel: the allocation locks it at its
    current spend, says why in its table, summary and metadata, and checks the plan against the plain MMM."""
    platform, _ = modelled
    week = platform.truth["last_week"]
    warehouse = platform.warehouse
    commit = warehouse.require("reconciled_lift", week)
    tables = {name: warehouse.read_commit(commit, name) for name in commit.tables}
    untested = tables["reconciled"].query("n_tests == 0")["channel"].iloc[0]
    held = tables["reconciled"]["channel"] == untested
    tables["reconciled"].loc[held, ["hold_in_allocation", "guard_note"]] = [True, f"{untested} (untested): held"]
    warehouse.write("reconciled_lift", week, Stored(tables, upstream=commit.upstream), run_id="test",
                    code_version=commit.code_version)
    result = materialize_range(platform.defs, platform.instance, ["allocation"], week, log_level="WARNING",
                               op_config=OP_CONFIG)
    assert result.success, failure_messages(result)
    allocation = warehouse.read("allocation", week, "allocation").set_index("channel")
    summary = warehouse.read("allocation", week, "summary").iloc[0]
    assert allocation.loc[untested, "locked"] and allocation.loc[untested, "hold_reason"] == f"{untested} (untested): held"
    assert allocation.loc[untested, "recommended"] == pytest.approx(allocation.loc[untested, "current"])
    assert summary["held_channels"] == untested and summary["uplift_mmm_mean"] >= 0
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks["not_worse_than_current_under_mmm"].passed
    event = next(iter(result.get_asset_materialization_events()))
    assert any("held" in record.data["hold_reason"] for record in event.materialization.metadata["allocation"].records)


def test_a_move_to_a_spend_level_nothing_measured_is_flagged_in_the_table_check_and_metadata(modelled):
    """A posterior whose window saw no spend at all (its measured levels rewritten to zero, no test levels):
    every channel the plan raises goes where nothing measured its curve, and says so."""
    platform, _ = modelled
    week = platform.truth["last_week"]
    warehouse = platform.warehouse
    for asset, table, columns in (("mmm_posterior", "roas", ["weekly_spend_p05", "weekly_spend_p95"]),
                                  ("reconciled_lift", "test_coverage", ["weekly_spend"])):
        commit = warehouse.require(asset, week)
        tables = {name: warehouse.read_commit(commit, name) for name in commit.tables}
        tables[table][columns] = 0.0 if asset == "mmm_posterior" else np.nan
        warehouse.write(asset, week, Stored(tables, upstream=commit.upstream), run_id="test",
                        code_version=commit.code_version)
    result = materialize_range(platform.defs, platform.instance, ["allocation"], week, log_level="WARNING",
                               op_config=OP_CONFIG)
    assert result.success, failure_messages(result)  # a warning, not a blocked plan
    allocation = warehouse.read("allocation", week, "allocation").set_index("channel")
    raised = sorted(allocation.index[allocation["recommended"] > allocation["current"] * (1 + 1e-9)])
    assert raised, "the plan moves no channel"
    assert sorted(allocation.index[allocation["support"] == "above data"]) == raised
    assert (allocation.loc[raised, "support_note"].str.contains("above what was measured")).all()
    summary = warehouse.read("allocation", week, "summary").iloc[0]
    assert sorted(summary["outside_data"].split(",")) == raised
    check = next(c for c in result.get_asset_check_evaluations() if c.check_name == "plan_within_measured_spend")
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert all(channel in check.description for channel in raised)
    event = next(iter(result.get_asset_materialization_events()))
    shown = {r.data["channel"]: r.data["support"] for r in event.materialization.metadata["allocation"].records}
    assert {c for c, v in shown.items() if v == "above data"} == set(raised)


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
