"""How each job cuts a range into runs (its backfill policy), on definitions built from settings alone (no
landing zone is read, nothing is materialized)."""

from __future__ import annotations

import warnings
from pathlib import Path

import dagster as dg
import pytest

from umm_assets.definitions import build_defs
from umm_assets.defs.mmm_posterior.assets import MODEL_CHAIN_BACKFILL
from umm_assets.lib.outputs import MODEL_CHAIN
from umm_assets.lib.settings import Settings

VALIDATED = ("validated_spend", "validated_outcomes", "validated_controls", "validated_attribution")
DECIDED = {
    "validated_job": dg.BackfillPolicy.single_run(),  # a range is one run: the landing zone read once
    "model_chain_job": MODEL_CHAIN_BACKFILL,  # runs of up to 8 weeks, sharing the compiled model
}


@pytest.fixture
def defs(tmp_path) -> dg.Definitions:
    """Built afresh per test: Definitions resolve each job once (and warn only then)."""
    folder = tmp_path
    return build_defs(Settings(raw_uri=str(folder / "raw"), data_dir=str(folder / "warehouse"),
                               first_week="2024-01-01"))


def _resolve(defs: dg.Definitions, name: str) -> tuple[dg.JobDefinition, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = defs.resolve_job_def(name)
    return job, [str(w.message) for w in caught if "BackfillPolic" in str(w.message)]


def test_the_model_chain_backfills_with_one_policy_and_validation_in_one_run(defs):
    assert MODEL_CHAIN_BACKFILL == dg.BackfillPolicy.multi_run(max_partitions_per_run=8)
    for asset in MODEL_CHAIN:  # one policy: an asset backfill may run the chain's weeks in the same run
        assert defs.resolve_assets_def(asset).backfill_policy == MODEL_CHAIN_BACKFILL, asset
    for asset in VALIDATED:
        assert defs.resolve_assets_def(asset).backfill_policy == dg.BackfillPolicy.single_run(), asset


def test_each_job_backfills_a_range_as_decided(defs):
    assert {j.name for j in defs.jobs} == set(DECIDED)
    for name, policy in DECIDED.items():
        job, _ = _resolve(defs, name)
        assert job.backfill_policy == policy, name


def test_no_job_mixes_backfill_policies(defs):
    warned = [message for job in DECIDED for message in _resolve(defs, job)[1]]
    assert warned == []


def test_each_model_stage_is_its_own_group_named_as_its_asset_and_folder(defs):
    """What the Dagster UI shows as groups: ``validated`` for the inputs, then one per stage of the chain."""
    from umm_assets import defs as wiring

    groups = {a: defs.resolve_assets_def(a).group_names_by_key[dg.AssetKey(a)] for a in (*VALIDATED, *MODEL_CHAIN)}
    assert {groups[a] for a in VALIDATED} == {"validated"}
    for asset in MODEL_CHAIN:
        assert groups[asset] == asset
        assert (Path(wiring.__file__).parent / asset / "assets.py").is_file()  # the stage's folder
    job = defs.resolve_job_def("model_chain_job")
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == set(MODEL_CHAIN)
