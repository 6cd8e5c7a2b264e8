"""Exported copies of the audit log: JSON lines, then a trailer signed with the store key.

The trailer is the last line::

    {"trailer": "faceledger-audit-export/1", "since_seq": 0, "start_prev_hash": "00..",
     "count": 1234, "last_seq": 1234, "last_hash": "3f5a..", "exported_at": "...",
     "mac": "<HMAC-SHA256 under the store key>"}

A copy cut short has no trailer (or one whose count and last hash disagree with the lines
above it); a trailer forged to fit a cut copy fails its HMAC when the copy is verified with
the store key. Without the key the trailer is still checked for consistency, and the
result says that it was not authenticated.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import IO, Any

from .audit_chain import (
    GENESIS_HASH,
    AuditEntry,
    AuditVerification,
    canonical_json,
    mac,
    mac_ok,
    verify_rows,
)

TRAILER = "faceledger-audit-export/1"


def _trailer_message(trailer: dict[str, Any]) -> str:
    return "export:" + canonical_json({k: v for k, v in trailer.items() if k != "mac"})


def write_export(
    fh: IO[str],
    entries: Iterable[AuditEntry],
    since_seq: int,
    start_prev: str,
    keys: Sequence[bytes],
) -> int:
    count, last_seq, last_hash = 0, since_seq, start_prev
    for entry in entries:
        fh.write(entry.to_json() + "\n")
        count += 1
        last_seq, last_hash = entry.seq, entry.hash
    trailer: dict[str, Any] = {
        "trailer": TRAILER,
        "since_seq": int(since_seq),
        "start_prev_hash": start_prev,
        "count": count,
        "last_seq": last_seq,
        "last_hash": last_hash,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    trailer["mac"] = mac(keys[0], _trailer_message(trailer)) if keys else None
    fh.write(canonical_json(trailer) + "\n")
    return count


def verify_jsonl(
    fh: IO[str],
    anchor: tuple[int, str] | None = None,
    keys: Sequence[bytes] | None = None,
) -> AuditVerification:
    """Verify an exported copy (the output of :meth:`AuditLog.export_jsonl`): the chain,
    the trailer (present, last, consistent; its HMAC when ``keys`` are given) and, with
    ``anchor``, that the copy still holds that entry with that hash."""
    try:
        lines = [line.strip() for line in fh]
        lines = [line for line in lines if line]
        objects = [json.loads(line) for line in lines]
    except (TypeError, ValueError) as exc:
        return AuditVerification(False, 0, None, f"not an audit export: {exc}")
    trailers = [i for i, o in enumerate(objects) if isinstance(o, dict) and "trailer" in o]
    if not trailers or trailers[-1] != len(objects) - 1:
        return AuditVerification(
            False, len(objects), None,
            "the export has no trailer as its last line: it was cut short (or was not made "
            "by `faceledger audit export`)",
        )
    if len(trailers) > 1:
        return AuditVerification(
            False, len(objects), None, "the export holds more than one trailer (spliced)"
        )
    trailer = objects[-1]
    body = objects[:-1]
    try:
        since = int(trailer["since_seq"])
        start_prev = str(trailer["start_prev_hash"])
        count, last_seq, last_hash = (
            int(trailer["count"]), int(trailer["last_seq"]), str(trailer["last_hash"])
        )
        if trailer["trailer"] != TRAILER:
            raise ValueError(f"unknown trailer {trailer['trailer']!r}")
    except (KeyError, TypeError, ValueError) as exc:
        return AuditVerification(
            False, len(body), None, f"the export's trailer is malformed: {exc}"
        )
    if anchor is not None and 0 < anchor[0] < since:
        return AuditVerification(
            False, len(body), None,
            f"the anchored entry {anchor[0]} comes before this export's first entry "
            f"({since + 1}): export with --since {anchor[0] - 1} or less to check it",
        )
    authenticated = False
    if keys:
        if not mac_ok(keys, _trailer_message(trailer), trailer.get("mac")):
            return AuditVerification(
                False, len(body), None,
                "the export's trailer fails its HMAC under this store's key: the export was "
                "altered (cut and re-signed without the key), or it is another store's",
                trailer_authenticated=False,
            )
        authenticated = True

    def rows() -> Iterator[tuple[int, str, str, str]]:
        for data in body:
            if not isinstance(data, dict):
                raise ValueError("a line is not a JSON object")
            data = dict(data)
            digest = data.pop("hash", "")
            yield int(data.get("seq", 0)), canonical_json(data), data.get("prev_hash", ""), digest

    intents: list[int] = []
    try:
        result = verify_rows(
            rows(), anchor=anchor, start_seq=since + 1, start_prev=start_prev, intents=intents
        )
    except (TypeError, ValueError) as exc:
        return AuditVerification(False, 0, None, f"not an audit export: {exc}")
    head = {"head_seq": last_seq, "head_hash": last_hash}
    if not result.ok:
        return AuditVerification(
            False, result.entries, result.first_bad_seq, result.reason,
            trailer_authenticated=authenticated, **head,
        )
    got_last = (since + len(body), body[-1].get("hash")) if body else (since, start_prev)
    if len(body) != count or got_last != (last_seq, last_hash):
        return AuditVerification(
            False, len(body), got_last[0] + 1,
            f"the export holds {len(body)} entries ending at {got_last[0]}, but its trailer "
            f"says {count} ending at {last_seq}: lines were cut or added",
            trailer_authenticated=authenticated, **head,
        )
    if since == 0 and start_prev != GENESIS_HASH:
        return AuditVerification(
            False, len(body), 1, "an export from the start must link to the genesis hash",
            trailer_authenticated=authenticated, **head,
        )
    return AuditVerification(
        True, len(body), None, "", head_sealed=bool(authenticated), open_intents=intents,
        trailer_authenticated=authenticated, **head,
    )
