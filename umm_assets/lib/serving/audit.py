"""The append-only audit log of the API and the dashboard: one JSON line per request, readable by admins.

``<state dir>/audit.jsonl`` gets one line per request with ``time`` (UTC, ms), ``key_id``,
``key_name``, ``role`` (null when no valid key was presented; ``key_id`` is then the id the caller
claimed, if any), ``method``, ``path``, ``query`` (values of key-like parameters redacted), ``status``,
``latency_ms`` and ``client`` (the peer's address; proxy headers count only when the server is told to
trust them, ``UMM_API_FORWARDED_ALLOW_IPS``). Anything shaped like a key, anywhere in the path or the query,
is written with its secret redacted.

Each line is one ``write(2)`` on a file opened with ``O_APPEND``: no buffering to lose, lines from
several worker processes never interleave, and it costs a few microseconds. When the file passes
``max_bytes`` it is renamed to ``audit-<UTC time>.jsonl`` (under a file lock, so one process
rotates; the others notice the new inode and reopen) and the oldest rotated files beyond ``keep``
are deleted. Nothing rewrites a line once written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from filelock import FileLock

SECRET_PARAMS = frozenset({"api_key", "apikey", "api-key", "key", "token", "access_token", "x-api-key",
                           "x_api_key", "auth", "authorization", "bearer"})
ROTATED = re.compile(r"^audit-\d{8}T\d{6}\d*Z\.jsonl$")
CHECK_EVERY = 512
BLOCK = 64 * 1024


# a key, or what is left of one, anywhere in a text (keys read umm_<16 hex id>_<secret>)
KEY_LIKE = re.compile(r"umm_[0-9a-f]{16}_[A-Za-z0-9_\-]*")


def redact_keys(text: str) -> str:
    """``text`` with the secret of every key-shaped substring replaced (the key id stays, to trace the key)."""
    if "umm_" not in text:  # the common case, on every request
        return text
    return KEY_LIKE.sub(lambda m: m.group(0)[:21] + "REDACTED", text)


def _secret(name: str, value: str) -> bool:
    return name.lower() in SECRET_PARAMS or value.startswith("umm_") or KEY_LIKE.search(name + value) is not None


def key_in_url(query_string: str) -> bool:
    """Whether the query string carries something that looks like an API key, anywhere in a name or value."""
    return any(_secret(name, value) for name, value in parse_qsl(query_string, keep_blank_values=True))


def redact_query(query: str) -> str:
    """The query string with values of key-like parameters, and anything shaped like a key, redacted."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(_secret(k, v) for k, v in pairs):
        return query
    return urlencode([(redact_keys(k), "REDACTED" if k.lower() in SECRET_PARAMS or v.startswith("umm_")
                       else redact_keys(v)) for k, v in pairs])


class AuditLog:
    def __init__(self, path: str | Path, *, max_bytes: int = 64 * 1024 * 1024, keep: int = 20):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._ino: int | None = None
        self._writes = 0

    # --- writing ---------------------------------------------------------------------------

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._ino = os.fstat(fd).st_ino
        return fd

    def write(self, entry: dict[str, Any]) -> None:
        self.write_line((json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode())

    def write_line(self, line: bytes) -> None:
        """Append one complete line (ending in a newline)."""
        with self._lock:
            if self._fd is None:
                self._fd = self._open()
            os.write(self._fd, line)
            self._writes += 1
            if self._writes % CHECK_EVERY == 0:
                self._maybe_rotate()

    def _maybe_rotate(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is None or st.st_ino != self._ino:  # another process rotated: follow it
            self._reopen()
            return
        if st.st_size < self.max_bytes:
            return
        with FileLock(str(self.path) + ".lock"):
            st = os.stat(self.path)
            if st.st_ino == self._ino and st.st_size >= self.max_bytes:
                stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
                os.rename(self.path, self.path.with_name(f"audit-{stamp}.jsonl"))
                self._prune()
        self._reopen()

    def _reopen(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = self._open()

    def _prune(self) -> None:
        if self.keep <= 0:
            return
        for old in self.rotated()[:-self.keep]:
            old.unlink(missing_ok=True)

    def rotated(self) -> list[Path]:
        """Rotated files, oldest first."""
        if not self.path.parent.exists():
            return []
        return sorted(p for p in self.path.parent.iterdir() if ROTATED.match(p.name))

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    # --- reading ---------------------------------------------------------------------------

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every entry, newest first (current file, then rotated files)."""
        for path in [self.path, *reversed(self.rotated())]:
            for line in _lines_backwards(path):
                try:
                    yield json.loads(line)
                except ValueError:
                    continue

    def tail(self, limit: int = 100, *, key_id: str | None = None, key_name: str | None = None,
             status: int | None = None, path_prefix: str | None = None) -> list[dict[str, Any]]:
        out = []
        for entry in self.entries():
            if key_id is not None and entry.get("key_id") != key_id:
                continue
            if key_name is not None and entry.get("key_name") != key_name:
                continue
            if status is not None and entry.get("status") != status:
                continue
            if path_prefix is not None and not str(entry.get("path", "")).startswith(path_prefix):
                continue
            out.append(entry)
            if len(out) >= limit:
                break
        return out


def _lines_backwards(path: Path) -> Iterator[bytes]:
    """Complete lines of a file from the end (a line still being written is skipped)."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
        end = handle.seek(0, os.SEEK_END)
        rest = b""
        first = True
        while end > 0:
            start = max(0, end - BLOCK)
            handle.seek(start)
            chunk = handle.read(end - start) + rest
            end = start
            lines = chunk.split(b"\n")
            rest = lines.pop(0) if start > 0 else b""
            if first:
                first = False
                if lines and lines[-1] == b"":
                    lines.pop()
                elif lines:
                    lines.pop()  # no trailing newline: a torn line
            for line in reversed(lines):
                if line:
                    yield line
        if rest:
            yield rest


_quote = json.encoder.encode_basestring_ascii  # C: a JSON string literal, escaped
_second: tuple[int, str] = (-1, "")


def now_iso(now: float | None = None) -> str:
    """UTC time with milliseconds, e.g. 2026-11-25T00:39:11.123Z (the second's text is cached)."""
    global _second
    now = time.time() if now is None else now
    whole = int(now)
    if whole != _second[0]:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}Z"


def _text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def audit_line(*, key_id: str | None, key_name: str | None, role: str | None, method: str, path: str, query: str,
               status: int, latency_ms: float, client: str | None) -> bytes:
    """One audit entry as a JSON line (formatted by hand: this runs on every request). A key pasted into the
    path or the query never reaches the file."""
    return (f'{{"time":"{now_iso()}","key_id":{_text(key_id)},"key_name":{_text(key_name)},"role":{_text(role)},'
            f'"method":{_quote(method)},"path":{_quote(redact_keys(path))},"query":{_quote(redact_keys(query))},'
            f'"status":{int(status)},"latency_ms":{latency_ms:.3f},"client":{_text(client)}}}\n').encode()
