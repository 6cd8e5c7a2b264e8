"""The catalog and the audit log anchor each other, so that neither can be wiped, truncated
or rolled back without notice.

Two records, each under an HMAC from the store key (which lives outside the data dir):

* the **catalog anchor** (in ``catalog.db``): the ``(seq, hash, count)`` of the audit log's
  last entry, rewritten after every append;
* the **audit copy** (in ``audit.db``): the catalog anchor as it stood when the latest entry
  was appended, written in that entry's transaction.

An append writes its entry (and the copy) first, then the catalog anchor. So at any
moment ``copy <= catalog anchor <= head``, and a crash between the two writes leaves the
catalog anchor one entry behind, which the next append or open repairs (the entries after
it must continue the chain from the anchored entry). What each break means:

============================================  ==============================================
found                                          what happened
============================================  ==============================================
head < catalog anchor (head 0: empty log)     entries removed from the end, audit.db wiped,
                                              deleted or replaced by an older copy
entry at the catalog anchor has another hash  the log was rewritten or replaced
catalog anchor < audit copy                   catalog.db rolled back to an older copy
catalog anchor missing, audit copy present    the anchor was deleted from catalog.db
no anchors, empty log, catalog holds records  both wiped: audit.db deleted, anchor removed
a record's HMAC fails                         it was written without the key (forged)
============================================  ==============================================

A store made before anchors existed has neither record but a non-empty log: it is anchored
at its current head on first open (trust on first use; an ``audit_anchor`` entry records
it). What no local check can catch is both files replaced together by older copies of
themselves; an anchor kept elsewhere (``audit verify --anchor SEQ:HASH``) catches that.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ..errors import StoreError
from .audit_chain import GENESIS_HASH, head_message, mac, mac_ok

if TYPE_CHECKING:
    from ..store.audit_tables import AuditTx
    from .audit import AuditLog


class AnchorStore(Protocol):
    """Where the catalog anchor is kept (``faceledger.store.catalog.Catalog``)."""

    def audit_anchor(self) -> str | None: ...

    def set_audit_anchor(self, record: str, seq: int) -> None:
        """Store ``record`` unless a record with a higher seq is there already."""

    def holds_records(self) -> bool:
        """True when the catalog holds anything an audit log would have recorded."""


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    count: int
    mac: str | None = None

    @staticmethod
    def message(seq: int, digest: str, count: int) -> str:
        return f"catalog-anchor:{seq}:{digest}:{count}"

    @classmethod
    def signed(cls, seq: int, digest: str, keys: Sequence[bytes]) -> Anchor:
        tag = mac(keys[0], cls.message(seq, digest, seq)) if keys else None
        return cls(seq, digest, seq, tag)

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """Raises ValueError for anything that is not an anchor record."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        seq, digest, count, tag = data.get("seq"), data.get("hash"), data.get("count"), data.get(
            "mac"
        )
        if not (isinstance(seq, int) and isinstance(count, int) and isinstance(digest, str)):
            raise ValueError("missing fields")
        if tag is not None and not isinstance(tag, str):
            raise ValueError("bad mac")
        return cls(seq, digest, count, tag)

    def to_json(self) -> str:
        return json.dumps(
            {"seq": self.seq, "hash": self.hash, "count": self.count, "mac": self.mac},
            sort_keys=True,
        )

    def authentic(self, keys: Sequence[bytes]) -> bool:
        return not keys or mac_ok(keys, self.message(self.seq, self.hash, self.count), self.mac)


@dataclass(frozen=True)
class AuditCopy:
    """The audit log's copy of the catalog anchor."""

    seq: int
    hash: str
    mac: str | None = None

    @staticmethod
    def message(seq: int, digest: str) -> str:
        return f"audit-copy:{seq}:{digest}"

    @classmethod
    def signed(cls, seq: int, digest: str, keys: Sequence[bytes]) -> AuditCopy:
        return cls(seq, digest, mac(keys[0], cls.message(seq, digest)) if keys else None)

    def authentic(self, keys: Sequence[bytes]) -> bool:
        return not keys or mac_ok(keys, self.message(self.seq, self.hash), self.mac)


@dataclass(frozen=True)
class AnchorState:
    """One look at both files. ``catalog_before`` was read before the audit snapshot and
    ``catalog_after`` after it, so a concurrent append never looks like tampering."""

    head: tuple[int, str, str | None]  # seq, hash, mac
    last: tuple[int, str]  # the last entry actually present
    copy: AuditCopy | None
    catalog_before: str | None
    catalog_after: str | None
    hash_at: Callable[[int], str | None]
    holds_records: Callable[[], bool]


@dataclass(frozen=True)
class Judgement:
    problem: str | None = None
    first_bad_seq: int | None = None
    todo: str | None = None  # "genesis" | "adopt" | "anchor" | "repair"
    anchored_seq: int | None = None


def judge_head(
    head: tuple[int, str, str | None], last: tuple[int, str], keys: Sequence[bytes]
) -> Judgement | None:
    """Does the head name the last entry, under a valid HMAC? None if it does."""
    head_seq, head_hash, head_mac = head
    last_seq, last_hash = last
    if (head_seq, head_hash) != (last_seq, last_hash):
        return Judgement(
            f"head names entry {head_seq} ({head_hash[:12]}) but the last entry is {last_seq} "
            f"({last_hash[:12]}): entries were removed from the end or the head was altered",
            min(head_seq, last_seq) + 1 if head_seq != last_seq else last_seq,
        )
    if keys and head_seq > 0 and not mac_ok(keys, head_message(head_seq, head_hash), head_mac):
        return Judgement(
            "the head's HMAC does not match: the chain was recomputed without the key "
            "(or the key is wrong)",
            head_seq,
        )
    return None


def judge(state: AnchorState, keys: Sequence[bytes]) -> Judgement:
    """Do the head, the audit copy and the catalog anchor agree? (See the module table.)"""
    head_seq = state.head[0]

    def bad(reason: str, seq: int | None = None) -> Judgement:
        return Judgement(reason, seq)

    verdict = judge_head(state.head, state.last, keys)
    if verdict is not None:
        return verdict
    copy = state.copy
    if copy is not None and not copy.authentic(keys):
        return bad("the audit log's copy of the catalog anchor fails its HMAC (forged)")
    if state.catalog_before is None and state.catalog_after is None:
        if copy is not None:
            if copy.seq == head_seq:  # an anchoring interrupted between its two writes
                return Judgement(todo="anchor")
            return bad(
                f"the catalog's anchor of the audit log is missing, although the audit log "
                f"recorded it at entry {copy.seq}: it was removed from catalog.db, or "
                "catalog.db was replaced"
            )
        if head_seq == 0:
            if state.holds_records():
                return bad(
                    "the audit log is empty (audit.db deleted or wiped?) and the catalog has "
                    "no anchor, but the catalog holds sources, photos or a template key: "
                    "refusing to start a new chain"
                )
            return Judgement(todo="genesis", anchored_seq=0)
        return Judgement(todo="adopt", anchored_seq=head_seq)
    try:
        before = Anchor.parse(state.catalog_before or state.catalog_after or "")
        after = Anchor.parse(state.catalog_after or state.catalog_before or "")
    except ValueError:
        return bad("the catalog's anchor of the audit log is malformed (edited)")
    for anchor in (before, after):
        if not anchor.authentic(keys) or anchor.count != anchor.seq:
            return bad(
                "the catalog's anchor of the audit log fails its HMAC: it was edited or "
                "written without the key"
            )
    if head_seq < before.seq:
        if head_seq == 0:
            return bad(
                f"the audit log is empty or missing (audit.db deleted or wiped), but the "
                f"catalog anchors {before.seq} entries (head {before.seq}:{before.hash[:12]})",
                1,
            )
        return bad(
            f"the audit log ends at entry {head_seq} but the catalog anchors {before.seq} "
            "entries: entries were removed from the end, or audit.db was replaced by an "
            "older copy",
            head_seq + 1,
        )
    expected = GENESIS_HASH if before.seq == 0 else state.hash_at(before.seq)
    if expected != before.hash:
        return bad(
            f"entry {before.seq} does not match the catalog's anchor: the log was rewritten "
            "or replaced",
            before.seq,
        )
    if copy is None:
        return bad(
            "the audit log's copy of the catalog anchor is missing (removed from audit.db, "
            "or audit.db replaced)"
        )
    if copy.seq > after.seq:
        return bad(
            f"the catalog's anchor (entry {after.seq}) is older than the audit log's record "
            f"of it (entry {copy.seq}): catalog.db was rolled back to an older copy"
        )
    expected = GENESIS_HASH if copy.seq == 0 else state.hash_at(copy.seq)
    if expected != copy.hash:
        return bad(
            f"entry {copy.seq} does not match the audit log's copy of the catalog anchor: "
            "the log was rewritten",
            copy.seq,
        )
    todo = "repair" if head_seq > before.seq else None
    return Judgement(todo=todo, anchored_seq=before.seq)


# -- the audit copy in audit.db (table ``catalog_anchor``) -------------------------------


def read_copy(tx: AuditTx) -> AuditCopy | None:
    row = tx.copy()
    return AuditCopy(*row) if row else None


def store_copy(tx: AuditTx, copy: AuditCopy) -> None:
    tx.set_copy(copy.seq, copy.hash, copy.mac)


def advance_copy(tx: AuditTx, copy: AuditCopy, new_seq: int) -> None:
    """Inside an append's transaction: advance the copy (never backwards, and only to an
    entry that is there with that hash)."""
    if copy.seq >= new_seq:
        return
    current = read_copy(tx)
    if current is not None and current.seq >= copy.seq:
        return
    if copy.seq > 0:
        if tx.hash_of(copy.seq) != copy.hash:
            return
    store_copy(tx, copy)


def catalog_copy(anchors: AnchorStore | None, keys: Sequence[bytes]) -> AuditCopy | None:
    """The catalog anchor now, as a copy to keep in the log (None if untrustworthy)."""
    if anchors is None:
        return None
    try:
        text = anchors.audit_anchor()
        anchor = Anchor.parse(text) if text else None
    except (ValueError, sqlite3.Error, StoreError):
        return None
    if anchor is None or not anchor.authentic(keys):
        return None
    return AuditCopy.signed(anchor.seq, anchor.hash, keys)


# -- on open: look at both files, then do what the judgement says -------------------------


def look(log: AuditLog, anchors: AnchorStore) -> AnchorState:
    """Both files as one picture (the catalog read before and after the log)."""
    before = anchors.audit_anchor()
    head, last, copy = log.snapshot()
    after = anchors.audit_anchor()

    def hash_at(seq: int) -> str | None:  # entries never change: read them any time
        found = log.entry(seq)
        return found.hash if found is not None else None

    return AnchorState(head, last, copy, before, after, hash_at, anchors.holds_records)


def settle(log: AuditLog, verdict: Judgement) -> None:
    """Genesis for a new store, adoption for one made before anchors, the second write of
    an interrupted anchoring, or the catalog anchor brought up to the head after a crash."""
    if verdict.todo == "genesis":
        log.write_copy(0, GENESIS_HASH)
        log.write_catalog_anchor(0, GENESIS_HASH, strict=True)
    elif verdict.todo in ("adopt", "anchor"):
        seq, digest = log.head()
        if verdict.todo == "adopt":
            log.write_copy(seq, digest)
        log.write_catalog_anchor(seq, digest, strict=True)
        if verdict.todo == "adopt":
            log.append(
                "audit_anchor", "system", purpose="anchor the audit log in the catalog",
                inputs={"adopted_seq": seq, "adopted_hash": digest},
                outputs={"reason": "a log made before anchors: anchored at its head on "
                         "first open"},
            )
    elif verdict.todo == "repair":  # a crash between an append's two writes
        seq, digest = log.head()
        log.write_catalog_anchor(seq, digest)
