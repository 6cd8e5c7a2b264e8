"""The persons tables (migration 0007_persons): which face belongs to which person, the
persons' names and flags, and "not this person" marks. Every query on them is here.

Nothing derived from a template is stored: no centroid, no cover crop. A person's cover is
its best face by detector quality, cut on demand like any crop."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import NotFoundError
from .catalog import Catalog, utc_now


@dataclass(frozen=True)
class PersonRow:
    id: int
    name: str | None
    hidden: bool
    faces: int
    photos: int
    cover_face_id: int | None
    sources: tuple[str, ...]


class Persons:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- reads ----------------------------------------------------------------------------
    def person_of(self, face_ids: list[int]) -> dict[int, int]:
        rows = self.catalog._ids_in(
            "SELECT face_id, person_id FROM face_person WHERE face_id IN ({})",
            [int(i) for i in face_ids])
        return {int(r[0]): int(r[1]) for r in rows}

    def members(self, person_id: int) -> list[int]:
        rows = self.catalog.query(
            "SELECT face_id FROM face_person WHERE person_id = ? ORDER BY face_id",
            (int(person_id),))
        return [int(r[0]) for r in rows]

    def members_of(self, person_ids: list[int]) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {int(p): [] for p in person_ids}
        for r in self.catalog._ids_in(
                "SELECT person_id, face_id FROM face_person WHERE person_id IN ({}) "
                "ORDER BY face_id", [int(p) for p in person_ids]):
            out[int(r[0])].append(int(r[1]))
        return out

    def assignments(self) -> list[tuple[int, int, bool]]:
        """(face id, person id, locked) of every assigned face."""
        rows = self.catalog.query("SELECT face_id, person_id, locked FROM face_person")
        return [(int(r[0]), int(r[1]), bool(r[2])) for r in rows]

    def rejects(self) -> list[tuple[int, int]]:
        rows = self.catalog.query("SELECT face_id, person_id FROM person_rejects")
        return [(int(r[0]), int(r[1])) for r in rows]

    def rejected_for(self, face_id: int) -> set[int]:
        rows = self.catalog.query("SELECT person_id FROM person_rejects WHERE face_id = ?",
                                  (int(face_id),))
        return {int(r[0]) for r in rows}

    def exists(self, person_id: int) -> bool:
        return bool(self.catalog.query("SELECT 1 FROM persons WHERE id = ?", (int(person_id),)))

    def require(self, person_id: int) -> None:
        if not self.exists(person_id):
            raise NotFoundError(f"no person {person_id}")

    def list(self, include_hidden: bool = False, limit: int = 200, offset: int = 0,
             ids: list[int] | None = None) -> list[PersonRow]:
        where = "" if include_hidden else "WHERE p.hidden = 0"
        params: tuple = ()
        if ids is not None:
            if not ids:
                return []
            marks = ",".join("?" * len(ids))
            where = f"WHERE p.id IN ({marks})"
            params = tuple(int(i) for i in ids)
        # the one aggregate the two dialects spell differently
        names = ("GROUP_CONCAT(DISTINCT s.name)" if self.catalog.db.dialect == "sqlite"
                 else "string_agg(DISTINCT s.name, ',')")
        rows = self.catalog.query(
            "SELECT p.id, p.name, p.hidden, COUNT(fp.face_id) AS n, "
            "COUNT(DISTINCT f.photo_id) AS photos, "
            "(SELECT f2.id FROM face_person fp2 JOIN faces f2 ON f2.id = fp2.face_id "
            " WHERE fp2.person_id = p.id ORDER BY f2.quality DESC, f2.detector_score DESC, "
            " f2.id LIMIT 1) AS cover, "
            f"{names} AS sources "
            "FROM persons p JOIN face_person fp ON fp.person_id = p.id "
            "JOIN faces f ON f.id = fp.face_id JOIN photos ph ON ph.id = f.photo_id "
            f"JOIN sources s ON s.id = ph.source_id {where} "
            "GROUP BY p.id ORDER BY n DESC, p.id LIMIT ? OFFSET ?",
            (*params, int(limit), int(offset)),
        )
        return [PersonRow(int(r["id"]), r["name"], bool(r["hidden"]), int(r["n"]),
                          int(r["photos"]), r["cover"],
                          tuple(sorted((r["sources"] or "").split(",")))) for r in rows]

    def count(self) -> int:
        return int(self.catalog.query("SELECT COUNT(*) FROM persons")[0][0])

    # -- writes ---------------------------------------------------------------------------
    def new_person(self, conn, name: str | None = None) -> int:
        now = utc_now()
        return conn.insert("INSERT INTO persons (name, hidden, created_at, updated_at) "
                           "VALUES (?, 0, ?, ?)", (name, now, now))

    def assign(self, conn, face_ids: list[int], person_id: int, locked: bool = False) -> None:
        conn.executemany(
            "INSERT INTO face_person (face_id, person_id, locked) VALUES (?, ?, ?) "
            "ON CONFLICT(face_id) DO UPDATE SET person_id = excluded.person_id, "
            "locked = CASE WHEN face_person.locked > excluded.locked "
            "THEN face_person.locked ELSE excluded.locked END",
            [(int(f), int(person_id), int(locked)) for f in face_ids])

    def move_person(self, conn, source: int, target: int, locked: bool) -> None:
        conn.execute("UPDATE face_person SET person_id = ?, "
                     "locked = CASE WHEN locked > ? THEN locked ELSE ? END WHERE person_id = ?",
                     (int(target), int(locked), int(locked), int(source)))
        # a face rejected by both keeps one rejection (portable SQL: no UPDATE OR IGNORE)
        conn.execute("DELETE FROM person_rejects WHERE person_id = ? AND face_id IN "
                     "(SELECT face_id FROM person_rejects WHERE person_id = ?)",
                     (int(source), int(target)))
        conn.execute("UPDATE person_rejects SET person_id = ? WHERE person_id = ?",
                     (int(target), int(source)))

    def lock(self, conn, person_id: int) -> None:
        conn.execute("UPDATE face_person SET locked = 1 WHERE person_id = ?", (int(person_id),))

    def reject(self, conn, face_id: int, person_id: int) -> None:
        conn.execute("INSERT INTO person_rejects (face_id, person_id) VALUES (?, ?) "
                     "ON CONFLICT DO NOTHING", (int(face_id), int(person_id)))

    def set_fields(self, conn, person_id: int, **fields: object) -> None:
        for key, value in fields.items():
            assert key in ("name", "hidden")
            conn.execute(f"UPDATE persons SET {key} = ?, updated_at = ? WHERE id = ?",
                         (value, utc_now(), int(person_id)))

    def unassigned_faces(self, pack: str) -> list[int]:
        rows = self.catalog.query(
            "SELECT f.id FROM faces f LEFT JOIN face_person fp ON fp.face_id = f.id "
            "WHERE f.pack = ? AND fp.face_id IS NULL ORDER BY f.id", (pack,))
        return [int(r[0]) for r in rows]

    def clear_unlocked(self, conn) -> None:
        conn.execute("DELETE FROM face_person WHERE locked = 0")

    def assign_free(self, conn, face_ids: list[int], person_id: int) -> None:
        """Place faces no user placed (a locked assignment is never changed)."""
        conn.executemany(
            "INSERT INTO face_person (face_id, person_id, locked) VALUES (?, ?, 0) "
            "ON CONFLICT(face_id) DO UPDATE SET person_id = excluded.person_id "
            "WHERE face_person.locked = 0", [(int(f), int(person_id)) for f in face_ids])

    def unassign(self, conn, face_ids: list[int]) -> None:
        conn.executemany("DELETE FROM face_person WHERE face_id = ?",
                         [(int(f),) for f in face_ids])

    @staticmethod
    def confirmed(conn, person_id: int) -> bool:
        """Has a user confirmed any face of this person (a correction locked it)?"""
        return conn.execute("SELECT 1 FROM face_person WHERE person_id = ? AND locked = 1 "
                            "LIMIT 1", (int(person_id),)).fetchone() is not None
