"""One-time data-subject tokens, bound to the person they were issued for.

A token (``fls_<id>_<secret>``) is issued by an admin for one person and one rights request
(access, erasure or opt-out), with the **reference photo** the admin checked the person's
identity against. Only the photo's SHA-256 and its template, encrypted with the store's
key, are kept (:mod:`faceledger.privacy.identity`).

Redeeming it is two steps around the identity check:

1. :meth:`SubjectTokens.begin_attempt` counts an attempt *before* anything is looked at
   (at most :data:`MAX_ATTEMPTS`, in one ``BEGIN IMMEDIATE`` transaction, so parallel
   requests cannot share an attempt) and hands back the sealed reference;
2. :meth:`SubjectTokens.settle` records the outcome: a verified selfie spends the token;
   a failed attempt (no face, unreadable photo, another person) leaves the attempts that
   remain, and the last failed one spends it. Spending deletes the reference template.

So a token buys at most three tries at passing the 1:1 check and at most one request.

A token issued from a request of the register (``request_id``,
:mod:`faceledger.privacy.requests`) records the identity check on the request (who issued
it, against which reference photo's hash); when the token is spent the request closes:
refused if every attempt failed the check, done once the route has carried it out
(:func:`close_token_request`, with the erasure receipt for an erasure or opt-out).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from ..errors import AuthError, ForbiddenError, IdentityNotVerifiedError, RightsRequestError
from ..privacy.audited import audited_change
from ..privacy.identity import (
    IdentityCheck,
    Photo,
    ReferenceTemplate,
    check_identity,
    enrol_reference,
    reseal_reference,
)
from ..privacy.requests import OPEN_STATES, IdentityRecord, RightsRequests
from ..privacy.self_service import audit_identity_check
from .keys_db import KEYS_LOCK, KeysDB

TOKEN_PREFIX = "fls"
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600
MAX_ATTEMPTS = 3


class RightsKind(str, Enum):
    ACCESS = "access"
    ERASURE = "erasure"
    OPT_OUT = "opt_out"
    WATCH = "watch"  # a consented watch on oneself (faceledger.subjects.watches)


class Outcome(str, Enum):
    VERIFIED = "verified"  # the selfie matched the reference; the request was carried out
    NOT_VERIFIED = "identity_not_verified"  # every attempt failed the 1:1 check
    NO_REFERENCE = "no_reference"  # issued before tokens were bound to a reference photo


@dataclass(frozen=True)
class SubjectToken:
    id: str
    subject: str
    kind: RightsKind
    issued_by: str
    created_at: float
    expires_at: float
    used_at: float | None = None
    attempts: int = 0
    max_attempts: int = MAX_ATTEMPTS
    reference_sha256: str | None = None
    request_id: str | None = None
    outcome: str | None = None

    @property
    def attempts_left(self) -> int:
        return 0 if self.used_at is not None else max(0, self.max_attempts - self.attempts)


@dataclass(frozen=True)
class TokenAttempt:
    """One counted attempt: the token as it stands now and its sealed reference."""

    token: SubjectToken
    reference: ReferenceTemplate
    number: int  # 1 .. max_attempts


@dataclass(frozen=True)
class IssuedToken:
    secret: str
    token: SubjectToken


_COLUMNS = ("id, subject, kind, issued_by, created_at, expires_at, used_at, attempts, "
            "max_attempts, reference_sha256, request_id, outcome")


def _row_token(row: tuple) -> SubjectToken:
    return SubjectToken(row[0], row[1], RightsKind(row[2]), row[3], row[4], row[5], row[6],
                        int(row[7]), int(row[8]), row[9], row[10], row[11])


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def split_token(credential: str) -> tuple[str, str] | None:
    parts = credential.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class SubjectTokens:
    """The ``subject_tokens`` table of ``keys.db`` and its reference templates."""

    def __init__(self, db: KeysDB) -> None:
        self.db = db

    @staticmethod
    def new_id() -> str:
        """A fresh token id; the reference is sealed to it before the token is issued."""
        return secrets.token_hex(6)

    def issue(
        self,
        token_id: str,
        subject: str,
        kind: RightsKind | str,
        issued_by: str,
        reference: ReferenceTemplate,
        ttl_s: float = DEFAULT_TOKEN_TTL_S,
        request_id: str | None = None,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> IssuedToken:
        kind = RightsKind(kind)
        subject = subject.strip()
        if not subject:
            raise AuthError("a subject token needs the subject's name or reference")
        if not isinstance(reference, ReferenceTemplate) or not reference.template:
            raise AuthError("a subject token needs the reference photo the person's identity "
                            "was checked against")
        if not 1 <= max_attempts <= MAX_ATTEMPTS:
            raise AuthError(f"a token allows 1 to {MAX_ATTEMPTS} attempts")
        if ttl_s <= 0:
            raise AuthError("a token's lifetime must be positive")
        secret = secrets.token_urlsafe(32)
        now = time.time()
        self.purge_expired(now)
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO subject_tokens ({_COLUMNS}, secret_sha256) "
                "VALUES (?,?,?,?,?,?,NULL,0,?,?,?,NULL,?)",
                (token_id, subject, kind.value, issued_by, now, now + ttl_s, max_attempts,
                 reference.photo_sha256, request_id, _hash(secret)),
            )
            conn.execute(
                "INSERT INTO subject_token_references (token_id, pack, template) VALUES (?,?,?)",
                (token_id, reference.pack, reference.template),
            )
        token = SubjectToken(token_id, subject, kind, issued_by, now, now + ttl_s,
                             max_attempts=max_attempts, reference_sha256=reference.photo_sha256,
                             request_id=request_id)
        return IssuedToken(f"{TOKEN_PREFIX}_{token_id}_{secret}", token)

    def peek(self, credential: str) -> SubjectToken:
        """Check a token without counting an attempt (the rights page shows what it is for)."""
        with self.db.lock:
            return self._check(credential, time.time())

    def begin_attempt(self, credential: str, kind: RightsKind | str) -> TokenAttempt:
        """Count one attempt now, before any photo is looked at; refuse a spent, expired or
        exhausted token, or one of another kind."""
        kind = RightsKind(kind)
        now = time.time()
        self.purge_expired(now)
        with self.db.transaction() as conn:
            token = self._check(credential, now)
            if token.kind is not kind:
                raise ForbiddenError(
                    f"this token is for a {token.kind.value.replace('_', '-')} request, "
                    f"not {kind.value.replace('_', '-')}"
                )
            ref = conn.execute(
                "SELECT pack, template FROM subject_token_references WHERE token_id = ?",
                (token.id,),
            ).fetchone()
            if ref is None:  # committed: the token is spent, then refused
                conn.execute(
                    "UPDATE subject_tokens SET used_at = ?, outcome = ? WHERE id = ?",
                    (now, Outcome.NO_REFERENCE.value, token.id),
                )
            else:
                conn.execute("UPDATE subject_tokens SET attempts = attempts + 1 WHERE id = ?",
                             (token.id,))
        if ref is None:
            raise AuthError("this token was issued without a reference photo, so it cannot "
                            "be checked against the person; ask for a new one")
        attempts = token.attempts + 1
        reference = ReferenceTemplate(template=bytes(ref[1]), pack=ref[0],
                                      photo_sha256=token.reference_sha256 or "")
        return TokenAttempt(replace(token, attempts=attempts), reference, attempts)

    def settle(self, attempt: TokenAttempt, verified: bool) -> SubjectToken:
        """Record an attempt's outcome. Verified: the token is spent now (a parallel attempt
        that got there first makes this one fail). Not verified: spent only when it was the
        last attempt allowed. Spending deletes the reference template."""
        token_id, now = attempt.token.id, time.time()
        with self.db.transaction() as conn:
            if verified:
                cur = conn.execute(
                    "UPDATE subject_tokens SET used_at = ?, outcome = ? "
                    "WHERE id = ? AND used_at IS NULL",
                    (now, Outcome.VERIFIED.value, token_id),
                )
                if cur.rowcount != 1:
                    raise AuthError("this subject token has already been used")
            else:
                conn.execute(
                    "UPDATE subject_tokens SET used_at = ?, outcome = ? "
                    "WHERE id = ? AND used_at IS NULL AND attempts >= max_attempts",
                    (now, Outcome.NOT_VERIFIED.value, token_id),
                )
            row = conn.execute(f"SELECT {_COLUMNS} FROM subject_tokens WHERE id = ?",
                               (token_id,)).fetchone()
            spent = row[6] is not None
            if spent:
                conn.execute("DELETE FROM subject_token_references WHERE token_id = ?",
                             (token_id,))
        if spent:
            self.db.checkpoint()
        return _row_token(row)

    def get(self, token_id: str) -> SubjectToken | None:
        row = self.db.execute(f"SELECT {_COLUMNS} FROM subject_tokens WHERE id = ?",
                              (token_id,)).fetchone()
        return _row_token(row) if row else None

    def list(self) -> list[SubjectToken]:
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM subject_tokens ORDER BY created_at"
        ).fetchall()
        return [_row_token(r) for r in rows]

    def has_reference(self, token_id: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM subject_token_references WHERE token_id = ?", (token_id,)
        ).fetchone()
        return row is not None

    rotation_name = "subject_token_references"

    def reencrypt(self, new_cipher: Any) -> int:
        """Re-encrypt the reference templates of open tokens under ``new_cipher``'s current
        key, in one transaction (a key rotation; :mod:`faceledger.privacy.keys`)."""
        self.purge_expired()
        changed = 0
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT token_id, template FROM subject_token_references").fetchall()
            for token_id, blob in rows:
                sealed = reseal_reference(new_cipher, bytes(blob), str(token_id))
                if sealed is not None:
                    conn.execute("UPDATE subject_token_references SET template = ? "
                                 "WHERE token_id = ?", (sealed, token_id))
                    changed += 1
        if changed:
            self.db.checkpoint()  # the old ciphertexts leave the WAL too
        return changed

    def purge_expired(self, now: float | None = None) -> int:
        """Delete the reference templates of tokens that expired unspent."""
        now = time.time() if now is None else now
        cur = self.db.execute(
            "DELETE FROM subject_token_references WHERE token_id IN "
            "(SELECT id FROM subject_tokens WHERE expires_at < ?)", (now,),
        )
        if cur.rowcount:
            self.db.checkpoint()
        return cur.rowcount

    def _check(self, credential: str, now: float) -> SubjectToken:
        parts = split_token(credential)
        if parts is None:
            raise AuthError("malformed subject token")
        token_id, secret = parts
        row = self.db.execute(
            f"SELECT {_COLUMNS}, secret_sha256 FROM subject_tokens WHERE id = ?", (token_id,)
        ).fetchone()
        if row is None or not hmac.compare_digest(row[12], _hash(secret)):
            raise AuthError("unknown subject token")
        token = _row_token(row)
        if token.used_at is not None:
            raise AuthError("this subject token has already been used")
        if token.expires_at < now:
            raise AuthError("this subject token has expired")
        if token.attempts >= token.max_attempts:  # pragma: no cover - settle spends it
            raise AuthError("this subject token has no attempts left")
        return token


# -- issuing and redeeming over a store ------------------------------------------------


def issue_subject_token(
    store: Any,
    tokens: SubjectTokens,
    subject: str,
    kind: RightsKind | str,
    reference_photo: Photo,
    issued_by: str,
    ttl_s: float = DEFAULT_TOKEN_TTL_S,
    request_id: str | None = None,
) -> IssuedToken:
    """Issue a token bound to the person in ``reference_photo`` (refused if it holds no
    face); logged with the photo's SHA-256, never the photo."""
    kind = RightsKind(kind)
    store.audit.require_writable()  # before the reference photo is even looked at
    register = _request_for_token(store, request_id, kind)
    token_id = tokens.new_id()
    reference = enrol_reference(store, reference_photo, token_id)
    inputs = {"subject": subject.strip(), "kind": kind.value, "token_id": token_id,
              "reference_sha256": reference.photo_sha256, "ttl_s": ttl_s,
              **({"request_id": request_id} if request_id else {})}
    with audited_change(store.audit, store.locks, "subject_token_issue", issued_by,
                        inputs=inputs, lock=KEYS_LOCK, what="API key change") as done:
        issued = tokens.issue(token_id, subject, kind, issued_by, reference, ttl_s, request_id)
        done.outputs = {"token_id": issued.token.id, "expires_at": issued.token.expires_at,
                        "max_attempts": issued.token.max_attempts}
    if register is not None and request_id:
        register.record_identity(
            request_id,
            IdentityRecord(issued_by, "reference photo checked by the issuer; the person's "
                           "selfie must match it 1:1 to use the token",
                           reference.photo_sha256),
            issued_by, token_id=token_id)
    return issued


def _request_for_token(store: Any, request_id: str | None, kind: RightsKind) -> Any:
    """The register, when the token is issued from one of its open requests of this kind."""
    if not request_id:
        return None
    register = RightsRequests.of(store)
    row = register.get(request_id)
    if row.state not in OPEN_STATES:
        raise RightsRequestError(f"request {row.id} is closed ({row.state})")
    if row.kind != kind.value:
        raise RightsRequestError(f"request {row.id} is an {row.kind.replace('_', '-')} "
                                 f"request, not {kind.value.replace('_', '-')}")
    return register


def _refuse_request(store: Any, token: SubjectToken, actor: str) -> None:
    try:
        RightsRequests.of(store).close(
            str(token.request_id), actor, done=False,
            reason=f"the person's identity could not be verified with subject token "
                   f"{token.id} ({token.attempts} attempts)")
    except RightsRequestError:
        pass  # closed meanwhile by an admin: their decision stands


def close_token_request(store: Any, token: SubjectToken, actor: str,
                        erase_seq: int | None = None) -> str | None:
    """Close the request a spent, verified token was issued from, once its action is done;
    returns the erasure receipt (JSON) for an erasure or opt-out request."""
    if not token.request_id:
        return None
    row = RightsRequests.of(store).close(
        token.request_id, actor, done=True,
        reason=f"carried out with subject token {token.id}", erase_seq=erase_seq)
    return row.receipt


def redeem_subject_token(
    store: Any, tokens: SubjectTokens, credential: str, kind: RightsKind | str,
    selfie: Photo, context: Any,
) -> tuple[SubjectToken, IdentityCheck]:
    """Count an attempt, check the selfie against the token's reference, settle the token
    and log the check. Returns the spent token and the passed check; a failed check raises
    :class:`IdentityNotVerifiedError` naming the attempts left."""
    store.audit.require_writable()  # an attempt that cannot be logged is not counted
    attempt = tokens.begin_attempt(credential, kind)
    check: IdentityCheck | None = None
    try:
        check = check_identity(store, attempt.reference, attempt.token.id, selfie)
    finally:  # an attempt that raised (a reference that cannot be opened) still counts
        token = tokens.settle(attempt, verified=check is not None and check.verified)
        if token.request_id and token.used_at is not None and \
                token.outcome != Outcome.VERIFIED.value:
            _refuse_request(store, token, context.actor)
    audit_identity_check(store, context, check, token_id=token.id, kind=token.kind.value,
                         attempt=attempt.number, attempts_left=token.attempts_left)
    if not check.verified:
        left = token.attempts_left
        tail = (f"{left} attempt(s) left on this token" if left
                else "this token is now used up; ask the controller for a new one")
        raise IdentityNotVerifiedError(f"identity not verified: {check.reason}; {tail}")
    return token, check
