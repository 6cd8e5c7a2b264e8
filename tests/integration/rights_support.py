"""Helpers shared by the test_rights_* modules: real stores with their key outside the data
dir, LFW galleries, and a byte scan of every file under a directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from faceledger import ActionContext, Settings, init_store

from ..conftest import lfw_image

CTX = ActionContext(actor="officer-7", purpose="rights integration test", case="CASE-9")


def source_kwargs(location: Path, retention_days: int = 30, **extra) -> dict:
    return dict(
        location=location, controller="Acme Photo Ltd", lawful_basis="consent",
        special_category_condition="explicit-consent", purpose="attendees find their photos",
        retention_days=retention_days, minors_policy="none-expected", **extra,
    )


def settings_for(root: Path, models_dir: Path, **kw) -> Settings:
    """Data in ``root/data``; the template key in ``root/keys`` (outside the data dir)."""
    return Settings(data_dir=root / "data", models_dir=models_dir, key_file=root / "keys" / "t.key",
                    workers=1, **kw)


def make_gallery(root: Path, lfw_dir: Path, people: list[str], numbers: range) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in people:
        (root / name).mkdir(exist_ok=True)
        for n in numbers:
            src = lfw_image(lfw_dir, name, n)
            if src.exists():
                shutil.copy(src, root / name)
    return root


def new_store(root: Path, models_dir: Path, gallery: Path, name: str = "events", **kw):
    """A store with one source, ingested. ``kw``: Settings (``**backend()`` for a test
    parametrised over the backends)."""
    st = init_store(settings_for(root, models_dir, **kw))
    st.add_source(name, **source_kwargs(gallery))
    st.ingest(name, workers=1)
    return st


def scan(directory: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Which files under ``directory`` contain each needle (every byte of every file)."""
    found: dict[str, list[str]] = {k: [] for k in needles}
    for dirpath, _dirs, files in os.walk(directory):
        for fname in files:
            path = Path(dirpath) / fname
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                # a live server's directory: PostgreSQL removes files such as
                # pg_internal.init and temporary files while it runs, and a file gone
                # between the listing and the read holds no bytes any more
                continue
            for key, needle in needles.items():
                if needle and needle in data:
                    found[key].append(str(path.relative_to(directory)))
    return {k: v for k, v in found.items() if v}


def catalog_files(store) -> list[Path]:
    """The directories whose files hold the store's catalog: the data dir, and for a
    PostgreSQL catalog the server's data directory (the service runs on this machine)."""
    dirs = [Path(store.data_dir)]
    db = store.catalog.db
    if getattr(db, "dialect", "sqlite") == "postgresql":
        dirs.append(Path(store.catalog.query("SHOW data_directory")[0][0]))
    return dirs


def bucket_keys(store, face_ids) -> dict[str, bytes]:
    """A PostgreSQL catalog's keys of the buckets holding these faces (empty on SQLite)."""
    if getattr(store.catalog.db, "dialect", "sqlite") != "postgresql":
        return {}
    from faceledger.store.pg_catalog import BUCKET_FACES

    buckets = sorted({int(f) // BUCKET_FACES for f in face_ids})
    rows = store.catalog.query("SELECT bucket, key FROM face_keys WHERE bucket = ANY(?)",
                               (buckets,))
    return {f"bucket-key-{int(r[0])}": bytes(r[1]) for r in rows}
