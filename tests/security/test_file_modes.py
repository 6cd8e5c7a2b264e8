"""Finding 7: ``*.db`` files were created mode 0644 (readable by every local user), and so
were the index files. The data dir and everything in it are now 0700 / 0600, and so are
the key file and its directory, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from faceledger import init_store, open_store

from ..conftest import lfw_image
from .audit_support import CTX, settings_for, source_kwargs


@pytest.fixture()
def lax_umask():
    old = os.umask(0o022)  # a usual default: new files 0644, directories 0755
    yield
    os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    out = {".": stat.S_IMODE(os.lstat(root).st_mode)}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = stat.S_IMODE(os.lstat(path).st_mode)
    return out


def _loose(modes: dict[str, int], root: Path) -> list[str]:
    bad = []
    for rel, mode in modes.items():
        want = 0o700 if (root / rel).is_dir() else 0o600
        if mode != want:
            bad.append(f"{rel}: {oct(mode)} (want {oct(want)})")
    return bad


def test_every_file_of_a_store_is_private(tmp_path, lfw_dir, models_dir, lax_umask):
    photos = tmp_path / "photos"
    photos.mkdir()
    for n in (1, 2, 3):
        (photos / f"p{n}.jpg").write_bytes(lfw_image(lfw_dir, "Tony_Blair", n).read_bytes())
    st = init_store(settings_for(tmp_path, models_dir))
    try:
        st.add_source("events", **source_kwargs(photos))
        st.ingest("events", workers=1)
        st.search(lfw_image(lfw_dir, "Tony_Blair", 4), k=1, context=CTX)
        face = st.catalog.face_ids(st.pack.name)[0]
        st.erase_faces([face], context=CTX)
        data = st.data_dir
        modes = _modes(data)  # while the store is open: -wal and -shm files exist
        names = set(modes)
        assert {"catalog.db", "audit.db", "privacy.db", "catalog.db-wal", "audit.db-shm"} <= names
        assert any(n.startswith("index/") and "/seg-" in n for n in names)  # segments
        assert _loose(modes, data) == []
        assert any(n.startswith("locks/") for n in names)
    finally:
        st.close()
    key = tmp_path / "keys" / "t.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700


def test_a_store_made_with_loose_modes_is_tightened_on_open(tmp_path, lax_umask):
    st = init_store(settings_for(tmp_path))
    data = st.data_dir
    st.close()
    for path in [data, *data.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)  # as an older version left it
    st = open_store(settings_for(tmp_path))
    try:
        assert _loose(_modes(data), data) == []
    finally:
        st.close()
