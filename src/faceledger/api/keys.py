"""API keys and one-time data-subject tokens, stored hashed in their own SQLite file.

A key is ``flk_<id>_<secret>``: the id finds the row, the secret (32 random bytes, URL-safe
base64) is checked against its SHA-256 with a constant-time compare. Only the hash is kept:
a lost key cannot be recovered, only revoked and replaced. Secrets have 256 bits of entropy,
so a fast hash is enough (a slow KDF protects guessable passwords, not random keys).

A data-subject token (``fls_<id>_<secret>``) is issued by an admin for one person and one
rights request (access, erasure or opt-out). It works once: redeeming it marks it used in
the same transaction, so the public can never run a face search on someone else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import AuthError, ForbiddenError, NotFoundError, StoreError

KEY_PREFIX = "flk"
TOKEN_PREFIX = "fls"
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600
LAST_USED_RESOLUTION_S = 60.0


class Role(str, Enum):
    ADMIN = "admin"
    OPERATOR = "operator"
    INVESTIGATOR = "investigator"
    AUDITOR = "auditor"
    SUBJECT = "subject"  # only through a one-time token, never a key


KEY_ROLES = (Role.ADMIN, Role.OPERATOR, Role.INVESTIGATOR, Role.AUDITOR)


class RightsKind(str, Enum):
    ACCESS = "access"
    ERASURE = "erasure"
    OPT_OUT = "opt_out"


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
class SubjectToken:
    id: str
    subject: str
    kind: RightsKind
    issued_by: str
    created_at: float
    expires_at: float
    used_at: float | None = None


@dataclass(frozen=True)
class IssuedSecret:
    """A freshly created key or token: the only moment its secret is known."""

    secret: str
    key: ApiKey | None = None
    token: SubjectToken | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL,
    last_used_at REAL
);
CREATE TABLE IF NOT EXISTS subject_tokens (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL
);
"""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _split(credential: str, prefix: str) -> tuple[str, str] | None:
    parts = credential.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != prefix or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    """Hashed API keys and subject tokens in ``data_dir / "keys.db"``. Thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(
                str(self.path), check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open key store ({exc})") from exc

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> KeyStore:
        return cls(Path(data_dir) / "keys.db")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- API keys ---------------------------------------------------------------------

    def create(self, name: str, role: Role | str) -> IssuedSecret:
        role = Role(role)
        if role not in KEY_ROLES:
            raise ForbiddenError(f"role {role.value!r} cannot hold an API key")
        if not name.strip():
            raise AuthError("a key needs a name")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO api_keys (id, name, role, secret_sha256, created_at) "
                "VALUES (?,?,?,?,?)",
                (key_id, name.strip(), role.value, _hash(secret), now),
            )
        key = ApiKey(id=key_id, name=name.strip(), role=role, created_at=now)
        return IssuedSecret(secret=f"{KEY_PREFIX}_{key_id}_{secret}", key=key)

    def list(self, include_revoked: bool = False) -> list[ApiKey]:
        sql = "SELECT id, name, role, created_at, revoked_at, last_used_at FROM api_keys"
        if not include_revoked:
            sql += " WHERE revoked_at IS NULL"
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY created_at").fetchall()
        return [ApiKey(r[0], r[1], Role(r[2]), r[3], r[4], r[5]) for r in rows]

    def count_active(self, role: Role | None = None) -> int:
        return sum(1 for k in self.list() if role is None or k.role == role)

    def revoke(self, key_id: str) -> ApiKey:
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"no active API key with id {key_id!r}")
        return next(k for k in self.list(include_revoked=True) if k.id == key_id)

    def authenticate(self, credential: str) -> ApiKey:
        """The active key a credential belongs to; :class:`AuthError` otherwise."""
        parts = _split(credential, KEY_PREFIX)
        if parts is None:
            raise AuthError("malformed API key")
        key_id, secret = parts
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, role, created_at, revoked_at, last_used_at, secret_sha256 "
                "FROM api_keys WHERE id = ?",
                (key_id,),
            ).fetchone()
            if row is None or not hmac.compare_digest(row[6], _hash(secret)):
                raise AuthError("unknown API key")
            if row[4] is not None:
                raise AuthError("this API key has been revoked")
            now = time.time()
            if row[5] is None or now - row[5] > LAST_USED_RESOLUTION_S:  # not a write per request
                self._db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, key_id))
        return ApiKey(row[0], row[1], Role(row[2]), row[3], row[4], row[5])

    # -- data-subject tokens ----------------------------------------------------------

    def issue_token(
        self,
        subject: str,
        kind: RightsKind | str,
        issued_by: str,
        ttl_s: float = DEFAULT_TOKEN_TTL_S,
    ) -> IssuedSecret:
        kind = RightsKind(kind)
        if not subject.strip():
            raise AuthError("a subject token needs the subject's name or reference")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO subject_tokens (id, subject, kind, issued_by, secret_sha256, "
                "created_at, expires_at) VALUES (?,?,?,?,?,?,?)",
                (token_id, subject.strip(), kind.value, issued_by, _hash(secret), now, now + ttl_s),
            )
        token = SubjectToken(token_id, subject.strip(), kind, issued_by, now, now + ttl_s)
        return IssuedSecret(secret=f"{TOKEN_PREFIX}_{token_id}_{secret}", token=token)

    def peek_token(self, credential: str) -> SubjectToken:
        """Check a token without using it (the web page shows what it is for)."""
        return self._token(credential, consume=False)

    def redeem_token(self, credential: str, kind: RightsKind | str) -> SubjectToken:
        """Use a token once for ``kind``; a second use, a wrong kind or expiry is refused."""
        token = self._token(credential, consume=True, kind=RightsKind(kind))
        return token

    def tokens(self) -> list[SubjectToken]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, subject, kind, issued_by, created_at, expires_at, used_at "
                "FROM subject_tokens ORDER BY created_at"
            ).fetchall()
        return [SubjectToken(r[0], r[1], RightsKind(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def _token(
        self, credential: str, consume: bool, kind: RightsKind | None = None
    ) -> SubjectToken:
        parts = _split(credential, TOKEN_PREFIX)
        if parts is None:
            raise AuthError("malformed subject token")
        token_id, secret = parts
        now = time.time()
        with self._lock:
            row = self._db.execute(
                "SELECT id, subject, kind, issued_by, created_at, expires_at, used_at, "
                "secret_sha256 FROM subject_tokens WHERE id = ?",
                (token_id,),
            ).fetchone()
            if row is None or not hmac.compare_digest(row[7], _hash(secret)):
                raise AuthError("unknown subject token")
            if row[6] is not None:
                raise AuthError("this subject token has already been used")
            if row[5] < now:
                raise AuthError("this subject token has expired")
            if kind is not None and row[2] != kind.value:
                raise ForbiddenError(
                    f"this token is for a {row[2].replace('_', '-')} request, not {kind.value}"
                )
            if consume:
                cur = self._db.execute(
                    "UPDATE subject_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL",
                    (now, token_id),
                )
                if cur.rowcount != 1:  # pragma: no cover - guarded by the lock
                    raise AuthError("this subject token has already been used")
        return SubjectToken(
            row[0], row[1], RightsKind(row[2]), row[3], row[4], row[5], now if consume else None
        )
