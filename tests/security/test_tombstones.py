"""Finding 7: tombstone hashes sat beside their salt in privacy.db, so anyone with a copy
of the data dir could confirm a guessed URI of an erased photo. Tombstones are now HMACs
under a key that privacy.db holds only encrypted with the template key (kept outside the
data dir)."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import sqlite3
from pathlib import Path

from faceledger import open_store
from faceledger.privacy.crypto import TemplateCipher
from faceledger.privacy.erasure import Tombstones, erase
from faceledger.privacy.keys import rotate_keys

from .audit_support import CTX, busy_store, settings_for

SECRET_URI = "file:///photos/clinic/alice-waiting-room.jpg"


def _erased_photo(root: Path):
    st = busy_store(root, entries=0)
    source_id = st.catalog.source("events").id
    with st.catalog.write() as conn:
        cur = conn.execute(
            "INSERT INTO photos (source_id, uri, status, error, ingested_at) "
            "VALUES (?, ?, 'error', 'unreadable', '2026-01-01T00:00:00+00:00')",
            (source_id, SECRET_URI))
        photo_id = int(cur.lastrowid)
    erase(st, photo_ids=[photo_id], context=CTX)
    return st, source_id


def _guesses_confirmed(privacy_db: Path, source_id: int, uri: str) -> list[str]:
    """What an attacker holding only privacy.db can try: every stored value as a salt or
    an HMAC key, in the obvious hash constructions."""
    conn = sqlite3.connect(str(privacy_db))
    hashes = {r[0] for r in conn.execute("SELECT uri_hash FROM erased_photos")}
    values = [str(r[0]) for r in conn.execute("SELECT value FROM privacy_meta")]
    conn.close()
    candidates = []
    for value in values:
        for part in {value, value.partition(":")[2]}:
            try:
                candidates.append(bytes.fromhex(part))
            except ValueError:
                pass
            candidates.append(part.encode())
    hits = []
    for secret in candidates:
        for message in (uri.encode(), f"{source_id}\n{uri}".encode()):
            tries = {
                "sha256(salt+uri)": hashlib.sha256(secret + message).hexdigest(),
                "hmac": hmac.new(secret, message, hashlib.sha256).hexdigest(),
            }
            hits += [name for name, digest in tries.items() if digest in hashes]
    return hits


def test_a_copy_of_the_data_dir_cannot_confirm_an_erased_uri(tmp_path):
    st, source_id = _erased_photo(tmp_path)
    data = st.data_dir
    st.close()
    stolen = tmp_path / "stolen"
    shutil.copytree(data, stolen)  # the data dir without the key
    assert _guesses_confirmed(stolen / "privacy.db", source_id, SECRET_URI) == []
    conn = sqlite3.connect(str(stolen / "privacy.db"))
    keys = dict(conn.execute("SELECT key, value FROM privacy_meta").fetchall())
    conn.close()
    assert "tombstone_salt" not in keys and keys["tombstone_key"].startswith("enc:")


def test_tombstones_still_keep_erased_photos_out_after_a_reopen_and_a_key_rotation(tmp_path):
    st, source_id = _erased_photo(tmp_path)
    try:
        assert st.tombstones.filter(source_id, [SECRET_URI, "file:///other.jpg"]) == {SECRET_URI}
        rotate_keys(st)
        assert st.tombstones.is_erased(source_id, SECRET_URI)
    finally:
        st.close()
    st = open_store(settings_for(tmp_path))  # only the rotated key exists now
    try:
        assert st.tombstones.is_erased(source_id, SECRET_URI)
        assert not st.tombstones.is_erased(source_id + 1, SECRET_URI)
    finally:
        st.close()


def test_salted_tombstones_from_before_are_checked_then_rekeyed(tmp_path):
    """A privacy.db as older versions wrote it: the salt and the salted hashes."""
    path = tmp_path / "privacy.db"
    salt = bytes(range(16))
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.executescript("""
        CREATE TABLE erased_photos (source_id INTEGER NOT NULL, uri_hash TEXT NOT NULL,
            erased_at TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (source_id, uri_hash));
        CREATE TABLE privacy_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """)
    conn.execute("INSERT INTO privacy_meta VALUES ('tombstone_salt', ?)", (salt.hex(),))
    for uri in (SECRET_URI, "file:///photos/gone-for-good.jpg"):
        conn.execute("INSERT INTO erased_photos VALUES (1, ?, '2025-01-01', 'art17-request')",
                     (hashlib.sha256(salt + uri.encode()).hexdigest(),))
    conn.close()

    t = Tombstones(path, TemplateCipher.generate())
    try:
        assert t.salted_count() == 2
        assert t.filter(1, [SECRET_URI, "file:///new.jpg"]) == {SECRET_URI}  # still honoured
        assert t.salted_count() == 1  # seen again, so re-keyed
        assert t.is_erased(1, SECRET_URI)
        assert _guesses_confirmed(path, 1, SECRET_URI) == []
        assert t.filter(1, ["file:///photos/gone-for-good.jpg"]) == {
            "file:///photos/gone-for-good.jpg"}
        assert t.salted_count() == 0
    finally:
        t.close()
    conn = sqlite3.connect(str(path))
    assert conn.execute(
        "SELECT COUNT(*) FROM privacy_meta WHERE key = 'tombstone_salt'").fetchone()[0] == 0
    conn.close()
