"""The landing zone and the warehouse on S3: a real S3-compatible server (moto's standalone server)
started on 127.0.0.1 by the test, reached through dagster-aws's S3Resource and s3fs, with the
endpoint taken from the usual AWS settings (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import dagster as dg
import pytest

from umm_assets.lib.servers import free_port
from tests.conftest import INSTANCE_CONFIG, VALIDATED
from umm_assets.definitions import build_defs
from umm_assets.defs.runs import failure_messages, materialize_range
from umm_assets.lib.settings import Settings
from umm_assets.lib.storage import Warehouse


@pytest.fixture(scope="module")
def s3_endpoint():
    port = free_port()
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def aws_env(s3_endpoint, monkeypatch):
    for key, value in {"AWS_ENDPOINT_URL": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(key, value)
    return boto3.client("s3")


def _upload(client, folder: Path, bucket: str, prefix: str) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


def test_landing_zone_and_warehouse_on_s3(aws_env, small_world, tmp_path):
    client = aws_env
    raw, truth = small_world
    for bucket in ("landing", "lake"):
        client.create_bucket(Bucket=bucket)
    _upload(client, raw, "landing", "team/raw")
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
    _upload(client, raw, "landing2", "raw")
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
