"""The ``rights_requests`` table of the catalog (migration ``0005_rights_requests``).

Only storage: rows in, rows out. The rules (states, deadlines, what is audited) live in
:mod:`faceledger.privacy.requests`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from ..errors import AlreadyExistsError, ConflictError, NotFoundError

if TYPE_CHECKING:
    from .catalog import Catalog
    from .sql import Row


@dataclass(frozen=True)
class RequestRow:
    """One rights request as stored. Times are ISO 8601 strings in UTC."""

    id: str
    kind: str
    subject: str
    channel: str
    received_at: str
    due_at: str
    state: str
    opened_by: str
    updated_at: str
    extended_due_at: str | None = None
    extension_reason: str | None = None
    identity_checked_by: str | None = None
    identity_method: str | None = None
    reference_sha256: str | None = None
    identity_checked_at: str | None = None
    token_id: str | None = None
    completed_at: str | None = None
    outcome: str | None = None
    erase_seq: int | None = None
    receipt: str | None = None


COLUMNS = tuple(f.name for f in fields(RequestRow))


def _row(r: Row) -> RequestRow:
    return RequestRow(**{c: r[c] for c in COLUMNS})


class RequestsTable:
    """Reads and writes of ``rights_requests`` over the catalog's one writer connection."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def insert(self, row: RequestRow) -> None:
        marks = ",".join("?" * len(COLUMNS))
        try:
            with self.catalog.write() as tx:
                tx.execute(f"INSERT INTO rights_requests ({', '.join(COLUMNS)}) "
                             f"VALUES ({marks})", tuple(getattr(row, c) for c in COLUMNS))
        except ConflictError as exc:
            raise AlreadyExistsError(f"a rights request {row.id!r} exists already") from exc

    def update(self, request_id: str, expect_state: tuple[str, ...], **changes: Any) -> bool:
        """Change one request if its state is still one of ``expect_state`` (so that two
        closes cannot both succeed); returns whether it changed."""
        bad = set(changes) - set(COLUMNS)
        if bad:
            raise ValueError(f"unknown request columns {sorted(bad)}")
        sets = ", ".join(f"{c} = ?" for c in changes)
        states = ",".join("?" * len(expect_state))
        with self.catalog.write() as tx:
            cur = tx.execute(
                f"UPDATE rights_requests SET {sets} WHERE id = ? AND state IN ({states})",
                (*changes.values(), request_id, *expect_state),
            )
            return cur.rowcount == 1

    def get(self, request_id: str) -> RequestRow:
        rows = self.catalog.query("SELECT * FROM rights_requests WHERE id = ?", (request_id,))
        if not rows:
            raise NotFoundError(f"no rights request {request_id!r}")
        return _row(rows[0])

    def by_token(self, token_id: str) -> RequestRow | None:
        rows = self.catalog.query("SELECT * FROM rights_requests WHERE token_id = ?",
                                  (token_id,))
        return _row(rows[0]) if rows else None

    def list(self, received_from: str | None = None, received_to: str | None = None,
             states: tuple[str, ...] | None = None) -> list[RequestRow]:
        sql, params = "SELECT * FROM rights_requests WHERE 1 = 1", []
        if received_from:
            sql += " AND received_at >= ?"
            params.append(received_from)
        if received_to:
            sql += " AND received_at < ?"
            params.append(received_to)
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            params += list(states)
        rows = self.catalog.query(sql + " ORDER BY received_at, id", tuple(params))
        return [_row(r) for r in rows]
