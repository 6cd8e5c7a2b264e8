"""Helpers for the ingest pipeline tests: a folder of real photos and what a catalog holds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from faceledger import Settings, init_store

from ..conftest import lfw_image

PEOPLE = ["Colin_Powell", "Tony_Blair", "George_W_Bush", "Donald_Rumsfeld", "Gerhard_Schroeder",
          "Ariel_Sharon", "Hugo_Chavez", "Junichiro_Koizumi", "Jean_Chretien", "John_Ashcroft"]
SOURCE = dict(controller="Acme Photo Ltd", lawful_basis="consent",
              special_category_condition="explicit-consent",
              purpose="attendees find their photos", retention_days=30,
              minors_policy="none-expected")


def photo_folder(root: Path, lfw_dir: Path, per_person: int = 4, wider: Path | None = None,
                 wider_count: int = 0) -> Path:
    """LFW photos of ten people, an unreadable file, a duplicate, and a few crowd photos."""
    photos = root / "photos"
    for name in PEOPLE:
        (photos / name).mkdir(parents=True, exist_ok=True)
        for n in range(1, per_person + 1):
            shutil.copy(lfw_image(lfw_dir, name, n), photos / name)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    shutil.copy(lfw_image(lfw_dir, PEOPLE[0], 1), photos / "copy_of_powell.jpg")
    if wider is not None and wider_count:
        (photos / "crowds").mkdir(exist_ok=True)
        for path in sorted(wider.glob("*/*.jpg"))[:wider_count]:
            shutil.copy(path, photos / "crowds" / path.name)
    return photos


def new_store(root: Path, models_dir: Path, photos: Path, **settings):
    st = init_store(Settings(data_dir=root / "data", key_file=root / "keys" / "t.key",
                             models_dir=models_dir, **settings))
    st.add_source("events", location=photos, **SOURCE)
    return st


def catalog_summary(store) -> dict[str, list[tuple[tuple[float, ...], np.ndarray]]]:
    """Photo path (relative to the photo folder) -> its faces: box and decrypted embedding."""
    pack = store.pack.name
    ids = store.catalog.face_ids(pack)
    records = store.catalog.faces(ids)
    vectors = {i: store.cipher.decrypt_vector(blob)
               for i, blob in store.catalog.embeddings(ids, pack)}
    by_uri: dict[str, list] = {}
    for i in sorted(ids):
        r = records[i]
        box = (round(r.box.x, 2), round(r.box.y, 2), round(r.box.width, 2),
               round(r.box.height, 2))
        by_uri.setdefault(_rel(r.photo_uri), []).append((box, vectors[i]))
    return {uri: sorted(faces, key=lambda f: f[0]) for uri, faces in by_uri.items()}


def _rel(uri: str) -> str:
    return uri.split("/photos/", 1)[-1]


def assert_same_catalog(a: dict, b: dict, min_cosine: float = 0.999) -> None:
    assert sorted(a) == sorted(b), "the two catalogs hold faces of different photos"
    for uri in a:
        fa, fb = a[uri], b[uri]
        assert [f[0] for f in fa] == [f[0] for f in fb], f"{uri}: different faces"
        for (_, va), (_, vb) in zip(fa, fb):
            cosine = float(np.dot(va, vb) / (np.linalg.norm(va) * np.linalg.norm(vb)))
            assert cosine >= min_cosine, f"{uri}: embeddings differ (cosine {cosine:.5f})"
