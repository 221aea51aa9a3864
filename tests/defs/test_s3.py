"""The landing zone and the warehouse on S3: a real S3-compatible server (moto's standalone server)
started on 127.0.0.1 by the test, reached through the platform's one S3 client (s3fs), with the
endpoint taken from the usual AWS settings (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import datetime as dt
import os
import shutil

import boto3
import dagster as dg
import pytest

from tests.conftest import INSTANCE_CONFIG, VALIDATED
from tests.servers import AWS_TEST_ENV, moto_server, upload
from umm_assets.definitions import build_defs
from umm_assets.defs.runs import failure_messages, materialize_range
from umm_assets.lib.settings import Settings
from umm_assets.lib.storage import Warehouse


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(s3_endpoint, monkeypatch):
    for key, value in {"AWS_ENDPOINT_URL": s3_endpoint, **AWS_TEST_ENV}.items():
        monkeypatch.setenv(key, value)
    return boto3.client("s3")


def test_landing_zone_and_warehouse_on_s3(aws_env, small_world, tmp_path):
    client = aws_env
    raw, truth = small_world
    for bucket in ("landing", "lake"):
        client.create_bucket(Bucket=bucket)
    upload(raw, "s3://landing/team/raw")
    settings = Settings.from_env({"UMM_RAW_URI": "s3://landing/team/raw", "UMM_DATA_DIR": "s3://lake/warehouse",
                                  "UMM_FIRST_WEEK": truth["first_week"]})
    defs = build_defs(settings)
    weeks = [truth["last_week"]]
    first_week = (dt.date.fromisoformat(truth["last_week"]) - dt.timedelta(weeks=5)).isoformat()
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=INSTANCE_CONFIG) as instance:
        result = materialize_range(defs, instance, VALIDATED, first_week, truth["last_week"], log_level="WARNING")
        assert result.success, failure_messages(result)

    warehouse = Warehouse("s3://lake/warehouse")
    assert len(warehouse.partitions("validated_spend")) == 6
    spend = warehouse.read("validated_spend", weeks)
    assert sorted(spend["channel"]) == sorted(truth["channels"])
    commit = warehouse.commit("validated_spend", weeks[0])
    assert commit.run_id == result.run_id
    assert any(f["file"] == "media_spend/tv_weekly_agency.csv" for f in commit.upstream["files"])
    keys = {o["Key"] for o in client.list_objects_v2(Bucket="lake", Prefix="warehouse/")["Contents"]}
    assert "warehouse/catalog.duckdb" in keys

    # the same data read locally gives the same tables
    local = tmp_path / "local"
    shutil.copytree(raw, local / "raw")
    local_settings = Settings.from_env({"UMM_RAW_URI": str(local / "raw"), "UMM_DATA_DIR": str(local / "wh"),
                                        "UMM_FIRST_WEEK": truth["first_week"]})
    with dg.instance_for_test(temp_dir=str(home), overrides=INSTANCE_CONFIG) as instance:
        assert materialize_range(build_defs(local_settings), instance, ["validated_spend"], weeks[0],
                                 log_level="WARNING").success
    assert Warehouse(local / "wh").read("validated_spend", weeks).equals(spend)


def test_bad_file_on_s3_names_the_object(aws_env, small_world, tmp_path):
    client = aws_env
    raw, truth = small_world
    client.create_bucket(Bucket="landing2")
    upload(raw, "s3://landing2/raw")
    week = truth["last_week"]
    client.put_object(Bucket="landing2", Key="raw/media_spend/broken.csv",
                      Body=f"date,channel,spend\n{week},tv,-3\n".encode())
    settings = Settings.from_env({"UMM_RAW_URI": "s3://landing2/raw", "UMM_DATA_DIR": str(tmp_path / "wh"),
                                  "UMM_FIRST_WEEK": truth["first_week"]})
    home = tmp_path / "home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home), overrides=INSTANCE_CONFIG) as instance:
        result = materialize_range(build_defs(settings), instance, ["validated_spend"], week, log_level="WARNING")
    assert not result.success
    assert "media_spend/broken.csv, row 1 (line 2), column 'spend': must be non-negative" in "\n".join(
        failure_messages(result))
    assert not os.path.exists(tmp_path / "wh" / "validated_spend")
