"""API keys, one-time data-subject tokens and web sessions, stored hashed in ``keys.db``.

A key is ``flk_<id>_<secret>``: the id finds the row, the secret (32 random bytes, URL-safe
base64) is checked against its SHA-256 with a constant-time compare. Only the hash is kept:
a lost key cannot be recovered, only revoked and replaced. Secrets have 256 bits of entropy,
so a fast hash is enough (a slow KDF protects guessable passwords, not random keys).

Subject tokens (``fls_...``, :mod:`faceledger.api.subject_tokens`) are bound to the person
by a reference photo and buy one rights request. Web sessions
(:mod:`faceledger.api.sessions`) keep the API key out of the browser. All three live in
one SQLite file with its own migrations (:mod:`faceledger.api.keys_db`), or, for a cluster
store, in the same tables of its catalog's PostgreSQL database, shared by every machine.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import AuthError, ForbiddenError, NotFoundError
from .keys_db import KeysDB, open_keys_db
from .sessions import WebSessions
from .subject_tokens import TOKEN_PREFIX, RightsKind, SubjectToken, SubjectTokens

KEY_PREFIX = "flk"
LAST_USED_RESOLUTION_S = 60.0


class Role(str, Enum):
    ADMIN = "admin"
    OPERATOR = "operator"
    INVESTIGATOR = "investigator"
    AUDITOR = "auditor"
    SUBJECT = "subject"  # only through a one-time token, never a key


KEY_ROLES = (Role.ADMIN, Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR)


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    role: Role
    created_at: float
    revoked_at: float | None = None
    last_used_at: float | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class IssuedSecret:
    """A freshly created key: the only moment its secret is known."""

    secret: str
    key: ApiKey


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _split(credential: str, prefix: str) -> tuple[str, str] | None:
    parts = credential.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


_KEY_COLUMNS = "id, name, role, created_at, revoked_at, last_used_at"


def _row_key(r: tuple) -> ApiKey:
    return ApiKey(r[0], r[1], Role(r[2]), r[3], r[4], r[5])


class KeyStore:
    """Hashed API keys in ``data_dir / "keys.db"``, with the same file's subject tokens
    (``.tokens``) and web sessions (``.sessions``); for a cluster store, in its catalog's
    PostgreSQL database (:func:`~faceledger.api.keys_db.open_keys_db`). Thread-safe."""

    def __init__(self, path: Path | Any) -> None:
        """``path``: a keys.db file, or an open key database (``KeysDB`` or ``PgKeysDB``)."""
        self.db = KeysDB(Path(path)) if isinstance(path, (str, Path)) else path
        self.path: Path | None = getattr(self.db, "path", None)  # None: on a server
        self.tokens = SubjectTokens(self.db)
        self.sessions = WebSessions(self.db)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> KeyStore:
        """The key store of the store in ``data_dir`` (its keys.db, or its cluster
        database)."""
        return cls(open_keys_db(Path(data_dir)))

    @staticmethod
    def exists_for(data_dir: Path) -> bool:
        """Whether the store in ``data_dir`` may hold keys or tokens already (a cluster
        store's key tables are in its database, so: always)."""
        from ..store.backends import read_backends

        if read_backends(Path(data_dir)).catalog != "sqlite":
            return True
        return (Path(data_dir) / "keys.db").exists()

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- API keys ---------------------------------------------------------------------

    @staticmethod
    def new_id() -> str:
        """A fresh key id (so that an audit intent can name the key before it exists)."""
        return secrets.token_hex(6)

    def create(self, name: str, role: Role | str, key_id: str | None = None) -> IssuedSecret:
        role = Role(role)
        if role not in KEY_ROLES:
            raise ForbiddenError(f"role {role.value!r} cannot hold an API key")
        if not name.strip():
            raise AuthError("a key needs a name")
        key_id = key_id or self.new_id()
        secret = secrets.token_urlsafe(32)
        now = time.time()
        self.db.execute(
            "INSERT INTO api_keys (id, name, role, secret_sha256, created_at) VALUES (?,?,?,?,?)",
            (key_id, name.strip(), role.value, _hash(secret), now),
        )
        key = ApiKey(id=key_id, name=name.strip(), role=role, created_at=now)
        return IssuedSecret(secret=f"{KEY_PREFIX}_{key_id}_{secret}", key=key)

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        sql = f"SELECT {_KEY_COLUMNS} FROM api_keys"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        return [_row_key(r) for r in self.db.execute(sql + " ORDER BY created_at").fetchall()]

    def count_active(self, role: Role | None = None) -> int:
        return sum(1 for k in self.list() if role is None or k.role == role)

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key and end every web session opened with it."""
        now = time.time()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no active API key with id {key_id!r}")
            conn.execute(
                "UPDATE web_sessions SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
        return self.get(key_id)

    def get(self, key_id: str) -> ApiKey:
        row = self.db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?",
                              (key_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no API key with id {key_id!r}")
        return _row_key(row)

    def authenticate(self, credential: str) -> ApiKey:
        """The active key a credential belongs to; :class:`AuthError` otherwise."""
        parts = _split(credential, KEY_PREFIX)
        if parts is None:
            raise AuthError("malformed API key")
        key_id, secret = parts
        with self.db.lock:
            row = self.db.execute(
                f"SELECT {_KEY_COLUMNS}, secret_sha256 FROM api_keys WHERE id = ?", (key_id,),
            ).fetchone()
            if row is None or not hmac.compare_digest(row[6], _hash(secret)):
                raise AuthError("unknown API key")
            self._touch(row)
        return _row_key(row)

    def authenticate_session(self, session_secret: str) -> ApiKey:
        """The active key behind a web session cookie; :class:`AuthError` otherwise."""
        session = self.sessions.lookup(session_secret)
        with self.db.lock:
            row = self.db.execute(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE id = ?",
                                  (session.key_id,)).fetchone()
            if row is None:
                raise AuthError("this session's API key no longer exists; sign in again")
            self._touch(row)
        return _row_key(row)

    def _touch(self, row: tuple) -> None:
        if row[4] is not None:
            raise AuthError("this API key has been revoked")
        now = time.time()
        if row[5] is None or now - row[5] > LAST_USED_RESOLUTION_S:  # not a write per request
            self.db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, row[0]))


__all__ = [
    "KEY_PREFIX", "KEY_ROLES", "TOKEN_PREFIX", "ApiKey", "IssuedSecret", "KeyStore", "RightsKind",
    "Role", "SubjectToken",
]
