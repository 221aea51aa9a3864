"""Shared fixtures: small demo worlds written by the real generator, and a platform (definitions +
temporary Dagster instance + warehouse) pointed at them."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / '.cache' / 'pytensor'}")

import dagster as dg  # noqa: E402

from umm_assets.definitions import build_defs  # noqa: E402
from umm_assets.defs.runs import failure_messages, materialize_range  # noqa: E402
from umm_assets.lib import demo, outputs  # noqa: E402
from umm_assets.lib.settings import Settings, load_settings  # noqa: E402
from umm_assets.lib.storage import Warehouse  # noqa: E402
from umm_assets.lib.weeks import last_complete_week  # noqa: E402

VALIDATED_WEEKLY = ["validated_spend", "validated_outcomes", "validated_controls", "validated_attribution"]
VALIDATED = [*VALIDATED_WEEKLY, "validated_tests"]
SMALL_WORLD_WEEKS = 64
# test instances use the project's own instance configuration (storage classes included)
INSTANCE_CONFIG = yaml.safe_load((ROOT / "dagster_home" / "dagster.yaml").read_text())
# short-chain run config for tests of the model stages' wiring (`umm materialize --config`)
QUICK_RUN_CONFIG_FILE = ROOT / "tests" / "quick_run_config.yaml"
QUICK_RUN_CONFIG = yaml.safe_load(QUICK_RUN_CONFIG_FILE.read_text())


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """Each test reads the environment it sets (the platform reads its settings once per process)."""
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


@pytest.fixture(scope="session")
def end_week() -> dt.date:
    return last_complete_week()


@pytest.fixture(scope="session")
def small_world(tmp_path_factory, end_week) -> tuple[Path, dict]:
    """A 64-week demo landing zone (read-only: copy it before changing anything)."""
    raw = tmp_path_factory.mktemp("small_world") / "raw"
    truth = demo.generate(raw, seed=11, weeks=SMALL_WORLD_WEEKS, end_week=end_week)
    return raw, truth


@dataclass
class Platform:
    """The platform on temporary folders: real definitions, a real instance, a real warehouse."""

    raw: Path
    data_dir: Path
    settings: Settings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    truth: dict

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(self.settings.data_dir)

    @property
    def weeks(self) -> list[str]:
        first = dt.date.fromisoformat(self.truth["first_week"])
        return [(first + dt.timedelta(weeks=i)).isoformat() for i in range(self.truth["weeks"])]

    def chain_request(self, run_id: str):
        """What the weekly_refresh_chain sensor answers to the real RUN_SUCCESS event of ``run_id``."""
        sensor = self.defs.resolve_sensor_def("weekly_refresh_chain")
        [success] = self.instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        context = dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_event=success.dagster_event,
                                                     dagster_instance=self.instance,
                                                     dagster_run=self.instance.get_run_by_id(run_id))
        return sensor(context)

    def materialize(self, assets, start: str, end: str | None = None, *, expect_success: bool = True):
        result = materialize_range(self.defs, self.instance, assets, start, end, log_level="WARNING")
        if expect_success:
            assert result.success, "\n".join(failure_messages(result))
        return result


@pytest.fixture
def platform(tmp_path, small_world) -> Iterator[Platform]:
    raw_src, truth = small_world
    raw = tmp_path / "raw"
    shutil.copytree(raw_src, raw)
    settings = Settings.from_env({"UMM_RAW_URI": str(raw), "UMM_DATA_DIR": str(tmp_path / "warehouse"),
                                  "UMM_FIRST_WEEK": truth["first_week"]})
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=INSTANCE_CONFIG) as instance:
        yield Platform(raw, tmp_path / "warehouse", settings, build_defs(settings), instance, truth)


MODEL_CHAIN = list(outputs.MODEL_CHAIN)  # mmm_posterior, reconciled_lift, allocation, experiment_plan
MODEL_WEEKS = 2  # as-of weeks with the model chain: the dashboard's week selector and history need two


@dataclass
class ApiWorld:
    """A warehouse materialized by the real pipeline for the serving tests (API and dashboard): validated_*
    for every week of the small world, the model chain (short chains) for its last ``MODEL_WEEKS`` weeks."""

    root: Path
    raw: Path
    data_dir: Path
    settings: Settings
    truth: dict
    weeks: list[str]

    @property
    def newest(self) -> str:
        return self.weeks[-1]

    @property
    def model_weeks(self) -> list[str]:
        return self.weeks[-MODEL_WEEKS:]

    def api_settings(self, state_dir: Path, **overrides):
        from umm_api.settings import ApiSettings

        return ApiSettings(data_dir=str(self.data_dir), state_dir=str(state_dir), **overrides)


@pytest.fixture(scope="session")
def api_world(tmp_path_factory, small_world) -> Iterator[ApiWorld]:
    """Built once per session and shared (read-only: tests that change data work on copies)."""
    raw_src, truth = small_world
    root = tmp_path_factory.mktemp("api_world")
    raw = root / "raw"
    shutil.copytree(raw_src, raw)
    settings = Settings.from_env({"UMM_RAW_URI": str(raw), "UMM_DATA_DIR": str(root / "warehouse"),
                                  "UMM_FIRST_WEEK": truth["first_week"]})
    first = dt.date.fromisoformat(truth["first_week"])
    weeks = [(first + dt.timedelta(weeks=i)).isoformat() for i in range(truth["weeks"])]
    defs = build_defs(settings)
    home = root / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=INSTANCE_CONFIG) as instance:
        result = materialize_range(defs, instance, VALIDATED, weeks[0], weeks[-1], log_level="WARNING")
        assert result.success, "\n".join(failure_messages(result))
        for week in weeks[-MODEL_WEEKS:]:  # one run a week, as the weekly schedule makes them
            chain = materialize_range(defs, instance, MODEL_CHAIN, week, log_level="WARNING",
                                      op_config=QUICK_RUN_CONFIG)
            assert chain.success, "\n".join(failure_messages(chain))
    yield ApiWorld(root, raw, root / "warehouse", settings, truth, weeks)


def tree_digest(path: Path) -> str:
    """A digest of every file (name and bytes) under ``path``: equal digests mean byte-identical trees."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()
