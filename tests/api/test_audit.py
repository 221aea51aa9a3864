"""The audit log file: whole lines from concurrent processes, size-based rotation, reading newest first."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.api.support import ROOT
from umm_assets.lib.serving.audit import CHECK_EVERY, AuditLog, audit_line

WRITER = """
import sys
from umm_assets.lib.serving.audit import AuditLog, audit_line
log = AuditLog(sys.argv[1], max_bytes=int(sys.argv[3]), keep=0)
for i in range(int(sys.argv[2])):
    log.write_line(audit_line(key_id=None, key_name=sys.argv[4], role="viewer", method="GET", path=f"/p/{i}",
                              query="", status=200, latency_ms=0.1, client="127.0.0.1"))
"""


def entry(i: int) -> bytes:
    return audit_line(key_id=None, key_name="k", role="viewer", method="GET", path=f"/p/{i}", query="", status=200,
                      latency_ms=0.1, client=None)


def test_lines_from_concurrent_processes_never_interleave_and_none_is_lost(tmp_path):
    path, n = tmp_path / "audit.jsonl", 3000
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n), str(200_000), name], cwd=ROOT)
               for name in ("a", "b")]
    assert all(w.wait(timeout=120) == 0 for w in writers)
    lines = [json.loads(line) for p in tmp_path.glob("audit*.jsonl") for line in p.read_text().splitlines()]
    assert len(lines) == 2 * n
    assert sorted(e["key_name"] for e in lines) == ["a"] * n + ["b"] * n
    assert len(list(tmp_path.glob("audit-*.jsonl"))) >= 2  # rotated on the way, by either process


def test_rotation_keeps_the_newest_files_and_reading_spans_them(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl", max_bytes=4096, keep=3)
    total = 5 * CHECK_EVERY
    for i in range(total):
        log.write_line(entry(i))
    log.close()
    assert 1 <= len(log.rotated()) <= 3
    entries = list(log.entries())
    paths = [int(e["path"].rsplit("/", 1)[1]) for e in entries]
    assert paths == sorted(paths, reverse=True) and paths[0] == total - 1  # newest first, across files
    assert log.tail(5, status=200)[0]["path"] == f"/p/{total - 1}"


def test_a_torn_last_line_is_skipped_when_reading(tmp_path):
    log = AuditLog(tmp_path / "audit.jsonl")
    log.write_line(entry(1))
    log.write_line(entry(2))
    log.close()
    with open(tmp_path / "audit.jsonl", "ab") as handle:
        handle.write(b'{"time": "2026-')  # a writer died mid-line
    assert [e["path"] for e in log.entries()] == ["/p/2", "/p/1"]
