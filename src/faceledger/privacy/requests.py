"""The rights-request register: every access, erasure, opt-out and objection request, with
its identity check, its state and its deadline (GDPR Art. 12(3)).

States::

    received ──► identity_verified ──► done
        │                 │
        └────────────────►└──────────► refused (with the reason)

* **Due date**: received + 1 calendar month (the 31st of a month runs to the last day of a
  shorter one). It can be **extended once, by 2 months**, with a recorded reason, and only
  before the first month is over (Art. 12(3): the person is told of the extension within
  one month).
* **Overdue**: an open request past its (extended) due date; a request closed after it was
  **late**.
* **Identity check**: who checked it, how, and the SHA-256 of the reference photo, never
  the photo. A subject token issued from a request records it
  (:func:`faceledger.api.subject_tokens.issue_subject_token`), and the request closes when
  the token is spent.
* **Done** needs a verified identity; an erasure or opt-out request closes done with the
  ``erase`` audit entry it was carried out by, and gets a signed receipt
  (:mod:`faceledger.privacy.receipts`).

Every change is audited as an intent before the catalog write and a completion after it
(``rights_request_<change>``), under one lock per store, with the request id as the
entry's case. The audit entries carry no name: the register holds the subject's name or
reference, the log only the request id.

Times are injected (``clock``) so that a test can run a request's month without waiting.
"""

from __future__ import annotations

import calendar
import re
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import FaceLedgerError, InvalidRequestError, NotFoundError, RightsRequestError
from ..parts import HasLocks, HasSettings
from ..store.locks import FileLocks, Locks
from ..store.requests_table import RequestRow, RequestsTable
from .receipts import ReceiptParts

if TYPE_CHECKING:
    from ..store.catalog import Catalog
    from .audit import AuditLog
    from .receipts import ReceiptSigner

KINDS = ("access", "erasure", "opt_out", "objection")
OPEN_STATES = ("received", "identity_verified")
CLOSED_STATES = ("done", "refused")
ERASING_KINDS = ("erasure", "opt_out")  # closed with an erase entry, and get a receipt
REQUESTS_LOCK = "requests"
AUDIT_PURPOSE = "rights-request register (GDPR Art. 12)"
MAX_TEXT = 500
_ID = re.compile(r"^RR-\d{8}-[0-9a-f]{8}$")

Clock = Callable[[], datetime]


@runtime_checkable
class RequestParts(ReceiptParts, HasSettings, HasLocks, Protocol):
    """The rights register: the receipts' parts, the settings and the store's locks."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (a date alone is midnight UTC); naive times are UTC."""
    try:
        dt = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidRequestError(f"{text!r} is not an ISO 8601 date or time") from None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def add_months(dt: datetime, months: int) -> datetime:
    """``dt`` plus calendar months, clamped to the last day of a shorter month."""
    total = dt.month - 1 + months
    year, month = dt.year + total // 12, total % 12 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return dt.replace(year=year, month=month, day=day)


def _text(value: str | None, what: str, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise InvalidRequestError(f"a rights request needs {what}")
    if len(value) > MAX_TEXT:
        raise InvalidRequestError(f"{what} is longer than {MAX_TEXT} characters")
    return value


def check_id(request_id: str) -> str:
    request_id = str(request_id).strip()
    if not _ID.match(request_id):
        raise NotFoundError(f"no rights request {request_id[:40]!r} (ids look like "
                            "RR-20260115-3fa29c1b)")
    return request_id


@dataclass(frozen=True)
class IdentityRecord:
    """How the person's identity was checked: by whom, how, against which photo (hash)."""

    checked_by: str
    method: str
    reference_sha256: str | None = None


@dataclass(frozen=True)
class RequestView:
    """A request with what follows from it at one moment: its due date, whether it is
    overdue (open past it) or was late (closed past it), and the days it took."""

    request: RequestRow
    due: datetime
    overdue: bool
    late: bool
    response_days: float | None

    @property
    def open(self) -> bool:
        return self.request.state in OPEN_STATES

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self.request)
        data.pop("receipt", None)
        data.update(due=iso(self.due), overdue=self.overdue, late=self.late,
                    response_days=self.response_days, has_receipt=bool(self.request.receipt))
        return data


def view(row: RequestRow, now: datetime) -> RequestView:
    due = parse_time(row.extended_due_at or row.due_at)
    received = parse_time(row.received_at)
    if row.state in CLOSED_STATES and row.completed_at:
        done = parse_time(row.completed_at)
        days = round((done - received).total_seconds() / 86400, 2)
        return RequestView(row, due, False, done > due, days)
    return RequestView(row, due, now > due, False, None)


class RightsRequests:
    """The register over the catalog's ``rights_requests`` table and the audit log."""

    def __init__(self, catalog: Catalog, audit: AuditLog, locks: Locks | Path,
                 clock: Clock | None = None, receipts: ReceiptSigner | None = None) -> None:
        self.table = RequestsTable(catalog)
        self.audit = audit
        # the store's named locks (a data dir: its file locks)
        self.locks = FileLocks(locks) if isinstance(locks, (str, Path)) else locks
        self.clock = clock or utc_now
        self.receipts = receipts

    @classmethod
    def of(cls, store: RequestParts, clock: Clock | None = None) -> RightsRequests:
        from .receipts import ReceiptSigner

        return cls(store.catalog, store.audit, store.locks, clock, ReceiptSigner.of(store))

    # -- reading -------------------------------------------------------------------------
    def get(self, request_id: str) -> RequestRow:
        return self.table.get(check_id(request_id))

    def view(self, request_id: str) -> RequestView:
        return view(self.get(request_id), self.clock())

    def list(self, received_from: datetime | None = None, received_to: datetime | None = None,
             open_only: bool = False) -> list[RequestView]:
        now = self.clock()
        rows = self.table.list(iso(received_from) if received_from else None,
                               iso(received_to) if received_to else None,
                               OPEN_STATES if open_only else None)
        return [view(r, now) for r in rows]

    def overdue(self) -> list[RequestView]:
        return [v for v in self.list(open_only=True) if v.overdue]

    def by_token(self, token_id: str) -> RequestRow | None:
        return self.table.by_token(token_id)

    # -- changes -------------------------------------------------------------------------
    def open(self, kind: str, subject: str, channel: str, actor: str,
             received_at: datetime | str | None = None,
             identity: IdentityRecord | None = None) -> RequestRow:
        """Record a request as received (now, or when it really arrived: the month runs
        from receipt, not from when it was typed in)."""
        if kind not in KINDS:
            raise InvalidRequestError(f"a request's kind is one of {', '.join(KINDS)}")
        subject = _text(subject, "the person's name or reference")
        channel = _text(channel, "the channel it came by (email, letter, web form ...)")
        now = self.clock()
        received = now if received_at is None else (
            parse_time(received_at) if isinstance(received_at, str) else received_at)
        if received > now:
            raise InvalidRequestError("a request cannot be received in the future")
        request_id = f"RR-{received:%Y%m%d}-{secrets.token_hex(4)}"
        row = RequestRow(
            id=request_id, kind=kind, subject=subject, channel=channel,
            received_at=iso(received), due_at=iso(add_months(received, 1)), state="received",
            opened_by=actor, updated_at=iso(now),
        )
        if identity is not None:
            row = _with_identity(row, _identity(identity), now)
        self._change("open", actor, request_id,
                     {"kind": kind, "channel": channel, "received_at": row.received_at,
                      "due_at": row.due_at, "identity_verified": identity is not None},
                     lambda: self.table.insert(row))
        return self.table.get(request_id)

    def record_identity(self, request_id: str, identity: IdentityRecord, actor: str,
                        token_id: str | None = None) -> RequestRow:
        row = self._open_row(request_id)
        identity = _identity(identity)
        now = self.clock()
        changes = {k: v for k, v in asdict(_with_identity(row, identity, now)).items()
                   if k.startswith("identity_") or k in ("reference_sha256", "state")}
        changes["updated_at"] = iso(now)
        if token_id:
            changes["token_id"] = token_id
        self._change("identity", actor, row.id,
                     {"checked_by": identity.checked_by, "method": identity.method,
                      "reference_sha256": identity.reference_sha256, "token_id": token_id},
                     lambda: self._update(row.id, OPEN_STATES, changes))
        return self.table.get(row.id)

    def extend(self, request_id: str, reason: str, actor: str) -> RequestRow:
        """Extend by 2 months, once, with a reason, before the first month is over."""
        row = self._open_row(request_id)
        reason = _text(reason, "a reason for the extension (Art. 12(3))")
        if row.extended_due_at:
            raise RightsRequestError(f"request {row.id} was extended already (to "
                                     f"{row.extended_due_at}); Art. 12(3) allows one extension")
        now = self.clock()
        if now > parse_time(row.due_at):
            raise RightsRequestError(
                f"request {row.id} was due on {row.due_at}: an extension must be decided, and "
                "the person told, within the first month")
        new_due = iso(add_months(parse_time(row.due_at), 2))
        self._change("extend", actor, row.id,
                     {"reason": reason, "due_at": row.due_at, "extended_due_at": new_due},
                     lambda: self._update(row.id, OPEN_STATES, {
                         "extended_due_at": new_due, "extension_reason": reason,
                         "updated_at": iso(now)}))
        return self.table.get(row.id)

    def close(self, request_id: str, actor: str, done: bool, reason: str = "",
              erase_seq: int | None = None) -> RequestRow:
        """Close a request: done (the identity must have been verified; erasure and
        opt-out requests name the ``erase`` audit entry that carried them out, and get a
        signed receipt), or refused with the reason."""
        row = self._open_row(request_id)
        now = self.clock()
        changes: dict[str, Any] = {"completed_at": iso(now), "updated_at": iso(now)}
        if done:
            if row.state != "identity_verified":
                raise RightsRequestError(
                    f"request {row.id}: verify the person's identity first (issue a subject "
                    "token from the request, or open it with the identity check)")
            if row.kind in ERASING_KINDS:
                if erase_seq is None:
                    raise RightsRequestError(
                        f"request {row.id} is an {row.kind.replace('_', '-')} request: name "
                        "the erase audit entry that carried it out (--erase-entry SEQ)")
                changes["erase_seq"] = int(erase_seq)
                if self.receipts is not None:
                    closed = RequestRow(**{**asdict(row), **changes, "state": "done"})
                    changes["receipt"] = self.receipts.issue(closed).to_json()
            changes.update(state="done", outcome=_text(reason, "outcome", required=False)
                           or "done")
        else:
            changes.update(state="refused", outcome=_text(reason, "the reason for refusing"))
        self._change("close", actor, row.id,
                     {"state": changes["state"], "outcome": changes["outcome"],
                      "erase_seq": changes.get("erase_seq"),
                      "late": now > view(row, now).due},
                     lambda: self._update(row.id, OPEN_STATES, changes))
        return self.table.get(row.id)

    # -- helpers -------------------------------------------------------------------------
    def _open_row(self, request_id: str) -> RequestRow:
        row = self.get(request_id)
        if row.state not in OPEN_STATES:
            raise RightsRequestError(f"request {row.id} is closed ({row.state})")
        return row

    def _update(self, request_id: str, states: tuple[str, ...], changes: dict) -> None:
        if not self.table.update(request_id, states, **changes):
            raise RightsRequestError(f"request {request_id} changed meanwhile (closed by "
                                     "someone else?); look at it again")

    def _change(self, change: str, actor: str, request_id: str, inputs: dict[str, Any],
                write: Callable[[], None]) -> None:
        """Intent, catalog write, completion: the audit log knows of the change before it
        is made and says whether it was."""
        action = f"rights_request_{change}"
        with self.locks.lock(REQUESTS_LOCK).require("another request change",
                                                    30.0) as lock:
            intent = self.audit.begin(action, actor, AUDIT_PURPOSE, request_id,
                                      inputs={"request_id": request_id, **inputs},
                                      lock=lock.name)
            try:
                write()
            except FaceLedgerError as exc:
                self.audit.complete(intent, action, actor, AUDIT_PURPOSE, request_id,
                                    inputs={"request_id": request_id},
                                    outputs={"status": "refused", "error": exc.code})
                raise
            self.audit.complete(intent, action, actor, AUDIT_PURPOSE, request_id,
                                inputs={"request_id": request_id}, outputs={"status": "done"})


def _identity(identity: IdentityRecord) -> IdentityRecord:
    checked_by = _text(identity.checked_by, "who checked the person's identity")
    method = _text(identity.method, "how the identity was checked")
    sha = identity.reference_sha256
    if sha is not None and not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise InvalidRequestError("the reference photo is recorded by its SHA-256 (64 hex)")
    return IdentityRecord(checked_by, method, sha)


def _with_identity(row: RequestRow, identity: IdentityRecord, now: datetime) -> RequestRow:
    return RequestRow(**{**asdict(row), "identity_checked_by": identity.checked_by,
                         "identity_method": identity.method,
                         "reference_sha256": identity.reference_sha256,
                         "identity_checked_at": iso(now), "state": "identity_verified"})
