"""API keys: created by ``umm keys create``, shown once, stored only as a salted hash.

A key reads ``umm_<id>_<secret>``: ``id`` is 16 hex digits (not secret: it names the stored record,
so a lookup is one dict access), ``secret`` is 32 random bytes (256 bits, URL-safe base64). The store
(``keys.json`` in the API state folder, mode 0600) keeps per key its id, name, role, a random
16-byte salt and ``sha256(salt + secret)``. With secrets of this entropy a fast hash is enough (a
slow KDF protects low-entropy passwords, not random keys), so verifying costs about a microsecond.
Hashes are compared with :func:`hmac.compare_digest`, and an unknown id is compared against a
dummy record, so the time taken does not tell an attacker which part was wrong.

The API re-reads the store when its file changes (checked with one ``stat`` per request), so a key
revoked from the command line stops working on the next request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass, replace
from enum import IntEnum
from pathlib import Path

from filelock import FileLock

PREFIX = "umm"
KEY_ID_BYTES = 8
SECRET_BYTES = 32
KEY_PATTERN = re.compile(r"umm_([0-9a-f]{16})_([A-Za-z0-9_\-]{43})")  # patterns are used with fullmatch
KEY_ID_PATTERN = re.compile(r"[0-9a-f]{16}")
NAME_PATTERN = re.compile(r"[\w .@:+\-]{1,64}")
RACY_NS = 2_000_000_000


class Role(IntEnum):
    """Roles are ordered: each can do everything the ones below it can."""

    viewer = 1
    analyst = 2
    admin = 3

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name]
        except KeyError:
            raise ValueError(f"unknown role {name!r}: use one of {', '.join(r.name for r in cls)}") from None


class UnknownKey(LookupError):
    """No such key id in the store."""


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never its secret)."""

    id: str
    name: str
    role: str
    salt: str
    hash: str
    created_at: str
    revoked_at: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def level(self) -> Role:
        return Role[self.role]

    def public(self) -> dict:
        """What may be shown to an admin: everything but the salt and hash."""
        return {"id": self.id, "name": self.name, "role": self.role, "created_at": self.created_at,
                "revoked_at": self.revoked_at, "active": self.active}


def _hash(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


_DUMMY_SALT = secrets.token_bytes(16)
_DUMMY_HASH = _hash(_DUMMY_SALT, secrets.token_urlsafe(SECRET_BYTES))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class KeyStore:
    """The key file of one API state folder. Writers (CLI, admin routes) hold a file lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = FileLock(str(self.path) + ".lock")
        self._reload_lock = threading.Lock()
        # (file signature, {id: (record, salt, hash)}), swapped as one object so threads never mix two reads
        self._state: tuple[tuple | None, dict[str, tuple[ApiKey, bytes, bytes]]] = (("unread",), {})

    # --- reading ---------------------------------------------------------------------------

    def _stat(self) -> tuple | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def _load(self) -> dict[str, tuple[ApiKey, bytes, bytes]]:
        """The current keys, re-read only when the file changed.

        Every write is a new file, but a freed inode number can be reused and mtimes are coarse, so
        a file changed in the last two seconds is re-read anyway (git's "racy clean" rule).
        """
        signature = self._stat()
        state = self._state
        if signature == state[0] and (signature is None or time.time_ns() - signature[2] > RACY_NS):
            return state[1]
        with self._reload_lock:
            keys = {k.id: (k, bytes.fromhex(k.salt), bytes.fromhex(k.hash)) for k in self._read_file().values()}
            self._state = (signature, keys)
        return keys

    def _read_file(self) -> dict[str, ApiKey]:
        try:
            body = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        return {k["id"]: ApiKey(**k) for k in body.get("keys", [])}

    def list(self) -> list[ApiKey]:
        """Every key (revoked ones too), oldest first."""
        return [record for record, _, _ in self._load().values()]

    def active(self, key_id: str) -> ApiKey | None:
        """The key with this id if it is not revoked (the dashboard's session holds the id, never the secret)."""
        entry = self._load().get(key_id)
        return entry[0] if entry is not None and entry[0].active else None

    def verify(self, presented: str) -> ApiKey | None:
        """The active key whose secret this is, or None. Constant-time in everything but the length."""
        match = KEY_PATTERN.fullmatch(presented)
        key_id, secret = match.groups() if match else ("", presented)
        record, salt, expected = self._load().get(key_id) or (None, _DUMMY_SALT, _DUMMY_HASH)
        ok = hmac.compare_digest(_hash(salt, secret), expected)
        if not ok or record is None or not record.active:
            return None
        return record

    # --- writing ---------------------------------------------------------------------------

    def _write(self, keys: dict[str, ApiKey]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        body = json.dumps({"version": 1, "keys": [asdict(k) for k in keys.values()]}, indent=2)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)

    def create(self, name: str, role: str | Role) -> tuple[ApiKey, str]:
        """A new key: returns the stored record and the full key (the only time it exists in clear)."""
        role = role if isinstance(role, Role) else Role.parse(role)
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"key name {name!r}: 1-64 letters, digits, spaces or . _ @ : + -")
        secret = secrets.token_urlsafe(SECRET_BYTES)
        salt = secrets.token_bytes(16)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock:
            keys = self._read_file()
            key_id = secrets.token_hex(KEY_ID_BYTES)
            while key_id in keys:
                key_id = secrets.token_hex(KEY_ID_BYTES)
            record = ApiKey(id=key_id, name=name, role=role.name, salt=salt.hex(), hash=_hash(salt, secret).hex(),
                            created_at=_now())
            keys[key_id] = record
            self._write(keys)
        return record, f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key (kept in the store, marked revoked); revoking twice is harmless."""
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise UnknownKey(f"no API key with id {key_id!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock:
            keys = self._read_file()
            if key_id not in keys:
                raise UnknownKey(f"no API key with id {key_id!r}")
            if keys[key_id].active:
                keys[key_id] = replace(keys[key_id], revoked_at=_now())
                self._write(keys)
            return keys[key_id]
