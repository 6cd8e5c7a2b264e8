"""Finding 1 (serving): photo bytes leave the server only for photos stored as ok, read
through the same reader as ingest, decoding as an image, typed by the decoded format.

Before the fix ``GET /api/photos/{id}/image`` returned whatever file a stored URI named,
typed from its extension: with an investigator key it downloaded ``/etc/passwd`` and the
template key file, a symlinked ``.html`` was served as ``text/html`` and its script ran in
the app's origin, and a photo inside an archive source gave 404.
"""

from __future__ import annotations

import io
import shutil
import zipfile

import httpx
import pytest
from PIL import Image

from faceledger import Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import Role
from faceledger.api.server import BackgroundServer
from faceledger.errors import FaceLedgerError
from faceledger.privacy.crypto import default_keys_dir

from .conftest import BASIS, copy_photos, lfw_photos

HTML = b"<html><script>fetch('/api/whoami').then(r => r.text())</script></html>"
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, lfw_dir, models_dir):
    base = tmp_path_factory.mktemp("photo-bytes")
    store = init_store(Settings(data_dir=base / "data", models_dir=models_dir, workers=1))
    key_file = next(default_keys_dir().glob("*.key"))
    outside = base / "outside"
    outside.mkdir()
    (outside / "page.html").write_bytes(HTML)

    folder = base / "folder"
    copy_photos(lfw_dir, folder, 2)
    png = io.BytesIO()
    Image.open(lfw_photos(lfw_dir, 1, skip=2)[0]).save(png, format="PNG")
    (folder / "really-a-png.jpg").write_bytes(png.getvalue())
    (folder / "page-inside.jpg").write_bytes(HTML)
    (folder / "passwd.jpg").symlink_to("/etc/passwd")
    (folder / "key.jpg").symlink_to(key_file)
    (folder / "page.jpg").symlink_to(outside / "page.html")
    store.add_source("folder", location=folder, **BASIS)

    archive = base / "event.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for photo in lfw_photos(lfw_dir, 2, skip=3):
            zf.write(photo, f"event/{photo.name}")
    store.add_source("zip", location=archive, kind="archive", **BASIS)

    swap = base / "swap"
    copy_photos(lfw_dir, swap, 1, skip=5)
    copy_photos(lfw_dir, swap / "sub", 2, skip=6)
    copy_photos(lfw_dir, swap / "changed", 2, skip=8)
    store.add_source("swap", location=swap, **BASIS)
    for name in ("folder", "zip", "swap"):
        assert store.ingest(name, workers=1).status == "completed"

    app = create_app(store.settings, store=store)
    secret = app.state.ctx.keys.create("photo-bytes-investigator", Role.INVESTIGATOR).secret
    with BackgroundServer(app) as server:
        with httpx.Client(base_url=server.url, timeout=60,
                          headers={"Authorization": f"Bearer {secret}"}) as client:
            yield {"store": store, "client": client, "base": base, "key": key_file,
                   "lfw_dir": lfw_dir}
    store.close()


def _photos(store, source: str) -> list[dict]:
    return [dict(r) for r in store.catalog.query(
        "SELECT p.id, p.uri, p.status, p.sha256 FROM photos p JOIN sources s ON "
        "s.id = p.source_id WHERE s.name = ? ORDER BY p.id", (source,))]


def test_only_photos_stored_ok_are_served_and_never_as_anything_but_an_image(served):
    client, store = served["client"], served["store"]
    key_bytes = served["key"].read_bytes().strip()
    photos = _photos(store, "folder")
    assert len(photos) == 7 and sum(p["status"] == "ok" for p in photos) == 3
    for photo in photos:
        r = client.get(f"/api/photos/{photo['id']}/image")
        kind = r.headers.get("content-type", "").split(";")[0]
        assert b"root:" not in r.content and b"<script" not in r.content
        assert key_bytes not in r.content
        if photo["status"] == "ok":
            assert r.status_code == 200 and kind in IMAGE_TYPES, (photo, r.text[:200])
            Image.open(io.BytesIO(r.content)).verify()
        else:
            assert r.status_code == 404 and kind == "application/json", (photo, r.text[:200])


def test_an_archive_photo_is_served_from_its_member(served):
    client, store = served["client"], served["store"]
    photos = _photos(store, "zip")
    assert len(photos) == 2
    for photo, original in zip(photos, lfw_photos(served["lfw_dir"], 2, skip=3)):
        r = client.get(f"/api/photos/{photo['id']}/image")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/jpeg" and r.content == original.read_bytes()


def test_the_content_type_comes_from_the_decoded_format_not_the_name(served):
    client, store = served["client"], served["store"]
    (photo,) = [p for p in _photos(store, "folder") if p["uri"].endswith("really-a-png.jpg")]
    r = client.get(f"/api/photos/{photo['id']}/image")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"


def _face_of(store, photo_id: int) -> int:
    rows = store.catalog.query("SELECT id FROM faces WHERE photo_id = ? LIMIT 1", (photo_id,))
    assert rows, "the LFW photo should hold a face"
    return int(rows[0][0])


def test_a_photo_swapped_for_a_link_out_after_ingest_is_refused_by_the_route_and_crops(
        served):
    client, store, base = served["client"], served["store"], served["base"]
    swap = base / "swap"
    photos = {p["uri"].rsplit("/swap/", 1)[1]: p for p in _photos(store, "swap")}
    top = next(name for name in photos if "/" not in name)
    face = _face_of(store, photos[top]["id"])
    assert store.face_crop(face)[:2] == b"\xff\xd8"  # readable before the swap
    # the same bytes, moved outside the source and linked back: the SHA-256 still matches
    moved = base / "moved"
    moved.mkdir()
    shutil.move(swap / top, moved / top)
    (swap / top).symlink_to(moved / top)
    # a whole folder on the path swapped for a link to a copy outside the source
    shutil.move(swap / "sub", base / "sub-outside")
    (swap / "sub").symlink_to(base / "sub-outside", target_is_directory=True)
    for name in [top] + [n for n in photos if n.startswith("sub/")]:
        r = client.get(f"/api/photos/{photos[name]['id']}/image")
        assert r.status_code in (403, 404, 422), (name, r.status_code)
        assert "outside the source" in r.json()["error"]["message"], r.text
    with pytest.raises(FaceLedgerError, match="outside the source"):
        store.face_crop(face)


def test_a_photo_changed_after_ingest_is_not_served(served):
    client, store, base = served["client"], served["store"], served["base"]
    changed = sorted((base / "swap" / "changed").iterdir())
    (target,) = [p for p in _photos(store, "swap") if p["uri"] == changed[0].as_uri()]
    changed[0].write_bytes(changed[1].read_bytes())  # another person's photo, same name
    r = client.get(f"/api/photos/{target['id']}/image")
    assert r.status_code == 404 and "changed" in r.json()["error"]["message"]
