"""The web UI's server-side sessions.

Signing in with an API key creates a session: a random 256-bit id goes into the cookie
(HttpOnly, SameSite=Strict, Secure over HTTPS), and only its SHA-256 is kept, in
``keys.db``. The API key itself never reaches the browser's cookie jar. A session ends at
its absolute expiry, after an idle period, when it is signed out (revoked), or when its
API key is revoked.

Each session has a CSRF token derived from its id (an HMAC under the id), so it is never
stored and changes with every session; pages carry it in a ``<meta>`` tag and forms, and
``static/app.js`` sends it as ``X-CSRF-Token`` with every state-changing request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from ..errors import AuthError
from .keys_db import KeysDB

SESSION_TTL_S = 12 * 3600
SESSION_IDLE_S = 2 * 3600
LAST_SEEN_RESOLUTION_S = 60.0
_CSRF_LABEL = b"faceledger:web-session:csrf"


@dataclass(frozen=True)
class WebSession:
    id_sha256: str
    key_id: str
    created_at: float
    expires_at: float
    last_seen_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class NewSession:
    secret: str  # the cookie value: shown to the browser once, kept only hashed
    session: WebSession


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def csrf_token_for(session_secret: str) -> str:
    """The session's CSRF token: unguessable without the session id, never stored."""
    mac = hmac.new(session_secret.encode("utf-8"), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def csrf_matches(session_secret: str, presented: str) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token_for(session_secret),
                                                   presented.strip())


class WebSessions:
    """The ``web_sessions`` table of ``keys.db``."""

    def __init__(self, db: KeysDB, ttl_s: float = SESSION_TTL_S,
                 idle_s: float = SESSION_IDLE_S) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.idle_s = idle_s

    def create(self, key_id: str) -> NewSession:
        secret = secrets.token_urlsafe(32)
        now = time.time()
        self.db.execute("DELETE FROM web_sessions WHERE expires_at < ? OR revoked_at IS NOT NULL",
                        (now - 24 * 3600,))
        self.db.execute(
            "INSERT INTO web_sessions (id_sha256, key_id, created_at, expires_at, last_seen_at) "
            "VALUES (?,?,?,?,?)",
            (_hash(secret), key_id, now, now + self.ttl_s, now),
        )
        return NewSession(secret, WebSession(_hash(secret), key_id, now, now + self.ttl_s, now))

    def lookup(self, secret: str) -> WebSession:
        """The live session behind a cookie value; :class:`AuthError` otherwise. The caller
        checks that the session's API key is still active."""
        if not secret or len(secret) > 128:
            raise AuthError("malformed session cookie; sign in again")
        now = time.time()
        with self.db.lock:
            row = self.db.execute(
                "SELECT id_sha256, key_id, created_at, expires_at, last_seen_at, revoked_at "
                "FROM web_sessions WHERE id_sha256 = ?", (_hash(secret),),
            ).fetchone()
            if row is None:
                raise AuthError("unknown or ended session; sign in again")
            session = WebSession(*row)
            if session.revoked_at is not None:
                raise AuthError("this session was signed out; sign in again")
            if session.expires_at < now or session.last_seen_at + self.idle_s < now:
                raise AuthError("this session has expired; sign in again")
            if now - session.last_seen_at > LAST_SEEN_RESOLUTION_S:  # not a write per request
                self.db.execute("UPDATE web_sessions SET last_seen_at = ? WHERE id_sha256 = ?",
                                (now, session.id_sha256))
        return session

    def revoke(self, secret: str) -> bool:
        cur = self.db.execute(
            "UPDATE web_sessions SET revoked_at = ? WHERE id_sha256 = ? AND revoked_at IS NULL",
            (time.time(), _hash(secret)),
        )
        return cur.rowcount == 1

    def revoke_for_key(self, key_id: str) -> int:
        cur = self.db.execute(
            "UPDATE web_sessions SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (time.time(), key_id),
        )
        return cur.rowcount

    def active(self) -> list[WebSession]:
        now = time.time()
        rows = self.db.execute(
            "SELECT id_sha256, key_id, created_at, expires_at, last_seen_at, revoked_at "
            "FROM web_sessions WHERE revoked_at IS NULL AND expires_at >= ? "
            "AND last_seen_at >= ?", (now, now - self.idle_s),
        ).fetchall()
        return [WebSession(*r) for r in rows]
