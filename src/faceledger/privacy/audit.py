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

What it cannot detect on its own: someone with write access to the file who recomputes
every hash after their edit and rewrites the head to match, or who replaces the whole file
with an older copy. Two defences close most of that gap and are both offered here:

* ``head_key``: with a secret key (the store derives one from its template key, which is
  kept outside the data dir), the head also carries an HMAC over ``seq:hash``. Recomputing
  the chain then needs the key too.
* :meth:`AuditLog.head`: the operator can copy ``(seq, hash)`` somewhere else (a ticket, a
  second machine) and later pass it to :meth:`verify` as ``anchor``; every entry up to the
  anchor must still hash to it.

The ``entries`` table also carries triggers that refuse ``UPDATE`` and ``DELETE``, so that
no ordinary code path can change history by accident; a deliberate attacker can drop them,
which is what the chain is for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

import numpy as np

from ..errors import IntegrityError, StoreError

GENESIS_HASH = "0" * 64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT
);
CREATE TRIGGER IF NOT EXISTS entries_no_update BEFORE UPDATE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


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


@dataclass(frozen=True)
class AuditVerification:
    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str = ""
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    head_sealed: bool = False


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


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class AuditLog:
    """Append-only hash-chained log. One writer connection, ``BEGIN IMMEDIATE`` per append.

    Thread-safe within a process (a lock serialises appends); across processes SQLite's
    write lock orders them, and each append reads the head inside its own transaction.
    """

    def __init__(
        self, path: Path | str, head_key: bytes | Sequence[bytes] | None = None
    ) -> None:
        """``head_key``: one key, or several (the first signs new heads; any of them is
        accepted when verifying, so an interrupted key rotation does not break the log)."""
        self.path = Path(path)
        self._head_keys = _keys(head_key)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                str(self.path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the audit log {self.path}: {exc}") from exc

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
        if not action or not actor:
            raise StoreError("an audit entry needs an action and an actor")
        # fail on unserialisable inputs before taking the write lock
        inputs_c = json.loads(canonical_json(inputs or {}))
        outputs_c = json.loads(canonical_json(outputs or {}))
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    row = conn.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
                    prev_seq, prev_hash = (row[0], row[1]) if row else (0, GENESIS_HASH)
                    last = conn.execute("SELECT MAX(seq) FROM entries").fetchone()[0] or 0
                    if last != prev_seq:
                        raise IntegrityError(
                            f"audit log head names entry {prev_seq} but the last entry is "
                            f"{last}; run `faceledger audit verify`"
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
                    conn.execute(
                        "INSERT INTO entries (seq, body, prev_hash, hash) VALUES (?, ?, ?, ?)",
                        (entry.seq, canonical_json(entry.body()), prev_hash, digest),
                    )
                    conn.execute(
                        "INSERT OR REPLACE INTO head (id, seq, hash, mac) VALUES (1, ?, ?, ?)",
                        (entry.seq, digest, self._mac(entry.seq, digest)),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise StoreError(f"cannot append to the audit log: {exc}") from exc
        return entry

    def reseal(self, head_key: bytes | Sequence[bytes] | None) -> None:
        """Switch the head's HMAC key (after key rotation). Verifies the chain first."""
        result = self.verify()
        if not result.ok:
            raise IntegrityError(f"will not reseal a broken audit log: {result.reason}")
        with self._lock:
            self._head_keys = _keys(head_key)
            if result.entries:
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.execute(
                    "UPDATE head SET mac = ? WHERE id = 1",
                    (self._mac(result.head_seq, result.head_hash),),
                )
                self._conn.execute("COMMIT")

    def _mac(self, seq: int, digest: str, key: bytes | None = None) -> str | None:
        key = key if key is not None else (self._head_keys[0] if self._head_keys else None)
        if key is None:
            return None
        return hmac.new(key, f"{seq}:{digest}".encode(), hashlib.sha256).hexdigest()

    # -- reading -------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the last entry; copy it elsewhere to anchor the log."""
        with self._lock:
            row = self._conn.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
        return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def entries(self, since_seq: int = 0, limit: int | None = None) -> list[AuditEntry]:
        """Entries with ``seq > since_seq`` in order (as stored; :meth:`verify` checks them)."""
        return list(self._iter(since_seq, limit))

    def _iter(self, since_seq: int = 0, limit: int | None = None) -> Iterator[AuditEntry]:
        """Entries in seq order, read in pages under the lock (one connection, many threads)."""
        last, left = since_seq, limit
        while left is None or left > 0:
            page = 5000 if left is None else min(5000, left)
            with self._lock:
                rows = self._conn.execute(
                    "SELECT seq, body, hash FROM entries WHERE seq > ? ORDER BY seq LIMIT ?",
                    (last, page),
                ).fetchall()
            if not rows:
                return
            for _seq, body, digest in rows:
                yield _entry_from(body, digest)
            last = int(rows[-1][0])
            if left is not None:
                left -= len(rows)

    def export_jsonl(self, fh: IO[str], since_seq: int = 0) -> int:
        """Write every entry (with its hashes) as one JSON object per line; returns count."""
        count = 0
        for entry in self._iter(since_seq):
            fh.write(entry.to_json() + "\n")
            count += 1
        return count

    def verify(self, anchor: tuple[int, str] | None = None) -> AuditVerification:
        """Walk the whole chain; the first failure is reported, nothing is repaired."""
        with self._lock:  # entries and head from one read transaction
            self._conn.execute("BEGIN")
            try:
                rows = self._conn.execute(
                    "SELECT seq, body, prev_hash, hash FROM entries ORDER BY seq"
                ).fetchall()
                head_row = self._conn.execute(
                    "SELECT seq, hash, mac FROM head WHERE id = 1"
                ).fetchone()
            finally:
                self._conn.execute("COMMIT")
        head_seq, head_hash, head_mac = head_row if head_row else (0, GENESIS_HASH, None)
        head_info = {"head_seq": int(head_seq), "head_hash": str(head_hash)}

        def bad(seq: int | None, reason: str, n: int) -> AuditVerification:
            return AuditVerification(False, n, seq, reason, **head_info)

        result = verify_rows(((int(r[0]), r[1], r[2], r[3]) for r in rows), anchor=anchor)
        if not result.ok:
            return AuditVerification(
                False, result.entries, result.first_bad_seq, result.reason, **head_info
            )
        last_seq, last_hash = (int(rows[-1][0]), rows[-1][3]) if rows else (0, GENESIS_HASH)
        if (int(head_seq), str(head_hash)) != (last_seq, last_hash):
            return bad(
                min(int(head_seq), last_seq) + 1 if head_seq != last_seq else last_seq,
                f"head names entry {head_seq} ({str(head_hash)[:12]}) but the last entry is "
                f"{last_seq} ({last_hash[:12]}): entries were removed from the end or the "
                "head was altered",
                len(rows),
            )
        sealed = False
        if self._head_keys and rows:
            if head_mac is None or not any(
                hmac.compare_digest(str(head_mac), str(self._mac(last_seq, last_hash, k)))
                for k in self._head_keys
            ):
                return bad(
                    last_seq,
                    "the head's HMAC does not match: the chain was recomputed without the key "
                    "(or the key is wrong)",
                    len(rows),
                )
            sealed = True
        return AuditVerification(True, len(rows), None, "", head_sealed=sealed, **head_info)

    def close(self) -> None:
        with self._lock:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _keys(head_key: bytes | Sequence[bytes] | None) -> tuple[bytes, ...]:
    if head_key is None:
        return ()
    if isinstance(head_key, (bytes, bytearray)):
        return (bytes(head_key),)
    return tuple(bytes(k) for k in head_key)


def _entry_from(body: str, digest: str) -> AuditEntry:
    data = json.loads(body)
    return AuditEntry(**{**data, "hash": digest})


def verify_rows(rows: Any, anchor: tuple[int, str] | None = None) -> AuditVerification:
    """Check a sequence of ``(seq, body_json, prev_hash, hash)``; shared by the SQLite log
    and by :func:`verify_jsonl` for exported copies."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    anchor_seen = anchor is None or anchor[0] == 0
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
        expected_prev = digest
        expected_seq += 1
    if not anchor_seen:
        return AuditVerification(
            False,
            count,
            count + 1,
            f"the anchored entry {anchor[0] if anchor else '?'} is gone (log truncated)",
        )
    return AuditVerification(True, count)


def verify_jsonl(fh: IO[str]) -> AuditVerification:
    """Verify an exported copy (the output of :meth:`AuditLog.export_jsonl`)."""

    def rows() -> Iterator[tuple[int, str, str, str]]:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            data = json.loads(line)
            digest = data.pop("hash", "")
            yield int(data.get("seq", 0)), canonical_json(data), data.get("prev_hash", ""), digest

    try:
        return verify_rows(rows())
    except (TypeError, ValueError) as exc:
        return AuditVerification(False, 0, None, f"not an audit export: {exc}")
