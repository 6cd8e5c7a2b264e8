"""The catalog's tables for named subjects, watches, alerts and the webhook outbox
(migration ``0008_subjects_watches``).

Only storage: rows in, rows out, every template and secret as the caller's sealed blob. The
rules (who may enrol, consent, thresholds, what is audited, webhook checks) live in
:mod:`faceledger.subjects`. Deleting a subject deletes its templates and watches; deleting a
watch deletes its alerts and their deliveries; deleting a face (erasure, retention) deletes
its alerts (``ON DELETE CASCADE``, with ``secure_delete`` on). After each delete the WAL is
checkpointed, so no copy of a deleted template stays in ``catalog.db-wal``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import AlreadyExistsError, ConflictError, NotFoundError

if TYPE_CHECKING:
    from .catalog import Catalog
    from .sql import Row

# what a template is bound to when sealed (the cipher's associated data)
SUBJECT_AAD = b"faceledger:subject:"
WATCH_AAD = b"faceledger:watch:"
WATCH_SECRET_AAD = b"faceledger:watch-secret:"


def subject_aad(subject_id: int) -> bytes:
    return SUBJECT_AAD + str(int(subject_id)).encode()


def watch_aad(watch_id: int) -> bytes:
    return WATCH_AAD + str(int(watch_id)).encode()


def watch_secret_aad(watch_id: int) -> bytes:
    return WATCH_SECRET_AAD + str(int(watch_id)).encode()


@dataclass(frozen=True)
class SubjectRow:
    id: int
    name: str
    source: str
    source_id: int
    consent: str
    pack: str
    created_by: str
    created_at: str
    templates: int
    watches: int


@dataclass(frozen=True)
class WatchRow:
    id: int
    subject_id: int | None
    owner: str  # "operator" or "subject" (a data subject's own, through a subject token)
    label: str
    pack: str
    far: float
    webhook_url: str
    purpose: str
    case_ref: str
    created_by: str
    created_at: str
    expires_at: str
    alerts: int = 0


@dataclass(frozen=True)
class AlertRow:
    id: int
    watch_id: int
    label: str
    face_id: int
    photo_id: int
    photo_uri: str
    source: str
    similarity: float
    created_at: str
    delivery: str  # pending | delivered | failed
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class Delivery:
    """One alert due for its webhook, with what the body and the signature need."""

    alert_id: int
    watch_id: int
    attempts: int
    webhook_url: str
    secret_blob: bytes
    label: str
    face_id: int
    photo_id: int
    source: str
    similarity: float
    far: float
    created_at: str


_SUBJECTS = (
    "SELECT s.id, s.name, src.name AS source, s.source_id, s.consent, s.pack, s.created_by, "
    "s.created_at, (SELECT COUNT(*) FROM subject_templates t WHERE t.subject_id = s.id), "
    "(SELECT COUNT(*) FROM watches w WHERE w.subject_id = s.id) "
    "FROM subjects s JOIN sources src ON src.id = s.source_id"
)
_WATCHES = (
    "SELECT w.id, w.subject_id, w.owner, w.label, w.pack, w.far, w.webhook_url, w.purpose, "
    "w.case_ref, w.created_by, w.created_at, w.expires_at, "
    "(SELECT COUNT(*) FROM alerts a WHERE a.watch_id = w.id) FROM watches w"
)


def _subject(r: Row) -> SubjectRow:
    return SubjectRow(int(r[0]), r[1], r[2], int(r[3]), r[4], r[5], r[6], r[7], int(r[8]),
                      int(r[9]))


def _watch(r: Row) -> WatchRow:
    return WatchRow(int(r[0]), None if r[1] is None else int(r[1]), r[2], r[3], r[4],
                    float(r[5]), r[6], r[7], r[8], r[9], r[10], r[11], int(r[12]))


class SubjectTables:
    """Reads and writes of the subjects tables over the catalog's one writer connection."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- subjects ------------------------------------------------------------------------
    def add_subject(
        self, name: str, source_id: int, consent: str, pack: str, created_by: str,
        created_at: str, seal: Callable[[int], list[tuple[str, bytes]]],
    ) -> int:
        """Insert a subject and its templates in one transaction; ``seal(subject_id)``
        returns each template as (photo SHA-256, sealed blob)."""
        try:
            with self.catalog.write() as conn:
                subject_id = conn.insert(
                    "INSERT INTO subjects (name, source_id, consent, pack, created_by, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (name, int(source_id), consent, pack, created_by, created_at))
                for sha, blob in seal(subject_id):
                    conn.execute(
                        "INSERT INTO subject_templates (subject_id, photo_sha256, template) "
                        "VALUES (?, ?, ?)", (subject_id, sha, blob))
        except ConflictError as exc:
            raise AlreadyExistsError(
                f"a subject named {name!r} exists already in that source") from exc
        return subject_id

    def subjects(self) -> list[SubjectRow]:
        return [_subject(r) for r in self.catalog.query(_SUBJECTS + " ORDER BY s.name, s.id")]

    def subject(self, subject_id: int) -> SubjectRow:
        rows = self.catalog.query(_SUBJECTS + " WHERE s.id = ?", (int(subject_id),))
        if not rows:
            raise NotFoundError(f"no subject {subject_id}")
        return _subject(rows[0])

    def templates(self, pack: str) -> list[tuple[int, int, bytes]]:
        """(subject id, template id, sealed template) of every subject enrolled with ``pack``."""
        rows = self.catalog.query(
            "SELECT t.subject_id, t.id, t.template FROM subject_templates t "
            "JOIN subjects s ON s.id = t.subject_id WHERE s.pack = ? ORDER BY t.id", (pack,))
        return [(int(r[0]), int(r[1]), bytes(r[2])) for r in rows]

    def template_ids(self, pack: str) -> list[tuple[int, int]]:
        """(subject id, template id) of every template of ``pack``, in id order."""
        rows = self.catalog.query(
            "SELECT t.subject_id, t.id FROM subject_templates t "
            "JOIN subjects s ON s.id = t.subject_id WHERE s.pack = ? ORDER BY t.id", (pack,))
        return [(int(r[0]), int(r[1])) for r in rows]

    def sealed(self, kind: str, ids: list[int]) -> dict[int, bytes]:
        """Sealed templates by id: ``kind`` "subject" (template ids) or "watch" (watch ids)."""
        table = {"subject": "subject_templates", "watch": "watches"}[kind]
        out: dict[int, bytes] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start:start + 500]]
            marks = ",".join("?" * len(chunk))
            out.update((int(r[0]), bytes(r[1])) for r in self.catalog.query(
                f"SELECT id, template FROM {table} WHERE id IN ({marks})", tuple(chunk)))
        return out

    def active_watch_ids(self, pack: str, now: str) -> list[tuple[int, float]]:
        """(watch id, FAR) of the watches of ``pack`` not expired at ``now``."""
        rows = self.catalog.query(
            "SELECT id, far FROM watches WHERE pack = ? AND expires_at > ? ORDER BY id",
            (pack, now))
        return [(int(r[0]), float(r[1])) for r in rows]

    def template_photo_hashes(self, subject_id: int) -> list[str]:
        rows = self.catalog.query(
            "SELECT photo_sha256 FROM subject_templates WHERE subject_id = ? ORDER BY id",
            (int(subject_id),))
        return [r[0] for r in rows]

    def delete_subject(self, subject_id: int) -> dict[str, int]:
        """Delete a subject with its templates, watches, alerts and deliveries; counts."""
        with self.catalog.write() as conn:
            sid = int(subject_id)
            if conn.execute("SELECT 1 FROM subjects WHERE id = ?", (sid,)).fetchone() is None:
                raise NotFoundError(f"no subject {subject_id}")
            counts = {
                "templates": conn.execute("SELECT COUNT(*) FROM subject_templates "
                                          "WHERE subject_id = ?", (sid,)).fetchone()[0],
                "watches": conn.execute("SELECT COUNT(*) FROM watches WHERE subject_id = ?",
                                        (sid,)).fetchone()[0],
            }
            conn.execute("DELETE FROM subjects WHERE id = ?", (sid,))
        self.checkpoint()
        return {k: int(v) for k, v in counts.items()}

    # -- watches -------------------------------------------------------------------------
    def add_watch(
        self, subject_id: int | None, owner: str, label: str, pack: str, far: float,
        webhook_url: str, withdraw_sha256: str | None, purpose: str, case_ref: str,
        created_by: str, created_at: str, expires_at: str,
        seal: Callable[[int], tuple[bytes, bytes]],
    ) -> int:
        """Insert a watch; ``seal(watch_id)`` returns (sealed template, sealed secret)."""
        with self.catalog.write() as conn:
            watch_id = conn.insert(
                "INSERT INTO watches (subject_id, owner, label, pack, template, far, "
                "webhook_url, webhook_secret, withdraw_sha256, purpose, case_ref, created_by, "
                "created_at, expires_at) VALUES (?, ?, ?, ?, x'', ?, ?, x'', ?, ?, ?, ?, ?, ?)",
                (subject_id, owner, label, pack, float(far), webhook_url, withdraw_sha256,
                 purpose, case_ref, created_by, created_at, expires_at))
            template, secret = seal(watch_id)
            conn.execute("UPDATE watches SET template = ?, webhook_secret = ? WHERE id = ?",
                         (template, secret, watch_id))
        return watch_id

    def watches(self, active_at: str | None = None) -> list[WatchRow]:
        if active_at is None:
            rows = self.catalog.query(_WATCHES + " ORDER BY w.id")
        else:
            rows = self.catalog.query(_WATCHES + " WHERE w.expires_at > ? ORDER BY w.id",
                                      (active_at,))
        return [_watch(r) for r in rows]

    def watch(self, watch_id: int) -> WatchRow:
        rows = self.catalog.query(_WATCHES + " WHERE w.id = ?", (int(watch_id),))
        if not rows:
            raise NotFoundError(f"no watch {watch_id}")
        return _watch(rows[0])

    def withdraw_hash(self, watch_id: int) -> str | None:
        rows = self.catalog.query("SELECT withdraw_sha256 FROM watches WHERE id = ?",
                                  (int(watch_id),))
        if not rows:
            raise NotFoundError(f"no watch {watch_id}")
        return rows[0][0]

    def active_templates(self, pack: str, now: str) -> list[tuple[int, float, bytes]]:
        """(watch id, FAR, sealed template) of the watches of ``pack`` not expired at ``now``."""
        rows = self.catalog.query(
            "SELECT id, far, template FROM watches WHERE pack = ? AND expires_at > ? "
            "ORDER BY id", (pack, now))
        return [(int(r[0]), float(r[1]), bytes(r[2])) for r in rows]

    def delete_watches(self, watch_ids: Iterable[int]) -> list[int]:
        """Delete watches (their templates, secrets, alerts and deliveries); the ids deleted."""
        ids = sorted({int(i) for i in watch_ids})
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        with self.catalog.write() as conn:
            found = [int(r[0]) for r in conn.execute(
                f"SELECT id FROM watches WHERE id IN ({marks})", tuple(ids))]
            conn.execute(f"DELETE FROM watches WHERE id IN ({marks})", tuple(ids))
        self.checkpoint()
        return found

    def expired_watch_ids(self, now: str) -> list[int]:
        rows = self.catalog.query("SELECT id FROM watches WHERE expires_at <= ? ORDER BY id",
                                  (now,))
        return [int(r[0]) for r in rows]

    # -- alerts and their deliveries -----------------------------------------------------
    def add_alerts(self, alerts: list[tuple[int, int, float]], created_at: str,
                   due_at: float) -> list[int]:
        """Insert (watch id, face id, similarity) alerts and their pending deliveries, in
        one transaction; an alert already raised for that watch and face is skipped. The
        new alerts' ids."""
        made: list[int] = []
        if not alerts:
            return made
        with self.catalog.write() as conn:
            for watch_id, face_id, similarity in alerts:
                row = conn.execute("SELECT photo_id FROM faces WHERE id = ?",
                                   (int(face_id),)).fetchone()
                if row is None:  # erased before the alert could be written
                    continue
                if conn.execute("SELECT 1 FROM alerts WHERE watch_id = ? AND face_id = ?",
                                (int(watch_id), int(face_id))).fetchone():
                    continue  # raised already (one alert per watch and face)
                alert_id = conn.insert(
                    "INSERT INTO alerts (watch_id, face_id, photo_id, similarity, "
                    "created_at) VALUES (?, ?, ?, ?, ?)",
                    (int(watch_id), int(face_id), int(row[0]), float(similarity), created_at))
                conn.execute("INSERT INTO webhook_outbox (alert_id, state, next_attempt_at) "
                             "VALUES (?, 'pending', ?)", (alert_id, float(due_at)))
                made.append(alert_id)
        return made

    def alerts(self, limit: int = 200, watch_id: int | None = None) -> list[AlertRow]:
        sql = ("SELECT a.id, a.watch_id, w.label, a.face_id, a.photo_id, p.uri, s.name, "
               "a.similarity, a.created_at, o.state, o.attempts, o.last_error FROM alerts a "
               "JOIN watches w ON w.id = a.watch_id JOIN photos p ON p.id = a.photo_id "
               "JOIN sources s ON s.id = p.source_id "
               "LEFT JOIN webhook_outbox o ON o.alert_id = a.id")
        params: tuple = ()
        if watch_id is not None:
            sql += " WHERE a.watch_id = ?"
            params = (int(watch_id),)
        rows = self.catalog.query(sql + " ORDER BY a.id DESC LIMIT ?", (*params, int(limit)))
        return [AlertRow(int(r[0]), int(r[1]), r[2], int(r[3]), int(r[4]), r[5], r[6],
                         float(r[7]), r[8], r[9] or "pending", int(r[10] or 0), r[11])
                for r in rows]

    def due_deliveries(self, now: float, limit: int = 50) -> list[Delivery]:
        rows = self.catalog.query(
            "SELECT o.alert_id, a.watch_id, o.attempts, w.webhook_url, w.webhook_secret, "
            "w.label, a.face_id, a.photo_id, s.name, a.similarity, w.far, a.created_at "
            "FROM webhook_outbox o JOIN alerts a ON a.id = o.alert_id "
            "JOIN watches w ON w.id = a.watch_id JOIN photos p ON p.id = a.photo_id "
            "JOIN sources s ON s.id = p.source_id "
            "WHERE o.state = 'pending' AND o.next_attempt_at <= ? "
            "ORDER BY o.next_attempt_at, o.alert_id LIMIT ?", (float(now), int(limit)))
        return [Delivery(int(r[0]), int(r[1]), int(r[2]), r[3], bytes(r[4]), r[5], int(r[6]),
                         int(r[7]), r[8], float(r[9]), float(r[10]), r[11]) for r in rows]

    def next_due(self) -> float | None:
        rows = self.catalog.query(
            "SELECT MIN(next_attempt_at) FROM webhook_outbox WHERE state = 'pending'")
        return None if rows[0][0] is None else float(rows[0][0])

    def mark_delivery(self, alert_id: int, state: str, attempts: int,
                      next_attempt_at: float, error: str | None,
                      delivered_at: str | None = None) -> None:
        with self.catalog.write() as conn:
            conn.execute(
                "UPDATE webhook_outbox SET state = ?, attempts = ?, next_attempt_at = ?, "
                "last_error = ?, delivered_at = ? WHERE alert_id = ?",
                (state, int(attempts), float(next_attempt_at), error, delivered_at,
                 int(alert_id)))

    # -- key rotation ------------------------------------------------------------------
    def rewrite_sealed(self, reseal: Callable[[bytes, bytes], bytes | None]) -> int:
        """Re-seal every template and webhook secret in one transaction: ``reseal(blob,
        aad)`` returns the new blob, or None to keep it. The number rewritten."""
        changed = 0
        with self.catalog.write() as conn:
            for tid, sid, blob in conn.execute(
                    "SELECT id, subject_id, template FROM subject_templates").fetchall():
                new = reseal(bytes(blob), subject_aad(sid))
                if new is not None:
                    conn.execute("UPDATE subject_templates SET template = ? WHERE id = ?",
                                 (new, int(tid)))
                    changed += 1
            for wid, template, secret in conn.execute(
                    "SELECT id, template, webhook_secret FROM watches").fetchall():
                new_t = reseal(bytes(template), watch_aad(wid))
                new_s = reseal(bytes(secret), watch_secret_aad(wid))
                if new_t is not None or new_s is not None:
                    conn.execute(
                        "UPDATE watches SET template = ?, webhook_secret = ? WHERE id = ?",
                        (new_t if new_t is not None else bytes(template),
                         new_s if new_s is not None else bytes(secret), int(wid)))
                    changed += 1
        if changed:
            self.checkpoint()
        return changed

    def checkpoint(self) -> None:
        """Move the WAL into the database and truncate it (no old page left in the WAL)."""
        self.catalog.scrub()
