"""An append-only, hash-chained audit log in its own SQLite file.

Every search, verify, access export, erasure, ingest run, source change and key use is
appended as one entry: who (actor), when (UTC), why (purpose, case reference), what went in
(hashes and ids, never a probe image or a template) and what came out (the ids returned).

How tampering is detected
-------------------------
Each entry's ``hash`` is ``sha256(prev_hash + "\\n" + canonical JSON of the entry)``, where
the entry includes its own ``seq`` and the previous entry's hash. A separate one-row
``head`` table holds the sequence number and hash of the last entry, written in the same
transaction as the entry. :meth:`AuditLog.verify` walks the chain and reports the first
entry that fails. It detects:

* an edited entry (any field: its recomputed hash no longer matches),
* a deleted entry in the middle (a gap in ``seq`` and a broken ``prev_hash`` link),
* reordered entries (``seq`` inside the hashed body disagrees with the row, links break),
* deleted entries at the end (the head names a later entry than the last one present).

With the store key (``head_key``, derived from the template key, kept outside the data dir)
the head carries an HMAC, so recomputing the chain needs the key too. Given the catalog
(``anchors``), the log and the catalog anchor each other's head and count under that key
(:mod:`faceledger.privacy.audit_anchor`): a log wiped, deleted, truncated or replaced by an
older copy is reported by :meth:`verify` and refuses every append with an
:class:`IntegrityError` (it never silently starts a new chain). :meth:`head` gives an anchor
to keep elsewhere for :meth:`verify` (``anchor``), which catches both files rolled back.

Actions that change state across files are written as an intent before and a completion
after (:meth:`begin`, :meth:`complete`); :meth:`verify` lists intents that were never
completed, and :meth:`pending` lists them cheaply for the store's recovery on open.

The ``entries`` table also carries triggers that refuse ``UPDATE`` and ``DELETE``, so that
no ordinary code path can change history by accident; a deliberate attacker can drop them,
which is what the chain is for.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from ..errors import FaceLedgerError, IntegrityError, StoreError
from ..store.audit_tables import AuditStorage, SqliteAuditStorage
from .audit_anchor import (
    Anchor,
    AnchorState,
    AnchorStore,
    AuditCopy,
    Judgement,
    advance_copy,
    catalog_copy,
    judge,
    judge_head,
    look,
    read_copy,
    settle,
    store_copy,
)
from .audit_chain import (
    GENESIS_HASH,
    INTENT_SUFFIX,
    AuditEntry,
    AuditVerification,
    canonical_json,
    entry_from,
    entry_hash,
    head_message,
    keys_tuple,
    mac,
    sha256_hex,
    verify_rows,
)
from .audit_export import verify_jsonl, write_export

__all__ = [
    "GENESIS_HASH",
    "AuditEntry",
    "AuditLog",
    "AuditVerification",
    "PendingIntent",
    "canonical_json",
    "entry_hash",
    "sha256_hex",
    "verify_jsonl",
    "verify_rows",
]



@dataclass(frozen=True)
class PendingIntent:
    """An intent not completed yet, and the lock its actor holds while it works."""

    seq: int
    action: str
    lock: str | None


def _head_of(tx) -> tuple[int, str, str | None]:
    return tx.head() or (0, GENESIS_HASH, None)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class AuditLog:
    """Append-only hash-chained log over an :class:`~faceledger.store.audit_tables.AuditStorage`
    (``audit.db`` in SQLite by default; PostgreSQL in a cluster store).

    Each append reads the head inside its own exclusive write transaction, so appends from
    many threads, processes (and, on PostgreSQL, machines) are ordered.
    """

    def __init__(
        self,
        path: Path | str | AuditStorage,
        head_key: bytes | Sequence[bytes] | None = None,
        anchors: AnchorStore | None = None,
    ) -> None:
        """``path``: the SQLite file, or a storage. ``head_key``: one key, or several (the
        first signs new records; any of them is accepted when verifying, so an interrupted
        key rotation does not break the log). ``anchors``: the catalog, to anchor the log
        in (see the module docstring)."""
        if isinstance(path, (str, Path)):
            self.storage: AuditStorage = SqliteAuditStorage(path)
            self.path: Path | None = Path(path)
        else:
            self.storage = path
            self.path = None
        self._head_keys = keys_tuple(head_key)
        self._anchors = anchors
        self._refusal: str | None = None
        self._lock = threading.RLock()
        if anchors is not None:
            self._open_anchors()

    # -- anchors -------------------------------------------------------------------------

    @property
    def refusal(self) -> str | None:
        """Why this log refuses appends (it was found wiped, truncated or rolled back)."""
        return self._refusal

    def require_writable(self) -> None:
        if self._refusal is not None:
            raise IntegrityError(
                f"the audit log cannot be trusted, so nothing more is done or recorded: "
                f"{self._refusal}. Run `faceledger audit verify`; restore audit.db and "
                "catalog.db from the same backup, or investigate who changed them."
            )

    def _open_anchors(self) -> None:
        assert self._anchors is not None
        verdict = judge(look(self, self._anchors), self._head_keys)
        if verdict.problem is not None:
            self._refusal = verdict.problem
            return
        try:
            settle(self, verdict)
        except (sqlite3.Error, FaceLedgerError) as exc:
            raise StoreError(f"cannot anchor the audit log in the catalog: {exc}") from exc

    def snapshot(self) -> tuple[tuple[int, str, str | None], tuple[int, str], AuditCopy | None]:
        """(head seq, hash, mac), (last entry's seq, hash) and the audit copy of the
        catalog anchor, from one read transaction."""
        with self._lock, self.storage.read() as tx:
            head = _head_of(tx)
            last = tx.last()
            copy = read_copy(tx)
        return head, (last if last else (0, GENESIS_HASH)), copy

    def write_copy(self, seq: int, digest: str) -> None:
        """Set the audit copy of the catalog anchor (anchoring only; appends advance it)."""
        with self._lock, self.storage.write() as tx:
            store_copy(tx, AuditCopy.signed(seq, digest, self._head_keys))

    def write_catalog_anchor(self, seq: int, digest: str, strict: bool = False) -> None:
        """The second write of an append. If it fails the anchor lags one entry behind,
        which is what a crash here would leave too; the next append repairs it."""
        if self._anchors is None:
            return
        record = Anchor.signed(seq, digest, self._head_keys).to_json()
        try:
            self._anchors.set_audit_anchor(record, seq)
        except (sqlite3.Error, StoreError):  # the catalog's errors (sqlite3's untranslated)
            if strict:
                raise

    # -- writing -------------------------------------------------------------------------

    def append(
        self,
        action: str,
        actor: str,
        purpose: str | None = None,
        case: str | None = None,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
    ) -> AuditEntry:
        return self._append(action, actor, purpose, case, inputs, outputs)

    def begin(
        self,
        action: str,
        actor: str,
        purpose: str | None = None,
        case: str | None = None,
        inputs: dict[str, Any] | None = None,
        *,
        lock: str | None = None,
    ) -> AuditEntry:
        """Record the intent to do ``action`` (as ``<action>_intent``) before doing it.
        ``lock``: the name of the lock (:mod:`faceledger.store.locks`) the caller holds
        until it calls :meth:`complete`; a free lock later means the caller died."""
        return self._append(
            action + INTENT_SUFFIX, actor, purpose, case, inputs, None, pending_lock=lock or ""
        )

    def complete(
        self,
        intent: AuditEntry | int,
        action: str,
        actor: str,
        purpose: str | None = None,
        case: str | None = None,
        inputs: dict[str, Any] | None = None,
        outputs: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Record that the intent ``intent`` is done (``inputs.intent_seq`` names it)."""
        seq = intent.seq if isinstance(intent, AuditEntry) else int(intent)
        return self._append(
            action, actor, purpose, case, {**(inputs or {}), "intent_seq": seq}, outputs,
            completes=seq,
        )

    def _append(
        self,
        action: str,
        actor: str,
        purpose: str | None,
        case: str | None,
        inputs: dict[str, Any] | None,
        outputs: dict[str, Any] | None,
        pending_lock: str | None = None,
        completes: int | None = None,
    ) -> AuditEntry:
        if not action or not actor:
            raise StoreError("an audit entry needs an action and an actor")
        self.require_writable()
        # fail on unserialisable inputs before taking the write lock
        inputs_c = json.loads(canonical_json(inputs or {}))
        outputs_c = json.loads(canonical_json(outputs or {}))
        copy = catalog_copy(self._anchors, self._head_keys)
        with self._lock:
            try:
                with self.storage.write() as tx:
                    prev_seq, prev_hash, _mac = _head_of(tx)
                    last = tx.last()
                    last_seq = last[0] if last else 0
                    if last_seq != prev_seq:
                        raise IntegrityError(
                            f"audit log head names entry {prev_seq} but the last entry is "
                            f"{last_seq}; run `faceledger audit verify`"
                        )
                    entry = AuditEntry(
                        seq=prev_seq + 1,
                        at=_utc_now(),
                        action=action,
                        actor=actor,
                        purpose=purpose,
                        case=case,
                        inputs=inputs_c,
                        outputs=outputs_c,
                        prev_hash=prev_hash,
                    )
                    digest = entry_hash(entry.body())
                    entry = AuditEntry(**{**entry.body(), "hash": digest})
                    tx.insert_entry(entry.seq, canonical_json(entry.body()), prev_hash, digest)
                    tx.set_head(entry.seq, digest, self._mac(entry.seq, digest))
                    if copy is not None:
                        advance_copy(tx, copy, entry.seq)
                    if pending_lock is not None:
                        tx.add_pending(entry.seq, action, pending_lock or None)
                    if completes is not None:
                        tx.drop_pending(completes)
            except IntegrityError:
                raise
            except StoreError as exc:
                raise StoreError(f"cannot append to the audit log: {exc.message}") from exc
        self.write_catalog_anchor(entry.seq, entry.hash)
        return entry

    def reseal(self, head_key: bytes | Sequence[bytes] | None) -> None:
        """Switch the HMAC key of the head and both anchors (after key rotation, or when a
        store first gets a key). Verifies the log first."""
        result = self.verify()
        if not result.ok:
            raise IntegrityError(f"will not reseal a broken audit log: {result.reason}")
        with self._lock:
            self._head_keys = keys_tuple(head_key)
            with self.storage.write() as tx:
                if result.entries:
                    tx.set_head_mac(self._mac(result.head_seq, result.head_hash))
                copy = read_copy(tx)
                if copy is not None:
                    store_copy(tx, AuditCopy.signed(copy.seq, copy.hash, self._head_keys))
        if self._anchors is not None and result.anchored_seq is not None:
            seq = result.anchored_seq
            digest = GENESIS_HASH if seq == 0 else self._hash_of(seq)
            self.write_catalog_anchor(seq, digest, strict=True)

    def _hash_of(self, seq: int) -> str:
        entry = self.entry(seq)
        if entry is None:
            raise IntegrityError(f"audit entry {seq} is gone")
        return entry.hash

    def _mac(self, seq: int, digest: str) -> str | None:
        return mac(self._head_keys[0], head_message(seq, digest)) if self._head_keys else None

    # -- reading -------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry; copy it elsewhere to anchor the log."""
        with self._lock, self.storage.read() as tx:
            seq, digest, _mac = _head_of(tx)
        return seq, digest

    def __len__(self) -> int:
        return self.storage.count()

    def entry(self, seq: int) -> AuditEntry | None:
        row = self.storage.entry(int(seq))
        return entry_from(row[0], row[1]) if row else None

    def entries(self, since_seq: int = 0, limit: int | None = None) -> list[AuditEntry]:
        """Entries with ``seq > since_seq`` in order (as stored; :meth:`verify` checks them)."""
        return list(self._iter(since_seq, limit))

    def _iter(self, since_seq: int = 0, limit: int | None = None) -> Iterator[AuditEntry]:
        """Entries in seq order, read in pages under the lock (one connection, many threads)."""
        last, left = since_seq, limit
        while left is None or left > 0:
            page = 5000 if left is None else min(5000, left)
            rows = self.storage.page(last, page)
            if not rows:
                return
            for _seq, body, digest in rows:
                yield entry_from(body, digest)
            last = int(rows[-1][0])
            if left is not None:
                left -= len(rows)

    def pending(self) -> list[PendingIntent]:
        """Intents not yet completed, as this log's own bookkeeping lists them (fast; the
        chain itself is what :meth:`verify` reads)."""
        return [PendingIntent(s, a, lk) for s, a, lk in self.storage.pending()]

    def export_jsonl(self, fh: IO[str], since_seq: int = 0, until_seq: int | None = None) -> int:
        """Write every entry after ``since_seq`` (up to ``until_seq``, for a period) with its
        hashes as one JSON object per line, then a trailer line signed with the store key;
        returns the entry count."""
        start_prev = GENESIS_HASH if since_seq <= 0 else self._hash_of(since_seq)
        entries = self._iter(since_seq)
        if until_seq is not None:
            entries = (e for e in entries if e.seq <= until_seq)
        return write_export(fh, entries, since_seq, start_prev, self._head_keys)

    def verify_export(
        self, fh: IO[str], anchor: tuple[int, str] | None = None
    ) -> AuditVerification:
        """Verify an exported copy, its trailer authenticated with this store's key."""
        return verify_jsonl(fh, anchor=anchor, keys=self._head_keys or None)

    def verify(self, anchor: tuple[int, str] | None = None) -> AuditVerification:
        """Walk the whole chain and check the head and the anchors; the first failure is
        reported, nothing is repaired. ``anchor``: a ``(seq, hash)`` kept elsewhere."""
        before = self._anchors.audit_anchor() if self._anchors is not None else None
        with self._lock, self.storage.read() as tx:  # entries, head, copy: one moment
            rows = tx.rows()
            head = _head_of(tx)
            copy = read_copy(tx)
        head_info = {"head_seq": head[0], "head_hash": head[1]}
        intents: list[int] = []
        result = verify_rows(((int(r[0]), r[1], r[2], r[3]) for r in rows), anchor=anchor,
                             intents=intents)
        if not result.ok:
            return AuditVerification(
                False, result.entries, result.first_bad_seq, result.reason, **head_info
            )
        last = (int(rows[-1][0]), str(rows[-1][3])) if rows else (0, GENESIS_HASH)
        verdict = judge_head(head, last, self._head_keys)
        anchored: int | None = None
        if verdict is None and self._anchors is not None:
            hashes = {int(r[0]): str(r[3]) for r in rows}
            verdict = judge(
                AnchorState(head, last, copy, before, self._anchors.audit_anchor(),
                            hashes.get, self._anchors.holds_records),
                self._head_keys,
            )
            if verdict.problem is None and verdict.todo not in (None, "repair"):
                verdict = Judgement(
                    "the log is not anchored in the catalog yet (open the store to anchor it)"
                )
            anchored = verdict.anchored_seq
        if verdict is not None and verdict.problem is not None:
            return AuditVerification(
                False, len(rows), verdict.first_bad_seq, verdict.problem, **head_info
            )
        return AuditVerification(
            True,
            len(rows),
            None,
            "",
            head_sealed=bool(self._head_keys and rows),
            anchored_seq=anchored,
            unanchored=head[0] - anchored if anchored is not None else 0,
            open_intents=intents,
            **head_info,
        )

    def close(self) -> None:
        with self._lock:
            self.storage.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
