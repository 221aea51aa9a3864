"""Local server processes: a free loopback port, waiting until a started server answers, and the Debian
programs the tests and benchmarks drive (the dashboard's browser, PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    """Poll ``url`` until it answers; fail early if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def apt_install(*packages: str) -> None:
    """Install Debian packages (a fresh machine, CI): what the platform's tests and benchmarks need."""
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{', '.join(packages)} missing and there is no apt-get to install them")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)


def ensure_chromium(path: str | None = None) -> str:
    """Debian's Chromium for the browser tests and bench/dash.py (Playwright cannot download its own here):
    ``CHROMIUM_PATH`` or /usr/bin/chromium, installed with apt-get when missing (a fresh machine, CI)."""
    chromium = path or os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        apt_install("chromium")
    return chromium


def postgres_bindir() -> Path:
    """Debian's PostgreSQL server programs (initdb, pg_ctl), installed with apt-get when missing."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        apt_install("postgresql")
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent
