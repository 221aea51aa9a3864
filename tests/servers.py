"""Real servers the tests start and stop themselves, on 127.0.0.1 only: an S3-compatible server (moto's
standalone server), a throwaway PostgreSQL cluster (Debian's, installed when missing), a Dask cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from umm_assets.lib.servers import free_port, postgres_bindir

AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """An S3 endpoint (``http://127.0.0.1:PORT``) for as long as the context lasts."""
    port = free_port()
    # its log is kept: on one clean clone the server stopped answering mid-session, with nothing to say why
    log = tempfile.NamedTemporaryFile(prefix="umm-moto-", suffix=".log", delete=False)
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
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
        died = server.poll() is not None
        if died:  # it ended on its own: say how, where the failing test's output shows it (the log is kept)
            print(f"moto_server exited with {server.returncode}; the end of its log ({log.name}):\n"
                  + Path(log.name).read_text(errors="replace")[-4000:], file=sys.stderr)
        server.terminate()
        server.wait(timeout=10)
        log.close()
        if not died:
            os.unlink(log.name)


def upload(folder: Path, uri: str) -> None:
    """Every file under ``folder`` to ``s3://bucket/prefix`` (the bucket must exist)."""
    import boto3

    bucket, prefix = uri[len("s3://"):].split("/", 1)
    client = boto3.client("s3")
    for path in folder.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


@contextlib.contextmanager
def postgres(database: str = "dagster") -> Iterator[str]:
    """A PostgreSQL cluster of its own (initdb into a temporary folder, a free port, loopback only, trust
    authentication) with one database; yields ``postgresql://postgres@127.0.0.1:PORT/<database>``.
    initdb refuses root, so as root the cluster runs as Debian's ``postgres`` user."""
    bindir = postgres_bindir()
    root = Path(tempfile.mkdtemp(prefix="umm-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres", "postgres")
    data, port = root / "data", free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, stdout=subprocess.DEVNULL, cwd=root)

    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-o",
        f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c full_page_writes=off", "start")
    try:
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database)
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def dask_cluster(workers: int) -> Iterator[str]:
    """A Dask cluster of ``workers`` processes (one thread each, as Dagster needs), scheduler and workers on
    127.0.0.1, no dashboard; workers start with the platform's preload and inherit this process's
    environment. Yields the scheduler's ``tcp://`` address."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, preload=["umm_assets.defs.dask_worker"]) as cluster:
        yield cluster.scheduler_address


@contextlib.contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """``variables`` set in this process (and what it starts) for the context, then restored; the platform's
    cached settings are re-read on the way in and out."""
    from umm_assets.lib.settings import load_settings

    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    load_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        load_settings.cache_clear()
