"""mmm_posterior -> reconciled_lift -> allocation as the Monday refresh runs them: every stage's stored
tables, the checks, metadata and progress in Dagster, and a failed fit stopping the chain (short chains: these
tests check the wiring; accuracy is in tests/recovery)."""

from __future__ import annotations

from tests.conftest import MODEL_CHAIN
from tests.defs.conftest import OP_CONFIG, SHORT
from umm_assets.defs.runs import failure_messages, materialize_range
from umm_assets.lib.outputs import SCHEMAS


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


def test_checks_metadata_and_progress_are_in_dagster(modelled):
    platform, result = modelled
    checks = {(c.asset_key.to_user_string(), c.check_name): c for c in result.get_asset_check_evaluations()}
    assert {"convergence", "holdout_error"} <= {name for asset, name in checks if asset == "mmm_posterior"}
    assert checks[("allocation", "budget_sums_to_total")].passed
    assert checks[("allocation", "bounds_respected")].passed
    assert ("reconciled_lift", "tests_within_predictive_interval") in checks
    [materialization] = [e for e in result.get_asset_materialization_events()
                         if e.asset_key.to_user_string() == "mmm_posterior"]
    metadata = materialization.materialization.metadata
    assert {"diagnostics", "roas", "fit_vs_actual"} <= set(metadata)
    assert "data:image/png;base64," in metadata["fit_vs_actual"].value
    logs = [e.message for e in platform.instance.all_logs(result.run_id) if e.message]
    assert any("mmm_posterior[" in m and "sampling:" in m for m in logs), "no sampling progress in the run log"
    assert any("calibrated refit" in m for m in logs)


def test_a_failed_convergence_check_blocks_reconciliation_and_allocation(scratch):
    platform, _ = scratch
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

