"""Finding 3: erased templates came back.

Each process kept its own index in memory and saved it whole, so a server (or a running
ingest) that had the store open during an erasure wrote the erased vectors back into the
index file at its next save. Here the server and the ingest are real, separate processes;
the verdict comes from reading the index files themselves (decrypted with the store key),
never from opening a store, which would reconcile them with the catalog first.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from faceledger import ActionContext, init_store
from faceledger.privacy.crypto import TemplateCipher, is_encrypted, read_key_file

from ..conftest import lfw_image
from ..integration.rights_support import make_gallery, settings_for, source_kwargs

CTX = ActionContext("dpo", "Art. 17 request", "DSR-77")
TARGET = "Colin_Powell"
GALLERY = [TARGET, "Tony_Blair", "Hugo_Chavez", "Jacques_Chirac"]
LATER = ["Gerhard_Schroeder", "Jean_Chretien", "John_Ashcroft"]


def cli(*args: str, env: dict) -> subprocess.Popen:
    code = "import sys; from faceledger.cli.main import main; sys.exit(main())"
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def env_for(root: Path, models_dir: Path) -> dict:
    return {**os.environ, "FACELEDGER_DATA_DIR": str(root / "data"),
            "FACELEDGER_KEY_FILE": str(root / "keys" / "t.key"),
            "FACELEDGER_MODELS_DIR": str(models_dir), "FACELEDGER_WORKERS": "1"}


def index_on_disk(root: Path) -> tuple[set[int], bytes]:
    """(face ids in the segments the manifest names, every index file decrypted)."""
    cipher = TemplateCipher.from_key_bytes(read_key_file(root / "keys" / "t.key"))
    ids: set[int] = set()
    # the layout before segments (one whole FAISS file), read too, so this test shows the
    # old design's failure rather than a missing file
    for legacy in (root / "data" / "index").glob("*.flat.index"):
        import faiss

        index = faiss.deserialize_index(np.frombuffer(cipher.decrypt_blob(legacy.read_bytes()),
                                                      np.uint8))
        ids |= {int(i) for i in faiss.vector_to_array(index.id_map)}
    pack_dirs = [p for p in (root / "data" / "index").iterdir() if p.is_dir()]
    manifest = json.loads((pack_dirs[0] / "manifest.json").read_text()) if pack_dirs else {}
    for seg in manifest.get("segments", []):
        data = cipher.decrypt_blob((pack_dirs[0] / seg["file"]).read_bytes())
        magic, (n, _code_bytes) = data[:8], struct.unpack("<QI", data[8:20])
        assert magic == b"FLSEG001"
        ids |= {int(i) for i in np.frombuffer(data, "<i8", count=n, offset=20)}
    plain = []
    for f in sorted((root / "data" / "index").rglob("*")):
        if f.is_file():
            data = f.read_bytes()
            plain.append(cipher.decrypt_blob(data) if is_encrypted(data) else data)
    return ids, b"".join(plain)


def catalog_face_ids(root: Path) -> set[int]:
    conn = sqlite3.connect(str(root / "data" / "catalog.db"))
    try:
        return {int(r[0]) for r in conn.execute("SELECT id FROM faces")}
    finally:
        conn.close()


def erase_target(root: Path, models_dir: Path, lfw_dir: Path) -> tuple[list[int], list[bytes]]:
    """In this process (not the server's, not the ingest's): erase the target's faces."""
    st = init_store(settings_for(root, models_dir))
    try:
        rows = st.catalog.query(
            "SELECT f.id, f.embedding FROM faces f JOIN photos p ON p.id = f.photo_id "
            "WHERE p.uri LIKE ?", (f"%/{TARGET}/%",))
        ids = [int(r[0]) for r in rows]
        plains = [st.cipher.decrypt_vector(bytes(r[1])).tobytes() for r in rows]
        assert ids, "the target is in the gallery before the erasure"
        report = st.erase_faces(ids, context=CTX)
        assert sorted(report.faces) == sorted(ids)
    finally:
        st.close()
    return ids, plains


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer in {seconds} s")


def test_a_server_holding_the_store_never_writes_an_erased_vector_back(
        tmp_path, lfw_dir, models_dir):
    root = tmp_path
    gallery = make_gallery(root / "gallery", lfw_dir, GALLERY, range(1, 5))
    later = make_gallery(root / "later", lfw_dir, LATER, range(1, 4))
    st = init_store(settings_for(root, models_dir))
    st.add_source("events", **source_kwargs(gallery))
    st.add_source("later", **source_kwargs(later))
    st.ingest("events", workers=1)
    st.close()
    env = env_for(root, models_dir)
    keys = {}
    for role in ("investigator", "operator"):
        made = cli("apikeys", "create", "--role", role, "--name", role, "--json", env=env)
        out, err = made.communicate(timeout=120)
        assert made.returncode == 0, err
        keys[role] = {"Authorization": f"Bearer {json.loads(out)['key']}"}

    port = free_port()
    server = cli("serve", "--host", "127.0.0.1", "--port", str(port), env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/api/health", server)
        probe = lfw_image(lfw_dir, TARGET, 6).read_bytes()

        def search() -> list[dict]:
            r = httpx.post(f"{base}/api/search", headers=keys["investigator"], timeout=120,
                           data={"purpose": "test", "case": "T-1", "k": "20"},
                           files={"probe": ("p.jpg", probe, "image/jpeg")})
            assert r.status_code == 200, r.text
            return r.json()["faces"][0]["matches"]

        before = search()  # the server now holds the target's vectors in memory
        erased, plains = erase_target(root, models_dir, lfw_dir)
        assert {m["face_id"] for m in before} & set(erased)
        # the server honours the erasure made by another process at its next search
        assert not {m["face_id"] for m in search()} & set(erased)

        # an ingest through the API makes the server write the index files
        r = httpx.post(f"{base}/api/ingest/runs", headers=keys["operator"], json={"source": "later",
                       "workers": 1}, timeout=30)
        assert r.status_code == 202, r.text
        run = r.json()
        deadline = time.monotonic() + 300
        while run["report"] is None:
            assert time.monotonic() < deadline, run
            time.sleep(0.5)
            run = httpx.get(f"{base}/api/ingest/runs/{run['id']}", headers=keys["operator"],
                            timeout=30).json()
        assert run["report"]["status"] == "completed" and run["report"]["faces"] > 0, run
    finally:
        server.terminate()
        server.wait(timeout=30)

    disk_ids, plain = index_on_disk(root)
    assert not disk_ids & set(erased), "an erased face is back in the index files"
    assert not any(p in plain for p in plains), "an erased vector's bytes are in an index file"
    assert disk_ids == catalog_face_ids(root), "the files hold exactly the catalog's faces"


def test_an_ingest_overlapping_an_erasure_does_not_bring_it_back(tmp_path, lfw_dir, models_dir):
    root = tmp_path
    gallery = make_gallery(root / "gallery", lfw_dir, GALLERY, range(1, 5))
    big = make_gallery(root / "big", lfw_dir, LATER + ["George_W_Bush"], range(1, 40))
    st = init_store(settings_for(root, models_dir))
    st.add_source("events", **source_kwargs(gallery))
    st.add_source("big", **source_kwargs(big))
    st.ingest("events", workers=1)
    st.close()
    env = env_for(root, models_dir)
    ingest = cli("ingest", "big", env=env)
    try:
        # wait until the ingest process has written some faces (so it has the store and
        # the index open), then erase from this process while it goes on
        deadline = time.monotonic() + 120
        while len(catalog_face_ids(root)) < 20 + 4 * len(GALLERY):
            assert ingest.poll() is None, ingest.stderr.read()
            assert time.monotonic() < deadline, "the ingest wrote nothing"
            time.sleep(0.2)
        erased, plains = erase_target(root, models_dir, lfw_dir)
        assert ingest.poll() is None, "the erasure overlapped the ingest"
        out, err = ingest.communicate(timeout=600)
        assert ingest.returncode == 0, err
    finally:
        if ingest.poll() is None:
            ingest.kill()
    disk_ids, plain = index_on_disk(root)
    assert not disk_ids & set(erased), "the ingest wrote an erased face back"
    assert not any(p in plain for p in plains)
    assert disk_ids == catalog_face_ids(root)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
