"""The audit log's hash chain as data: entries, canonical JSON, hashes, MACs, and the walk
that checks a sequence of entries (shared by the SQLite log and by exported copies).

Each entry's ``hash`` is ``sha256(prev_hash + "\\n" + canonical JSON of the entry)``, where
the entry includes its own ``seq`` and the previous entry's hash.

Intents: a state change that spans more than one file (an erasure, an ingest run) is
written as an entry whose action ends in ``_intent`` before anything changes, and a second
entry after it is done whose ``inputs.intent_seq`` names the intent. An intent that no later
entry completes is an action that was interrupted (or is still running).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

GENESIS_HASH = "0" * 64
INTENT_SUFFIX = "_intent"


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    action: str
    actor: str
    purpose: str | None
    case: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS_HASH
    hash: str = ""

    def body(self) -> dict[str, Any]:
        """The hashed part: everything but ``hash`` itself."""
        data = asdict(self)
        data.pop("hash")
        return data

    def to_json(self) -> str:
        return canonical_json(asdict(self))

    @property
    def is_intent(self) -> bool:
        return self.action.endswith(INTENT_SUFFIX)

    @property
    def completes(self) -> int | None:
        """The seq of the intent this entry completes, if any."""
        value = self.inputs.get("intent_seq")
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class AuditVerification:
    """What :meth:`AuditLog.verify` (or :func:`verify_jsonl`) found.

    ``ok`` is about integrity: the chain, the head, the anchors, an export's trailer.
    ``open_intents`` lists intents with no completion (interrupted, or still running);
    ``unanchored`` counts entries after the catalog's anchor (a crash between the two
    writes of an append leaves one; the next append or open repairs it)."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    head_sealed: bool = False
    anchored_seq: int | None = None
    unanchored: int = 0
    open_intents: list[int] = field(default_factory=list)
    trailer_authenticated: bool | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.floating):
            raise TypeError("refusing to write a float array (a template?) to the audit log")
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError("refusing to write raw bytes (a probe?) to the audit log; hash them")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return sorted(value) if isinstance(value, (set, frozenset)) else list(value)
    raise TypeError(f"cannot write a {type(value).__name__} to the audit log")


def canonical_json(data: Any) -> str:
    """Sorted keys, no spaces, no NaN: the same entry always gives the same bytes."""
    return json.dumps(
        data,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_jsonable,
    )


def entry_hash(body: dict[str, Any]) -> str:
    payload = (body["prev_hash"] + "\n" + canonical_json(body)).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()


def sha256_hex(data: bytes) -> str:
    """The hash to record for a probe: the audit log keeps this, never the bytes."""
    return hashlib.sha256(data).hexdigest()


def entry_from(body: str, digest: str) -> AuditEntry:
    data = json.loads(body)
    return AuditEntry(**{**data, "hash": digest})


# -- MACs under the store key ------------------------------------------------------------
# Each kind of record has its own message prefix, so that one can never stand for another.
# The head's message ("<seq>:<hash>") predates the others and starts with a digit.


def keys_tuple(key: bytes | Sequence[bytes] | None) -> tuple[bytes, ...]:
    if key is None:
        return ()
    if isinstance(key, (bytes, bytearray)):
        return (bytes(key),)
    return tuple(bytes(k) for k in key)


def mac(key: bytes, message: str) -> str:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def mac_ok(keys: Sequence[bytes], message: str, value: object) -> bool:
    """True when ``value`` is the MAC of ``message`` under any of ``keys``."""
    if not isinstance(value, str):
        return False
    return any(hmac.compare_digest(value, mac(k, message)) for k in keys)


def head_message(seq: int, digest: str) -> str:
    return f"{seq}:{digest}"


# -- walking a chain ---------------------------------------------------------------------


def open_intents(entries: Iterable[AuditEntry]) -> list[int]:
    """Seqs of the intents that no later entry completes."""
    pending: dict[int, None] = {}
    for entry in entries:
        if entry.is_intent:
            pending[entry.seq] = None
        done = entry.completes
        if done is not None:
            pending.pop(done, None)
    return list(pending)


def verify_rows(
    rows: Iterable[tuple[int, str, str, str]],
    anchor: tuple[int, str] | None = None,
    start_seq: int = 1,
    start_prev: str = GENESIS_HASH,
    intents: list[int] | None = None,
) -> AuditVerification:
    """Check a sequence of ``(seq, body_json, prev_hash, hash)`` that starts at
    ``start_seq`` and links to ``start_prev``. ``anchor`` (seq, hash) must be met on the
    way (or be the entry just before the start). Open intents go into ``intents``."""
    expected_prev = start_prev
    expected_seq = start_seq
    count = 0
    anchor_seen = anchor is None or anchor[0] == 0
    if anchor is not None and anchor[0] == start_seq - 1 and anchor[0] > 0:
        if anchor[1] != start_prev:
            return AuditVerification(
                False, 0, anchor[0], f"entry {anchor[0]} does not match the anchor hash"
            )
        anchor_seen = True
    pending: dict[int, None] = {}
    for seq, body, prev_hash, digest in rows:
        count += 1
        if seq != expected_seq:
            what = "missing (deleted)" if seq > expected_seq else "out of order"
            return AuditVerification(
                False, count, expected_seq, f"entry {expected_seq} is {what}; found {seq}"
            )
        try:
            data = json.loads(body)
        except (TypeError, ValueError):
            return AuditVerification(False, count, seq, f"entry {seq} is not valid JSON")
        if not isinstance(data, dict) or data.get("seq") != seq:
            return AuditVerification(
                False,
                count,
                seq,
                f"entry {seq} holds the body of entry "
                f"{data.get('seq') if isinstance(data, dict) else '?'}"
                " (reordered or edited)",
            )
        if data.get("prev_hash") != prev_hash or prev_hash != expected_prev:
            return AuditVerification(
                False,
                count,
                seq,
                f"entry {seq} does not link to entry {seq - 1} (deleted, inserted or reordered)",
            )
        try:
            recomputed = entry_hash(data)
        except (KeyError, TypeError, ValueError):
            return AuditVerification(False, count, seq, f"entry {seq} is malformed")
        if recomputed != digest:
            return AuditVerification(False, count, seq, f"entry {seq} was edited (hash mismatch)")
        if anchor is not None and seq == anchor[0]:
            if digest != anchor[1]:
                return AuditVerification(
                    False, count, seq, f"entry {seq} does not match the anchor hash"
                )
            anchor_seen = True
        action = data.get("action")
        if isinstance(action, str) and action.endswith(INTENT_SUFFIX):
            pending[seq] = None
        inputs = data.get("inputs")
        done = inputs.get("intent_seq") if isinstance(inputs, dict) else None
        if isinstance(done, int) and not isinstance(done, bool):
            pending.pop(done, None)
        expected_prev = digest
        expected_seq += 1
    if not anchor_seen:
        assert anchor is not None
        return AuditVerification(
            False,
            count,
            expected_seq,
            f"the anchored entry {anchor[0]} is gone (the log ends at entry "
            f"{expected_seq - 1}: truncated, or rolled back to an older copy)",
        )
    if intents is not None:
        intents.extend(pending)
    return AuditVerification(True, count)
