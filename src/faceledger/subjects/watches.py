"""Consented watches: "tell me when a new photo of this person is ingested".

Two ways to register one, each with an expiry (at most ``FACELEDGER_WATCH_MAX_DAYS``):

- an **operator**, for an enrolled subject whose consent is recorded on the enrolment
  (:func:`add_watch`); the watch's template is the normalised mean of the subject's;
- the **data subject** themselves, through a one-time subject token of kind ``watch``
  whose 1:1 identity check passed (:func:`add_self_watch`); the template is their verified
  selfie's. They get a withdrawal credential (``flw_<id>_<secret>``, kept as a SHA-256
  only) to end it without an account.

A watch keeps its own copy of the template, encrypted with the store's key and bound to
the watch; its webhook secret likewise. Withdrawing a watch (:func:`withdraw_watch`,
:func:`withdraw_with_credential`) or its expiry (the retention run) deletes its row, its
template, its secret and its alerts, with ``secure_delete`` on and the WAL checkpointed.
Every change is audited as an intent and a completion.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from ..errors import AuthError, InvalidRequestError, LawfulBasisError, NotFoundError
from ..privacy.audited import audited_change
from ..store.catalog import utc_now
from ..store.subjects import SubjectTables, WatchRow, subject_aad, watch_aad, watch_secret_aad
from .parts import SubjectParts
from .registry import seal, unseal
from .validate import clean_text, positive_id
from .webhooks import check_webhook_url

if TYPE_CHECKING:
    from ..privacy.identity import IdentityCheck
    from ..types import ActionContext

WATCHES_LOCK = "watches"
WITHDRAW_PREFIX = "flw"


@dataclass(frozen=True)
class NewWatch:
    """A registered watch and the secrets shown once: the webhook's signing secret and,
    for a data subject's own watch, the withdrawal credential."""

    watch: WatchRow
    webhook_secret: str = field(repr=False)
    withdraw_credential: str | None = field(default=None, repr=False)


def _expiry(store: SubjectParts, days: object) -> str:
    try:
        n = int(str(days).strip()) if not isinstance(days, int) else days
    except ValueError:
        raise InvalidRequestError(f"a watch's duration must be a number of days, not "
                                  f"{days!r:.40}") from None
    limit = store.settings.watch_max_days
    if isinstance(days, bool) or not 1 <= n <= limit:
        raise InvalidRequestError(f"a watch lasts 1 to {limit} days")
    return (datetime.now(UTC) + timedelta(days=n)).isoformat(timespec="seconds")


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v).astype(np.float32)


def _register(
    store: SubjectParts, context: ActionContext, subject_id: int | None, owner: str, label: str,
    vector: np.ndarray, far: float, webhook_url: str, days: object, withdraw: bool,
) -> NewWatch:
    url = check_webhook_url(webhook_url, store.settings)
    expires_at = _expiry(store, days)
    purpose = clean_text(context.purpose or "", "the watch's purpose")
    case = clean_text(context.case or "", "the watch's case reference")
    secret = secrets.token_bytes(32)
    withdraw_secret = secrets.token_urlsafe(24) if withdraw else None
    withdraw_hash = (hashlib.sha256(withdraw_secret.encode()).hexdigest()
                     if withdraw_secret else None)
    table = SubjectTables(store.catalog)
    inputs = {"subject_id": subject_id, "owner": owner, "expires_at": expires_at,
              "webhook_host": url.split("/")[2], "far": far}
    with audited_change(store.audit, store.locks, "watch_add", context.actor, purpose,
                        case, inputs, lock=WATCHES_LOCK, what="watch change") as done:
        watch_id = table.add_watch(
            subject_id, owner, label, store.pack.name, far, url, withdraw_hash, purpose, case,
            context.actor, utc_now(), expires_at,
            lambda wid: (seal(store, vector, watch_aad(wid)),
                         store.cipher.encrypt_blob(secret, watch_secret_aad(wid))))
        done.outputs = {"watch_id": watch_id}
    credential = (f"{WITHDRAW_PREFIX}_{watch_id}_{withdraw_secret}"
                  if withdraw_secret else None)
    return NewWatch(table.watch(watch_id), secret.hex(), credential)


def add_watch(store: SubjectParts, subject_id: object, webhook_url: str, days: object,
              context: ActionContext, far: float | None = None) -> NewWatch:
    """An operator's watch on an enrolled subject; refused unless the enrolment records the
    person's consent."""
    sid = positive_id(subject_id, "the subject id")
    table = SubjectTables(store.catalog)
    row = table.subject(sid)
    if not row.consent:
        raise LawfulBasisError(
            f"subject {sid} has no recorded consent to be watched; enrol them with the "
            "reference of their consent (--consent) first")
    if row.pack != store.pack.name:
        raise InvalidRequestError(f"subject {sid} was enrolled with pack {row.pack}")
    vectors = [unseal(store, blob, subject_aad(s)) for s, _t, blob
               in table.templates(store.pack.name) if s == sid]
    if not vectors:
        raise NotFoundError(f"subject {sid} has no templates")
    point = store.operating_point(far, search=True)
    return _register(store, context, sid, "operator", row.name, _unit(np.mean(vectors, 0)),
                     point.far, webhook_url, days, withdraw=False)


def add_self_watch(store: SubjectParts, check: IdentityCheck, label: str, webhook_url: str,
                   days: object, context: ActionContext) -> NewWatch:
    """A data subject's watch on themselves, after their token's identity check passed.
    Decided at the strictest calibrated point: an alert about a look-alike would show
    them someone else's photo."""
    from ..errors import IdentityNotVerifiedError
    from ..privacy.self_service import self_service_far

    if not check.verified or check.embedding is None:
        raise IdentityNotVerifiedError(f"identity not verified: {check.reason}")
    label = clean_text(label, "the watch's label", 200)
    return _register(store, context, None, "subject", label, _unit(check.embedding),
                     self_service_far(store), webhook_url, days, withdraw=True)


def withdraw_watch(store: SubjectParts, watch_id: object, context: ActionContext,
                   reason: str = "withdrawn") -> list[int]:
    wid = positive_id(watch_id, "the watch id")
    SubjectTables(store.catalog).watch(wid)  # NotFoundError naming it
    return _delete(store, [wid], context, reason)


def _delete(store: SubjectParts, ids: list[int], context: ActionContext, reason: str) -> list[int]:
    with audited_change(store.audit, store.locks, "watch_delete", context.actor,
                        context.purpose or f"watch {reason}", context.case,
                        {"watch_ids": ids, "reason": reason}, lock=WATCHES_LOCK,
                        what="watch change") as done:
        gone = SubjectTables(store.catalog).delete_watches(ids)
        done.outputs = {"deleted": gone}
    return gone


def withdraw_with_credential(store: SubjectParts, credential: object,
                             context: ActionContext) -> int:
    """A data subject ends their own watch with the credential they were given."""
    parts = str(credential or "").strip().split("_", 2)
    if len(parts) != 3 or parts[0] != WITHDRAW_PREFIX or not parts[1].isdigit() \
            or not parts[2] or len(parts[1]) > 18:
        raise AuthError("malformed watch withdrawal credential")
    wid = int(parts[1])
    try:
        stored = SubjectTables(store.catalog).withdraw_hash(wid)
    except NotFoundError:
        stored = None
    given = hashlib.sha256(parts[2].encode()).hexdigest()
    if not stored or not hmac.compare_digest(stored, given):
        raise AuthError("unknown watch withdrawal credential")
    _delete(store, [wid], context, "withdrawn by the data subject")
    return wid


def purge_expired(store: SubjectParts, context: ActionContext,
                  now: datetime | None = None) -> list[int]:
    """Delete every watch past its expiry (the retention run calls this)."""
    stamp = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    ids = SubjectTables(store.catalog).expired_watch_ids(stamp)
    return _delete(store, ids, context, "expired") if ids else []
