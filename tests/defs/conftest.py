"""The model chain as the Monday refresh runs it, shared by the stage modules (test_mmm_posterior,
test_reconciled_lift, test_allocation) and test_model_chain: one short-chain fit for the session."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator

import dagster as dg
import pytest

from tests.conftest import INSTANCE_CONFIG, MODEL_CHAIN, QUICK_RUN_CONFIG, VALIDATED, Platform
from umm_assets.definitions import build_defs
from umm_assets.defs.runs import failure_messages
from umm_assets.lib import demo
from umm_assets.lib.settings import Settings

OP_CONFIG = QUICK_RUN_CONFIG
SHORT = {k: OP_CONFIG["mmm_posterior"][k] for k in ("chains", "draws", "tune")}
LENIENT = {k: OP_CONFIG["mmm_posterior"][k] for k in ("rhat_max", "ess_min", "divergences_max")}


@pytest.fixture(scope="session")
def modelled(tmp_path_factory, end_week) -> Iterator[tuple[Platform, dg.ExecuteInProcessResult]]:
    """A 70-week demo world, validated, then its last week as the Monday refresh takes it once that week has
    closed: the schedule's validation run, then the model chain run its sensor requests on that run's success.
    Shared by the session: a test that rewrites the last week's partitions or the landing zone asks for
    ``scratch`` too, which puts them back afterwards."""
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
        validation = execute(platform, schedule.job_name, request)  # the refresh's first run: the week validated
        assert materialized(validation) == {*VALIDATED}
        request = platform.chain_request(validation.run_id)  # on its success, the sensor asks for the chain
        assert isinstance(request, dg.RunRequest) and request.partition_key == truth["last_week"]
        result = execute(platform, "model_chain_job", request)
        assert materialized(result) == {*MODEL_CHAIN}
        yield platform, result


@pytest.fixture
def scratch(modelled, tmp_path) -> Iterator[tuple[Platform, dg.ExecuteInProcessResult]]:
    """``modelled`` for a test that rewrites its partitions or landing zone: both are copied first and put
    back afterwards, so the session's other tests still read what the refresh wrote."""
    platform, _ = modelled
    saved = {folder: tmp_path / "saved" / folder.name for folder in (platform.raw, platform.data_dir)}
    for folder, copy in saved.items():
        shutil.copytree(folder, copy)
    yield modelled
    for folder, copy in saved.items():
        shutil.rmtree(folder)
        shutil.copytree(copy, folder)


def execute(platform: Platform, job: str, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    ops = {name: {"config": config} for name, config in OP_CONFIG.items()} if job == "model_chain_job" else {}
    result = platform.defs.resolve_job_def(job).execute_in_process(
        instance=platform.instance, partition_key=request.partition_key, tags=request.tags, raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}, "ops": ops})
    assert result.success, failure_messages(result)
    return result


def materialized(result) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
