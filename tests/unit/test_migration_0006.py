"""Migration 0006 on a store made before it: an existing catalog (every other migration
applied, as main's stores were) gains the pose and sharpness columns when it opens, its faces
keep their quality and read no pose, and new faces store theirs."""

from __future__ import annotations

import sqlite3

from faceledger.store.catalog import Catalog
from faceledger.store.migrations import MIGRATIONS
from faceledger.store.sql import SQLiteDB
from tests.unit.test_catalog_contract import PACK, setup_source

NAME = "0006_face_pose_quality"


def _old_store(path) -> None:
    """A catalog with every migration but 0006, holding one face."""
    old = Catalog(SQLiteDB(path, migrations=[m for m in MIGRATIONS if m[0] != NAME]))
    source_id, run_id = setup_source(old)
    with old.write() as tx:
        photo = old.insert_photo(tx, source_id, run_id, "file:///old.jpg", "ok")
        tx.insert(
            "INSERT INTO faces (photo_id, run_id, box_x, box_y, box_w, box_h, landmarks,"
            " detector_score, quality, pack, embedding, created_at)"
            " VALUES (?, ?, 0, 0, 80, 80, '[]', 0.9, 0.77, ?, ?, '2026-12-01T00:00:00+00:00')",
            (photo, run_id, PACK, b"o" * 16))
    old.close()


def test_an_old_catalog_gains_the_columns_and_keeps_its_faces(tmp_path):
    path = tmp_path / "catalog.db"
    _old_store(path)
    conn = sqlite3.connect(path)
    assert "yaw" not in {r[1] for r in conn.execute("PRAGMA table_info(faces)")}
    conn.close()

    cat = Catalog(path)  # opening applies the pending migration
    try:
        cols = {r[1] for r in cat.query("PRAGMA table_info(faces)")}
        assert {"yaw", "pitch", "sharpness"} <= cols
        assert cat.query("SELECT 1 FROM _migrations WHERE name = ?", (NAME,))
        (old_id,) = [int(r[0]) for r in cat.query("SELECT id FROM faces")]
        old = cat.faces([old_id])[old_id]
        assert old.quality == 0.77 and (old.yaw, old.pitch, old.sharpness) == (None,) * 3
        source_id, run_id = setup_source(cat, name="later")
        with cat.write() as tx:
            photo = cat.insert_photo(tx, source_id, run_id, "file:///new.jpg", "ok")
            new_id = cat.insert_face(tx, photo, run_id, [0, 0, 80, 80], [[0, 0]] * 5, 0.9,
                                     0.5, PACK, b"n" * 16, yaw=12.0, pitch=-3.0, sharpness=0.9)
        assert cat.faces([new_id])[new_id].yaw == 12.0
    finally:
        cat.close()
    # a second opening applies nothing again
    again = Catalog(path)
    try:
        assert len(again.query("SELECT 1 FROM _migrations WHERE name = ?", (NAME,))) == 1
    finally:
        again.close()
