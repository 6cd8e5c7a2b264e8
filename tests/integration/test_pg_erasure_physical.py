"""Erasure on PostgreSQL is physical: after it, no file of the cluster (tables, indexes,
TOAST, pg_statistic, the WAL, everything under the data directory) holds the key that the
erased face's ciphertext was under, and that ciphertext is all that is left of it.

The control cases show the scan finds what it looks for: before the erasure the key is
in the table's file, and the erased face's dead row is still there afterwards (PostgreSQL
does not overwrite it) -- which is why its key must go.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path

import psycopg
import pytest

from faceledger.errors import IntegrityError
from faceledger.store.pg_catalog import BUCKET_FACES, PgCatalog, unwrap
from faceledger.types import SourceInfo


def data_directory(url: str) -> Path:
    with psycopg.connect(url, autocommit=True) as conn:
        path = Path(conn.execute("SHOW data_directory").fetchone()[0])
    if not path.is_dir():
        pytest.skip(f"the PostgreSQL data directory {path} is not on this machine")
    return path


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Every file under ``root`` whose bytes contain ``needle``."""
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except (OSError, PermissionError):
            continue
        if needle in data:
            hits.append(str(path.relative_to(root)))
    return hits


def checkpoint(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def bucket_key(url: str, bucket: int) -> bytes:
    with psycopg.connect(url, autocommit=True) as conn:
        return bytes(conn.execute("SELECT key FROM face_keys WHERE bucket = %s",
                                  (bucket,)).fetchone()[0])


def stored_blob(url: str, face_id: int) -> bytes:
    with psycopg.connect(url, autocommit=True) as conn:
        return bytes(conn.execute("SELECT embedding FROM faces WHERE id = %s",
                                  (face_id,)).fetchone()[0])


@pytest.fixture
def catalog(pg_url):
    cat = PgCatalog(pg_url)
    yield cat
    cat.close()


def ingest(catalog: PgCatalog, n: int) -> tuple[list[int], dict[int, bytes]]:
    catalog.add_source(SourceInfo("s", "folder", "/photos", "controller", "consent",
                                  "test", 30))
    source_id = catalog.source("s").id
    run = catalog.start_run(source_id, "pack")
    blobs: dict[int, bytes] = {}
    with catalog.write() as w:
        photo = catalog.insert_photo(w, source_id, run, "a.jpg", "ok", sha256="00")
        for _ in range(n):
            blob = secrets.token_bytes(2076)  # the size of an encrypted 512-d template
            face = catalog.insert_face(w, photo, run, [1, 2, 3, 4], [[0, 0]] * 5, 0.9, 0.9,
                                       "pack", blob)
            blobs[face] = blob
    return sorted(blobs), blobs


def test_erased_face_leaves_no_key_in_any_file(catalog, pg_url):
    root = data_directory(pg_url)
    ids, blobs = ingest(catalog, 8)
    victim = ids[3]
    bucket = victim // BUCKET_FACES
    old_key = bucket_key(pg_url, bucket)
    dead = stored_blob(pg_url, victim)
    checkpoint(pg_url)
    # control: the scan finds the key in the table's file, and the ciphertext
    assert any(h.startswith("base/") for h in files_holding(root, old_key))
    assert files_holding(root, dead[-64:])
    # the template as the store's cipher gave it never reaches PostgreSQL's files
    assert not files_holding(root, blobs[victim][:64])

    catalog.delete_faces_and_photos([victim], [])

    assert catalog.last_purge["vacuumed"] and catalog.last_purge["checkpointed"]
    assert files_holding(root, old_key) == []
    # what is left is ciphertext under the purged key; the key that is there now does not
    # open it, and the other faces of the bucket still do
    new_key = bucket_key(pg_url, bucket)
    assert new_key != old_key
    with pytest.raises(IntegrityError):
        unwrap(new_key, victim, dead)
    left = dict(catalog.embeddings(ids, "pack"))
    assert victim not in left
    assert left == {i: blobs[i] for i in ids if i != victim}


def test_a_whole_bucket_erased_loses_its_key(catalog, pg_url):
    root = data_directory(pg_url)
    ids, _ = ingest(catalog, 3)
    old_key = bucket_key(pg_url, ids[0] // BUCKET_FACES)
    photo = catalog.photo_ids_of_faces(ids)
    catalog.delete_faces_and_photos([], sorted(photo))  # the photo takes its faces along
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT COUNT(*) FROM face_keys").fetchone()[0] == 0
    assert files_holding(root, old_key) == []


def test_an_open_snapshot_defers_the_purge_until_it_ends(catalog, pg_url):
    """VACUUM FULL keeps rows an open snapshot may still see: the purge waits for older
    snapshots, and if one stays open it is left pending and finished later."""
    root = data_directory(pg_url)
    ids, _ = ingest(catalog, 4)
    old_key = bucket_key(pg_url, ids[0] // BUCKET_FACES)
    reader = psycopg.connect(pg_url)
    reader.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
    reader.execute("SELECT COUNT(*) FROM faces").fetchone()
    import faceledger.store.pg_catalog as pgc

    old_wait, pgc.HORIZON_WAIT = pgc.HORIZON_WAIT, 0.5
    try:
        catalog.delete_faces_and_photos([ids[0]], [])
    finally:
        pgc.HORIZON_WAIT = old_wait
    assert catalog.last_purge["pending"] and not catalog.last_purge["vacuumed"]
    # the reader still sees its moment (the old key and the erased row)
    assert reader.execute("SELECT COUNT(*) FROM faces").fetchone()[0] == 4
    closer = threading.Timer(0.5, reader.rollback)
    closer.start()
    purged, _ = catalog.scrub()
    closer.join()
    reader.close()
    assert purged and catalog.last_purge["waited_s"] > 0
    assert files_holding(root, old_key) == []


def test_key_rotation_gives_every_bucket_a_new_key(catalog, pg_url):
    root = data_directory(pg_url)
    ids, blobs = ingest(catalog, 5)
    old_key = bucket_key(pg_url, ids[0] // BUCKET_FACES)
    changed = catalog.rewrite_embeddings(lambda blob: blob[::-1], {"template_key_id": "k2"})
    assert changed == 5
    assert dict(catalog.embeddings(ids, "pack")) == {i: blobs[i][::-1] for i in ids}
    assert catalog.meta("template_key_id") == "k2"
    assert files_holding(root, old_key) == []


def test_control_a_plain_delete_leaves_the_key_in_the_files(catalog, pg_url):
    """Without the purge a deleted key row is still in the table's file after a
    CHECKPOINT: the scan would catch an erasure that only deleted."""
    root = data_directory(pg_url)
    ids, _ = ingest(catalog, 2)
    old_key = bucket_key(pg_url, ids[0] // BUCKET_FACES)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM face_keys")
        conn.execute("CHECKPOINT")
    assert any(h.startswith("base/") for h in files_holding(root, old_key))
