"""Issue 12, requirements 5 and 6, end to end on real models and real servers on loopback.

- A URL list of photos on the controller's own web server (``http.server`` on 127.0.0.1):
  ingested with the URL as each photo's URI, searched, and read again for crops through the
  same fetcher; a redirect inside the declared host is followed and the listed URL stored.
- A folder of phone photos (HEIC and AVIF made from LFW photos, with an EXIF rotation) is
  ingested with faces found; the files it holds that are not decoded are counted in the run,
  in ``faceledger status`` and in the API's run record.
"""

from __future__ import annotations

import io
import json
import shutil
import time
import urllib.parse
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from PIL import Image

from faceledger import ActionContext, Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import KEY_ROLES
from faceledger.api.server import BackgroundServer
from faceledger.cli.main import main
from faceledger.images.decode import heif_available
from faceledger.pipeline.reader import stored_photo

from ..conftest import lfw_image
from ..photo_server import PhotoServer

PEOPLE = ["Colin_Powell", "Tony_Blair", "Gerhard_Schroeder", "Hugo_Chavez"]
BASIS = dict(controller="faceledger tests", lawful_basis="consent",
             special_category_condition="explicit-consent", purpose="integration test",
             retention_days=30, minors_policy="none-expected")
CTX = ActionContext(actor="test", purpose="integration test", case="T-12")


@pytest.fixture()
def store(tmp_path, models_dir):
    s = init_store(Settings(data_dir=tmp_path / "data", models_dir=models_dir, workers=1))
    yield s
    s.close()


def test_a_url_list_on_the_controllers_server_is_ingested_and_searched(
        tmp_path, lfw_dir, store):
    served = tmp_path / "served"
    served.mkdir()
    for name in PEOPLE:
        shutil.copy(lfw_image(lfw_dir, name, 1), served / f"{name}.jpg")
    with PhotoServer(served) as server:
        urls = [server.url(f"/photos/{name}.jpg") for name in PEOPLE[:-1]]
        moved = server.url("/redirect?code=301&to=" + urllib.parse.quote(
            f"/photos/{PEOPLE[-1]}.jpg"))
        listing = tmp_path / "web.txt"
        listing.write_text("# photos on our own server\n" + "\n".join([*urls, moved]) + "\n")
        store.add_source("web", location=listing, kind="urls", hosts=[server.base], **BASIS)

        report = store.ingest("web", workers=1)
        assert (report.status, report.photos, report.errors) == ("completed", 4, 0)
        assert report.faces >= 4
        for name in PEOPLE:
            probe = lfw_image(lfw_dir, name, 2)
            best = store.search(probe, k=1, largest_only=True, context=CTX)[0].matches[0]
            expected = moved if name == PEOPLE[-1] else server.url(f"/photos/{name}.jpg")
            assert best.photo_uri == expected  # the stored URI is the listed URL
        # crops and the photo view read the photo again through the same fetcher
        hits_before = len(server.hits)
        photo = stored_photo(store, best.photo_id)
        assert photo.media_type == "image/jpeg" and len(server.hits) > hits_before
        assert store.face_crop(best.face_id)[:2] == b"\xff\xd8"
        assert set(server.hits) <= {*(urllib.parse.urlsplit(u).path for u in urls),
                                    urllib.parse.urlsplit(moved).path + "?"
                                    + urllib.parse.urlsplit(moved).query,
                                    f"/photos/{PEOPLE[-1]}.jpg"}
        again = store.ingest("web", workers=1)  # resumable: nothing is fetched again
        assert (again.photos, again.skipped) == (0, 4)


def _phone_folder(folder: Path, lfw_dir: Path) -> None:
    assert heif_available()
    folder.mkdir()
    for i, (name, fmt) in enumerate(zip(PEOPLE[:2], ("HEIF", "AVIF"))):
        upright = Image.open(lfw_image(lfw_dir, name, 1)).convert("RGB")
        # stored on its side, as a phone does, with the EXIF tag that turns it upright
        sideways = upright.transpose(Image.Transpose.ROTATE_90)
        exif = Image.Exif()
        exif[0x0112] = 6
        buf = io.BytesIO()
        sideways.save(buf, format=fmt, exif=exif.tobytes(), quality=90)
        suffix = ".heic" if fmt == "HEIF" else ".avif"
        (folder / f"{i}-{name}{suffix}").write_bytes(buf.getvalue())
    shutil.copy(lfw_image(lfw_dir, PEOPLE[2], 1), folder / "2.jpg")
    (folder / "notes.txt").write_text("not a photo")
    (folder / "clip.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  ")
    (folder / "sub").mkdir()
    (folder / "sub" / "README").write_text("no suffix")


def test_phone_photos_are_decoded_and_every_other_file_is_counted(
        tmp_path, lfw_dir, models_dir):
    folder = tmp_path / "phone"
    _phone_folder(folder, lfw_dir)
    settings = Settings(data_dir=tmp_path / "data", models_dir=models_dir, workers=1)
    store = init_store(settings)
    try:
        store.add_source("phone", location=folder, **BASIS)
        report = store.ingest("phone", workers=1)
        assert (report.status, report.photos, report.errors) == ("completed", 3, 0)
        assert report.unsupported == 3
        assert report.unsupported_suffixes == {"(no suffix)": 1, ".mov": 1, ".txt": 1}
        for i, name in enumerate(PEOPLE[:2]):  # upright again: the face is found and matched
            probe = lfw_image(lfw_dir, name, 2)
            best = store.search(probe, k=1, largest_only=True, context=CTX)[0].matches[0]
            assert Path(urllib.parse.urlsplit(best.photo_uri).path).name.startswith(f"{i}-")
            photo = stored_photo(store, best.photo_id)
            assert photo.media_type == ("image/heif" if i == 0 else "image/avif")
            assert photo.image.width == 250 and photo.image.height == 250
        assert store.runs(1)[0].unsupported == 3

        # the API's run record (live and history), on a real server
        app = create_app(settings, store=store)
        keys = {r.value: app.state.ctx.keys.create(f"t-{r.value}", r).secret for r in KEY_ROLES}
        (folder / "more.docx").write_bytes(b"PK")
        with BackgroundServer(app) as server:
            auth = {"Authorization": f"Bearer {keys['operator']}"}
            with httpx.Client(base_url=server.url, headers=auth, timeout=60) as op:
                run = op.post("/api/ingest/runs", json={"source": "phone", "workers": 1}).json()
                deadline = time.monotonic() + 60
                while run["status"] == "running" and time.monotonic() < deadline:
                    time.sleep(0.1)
                    run = op.get(f"/api/ingest/runs/{run['id']}").json()
                assert run["unsupported"] == 4 and run["report"]["unsupported"] == 4
                assert run["report"]["unsupported_suffixes"][".docx"] == 1
                history = op.get("/api/ingest/runs").json()["history"]
                assert history[0]["unsupported"] == 4
    finally:
        store.close()

    result = CliRunner().invoke(main, ["--data", str(tmp_path / "data"), "status"])
    assert result.exit_code == 0, result.output
    assert "4 files not decoded" in result.output
    result = CliRunner().invoke(main, ["--data", str(tmp_path / "data"), "status", "--json"])
    assert json.loads(result.output)["runs"][0]["unsupported"] == 4


def test_the_cli_declares_hosts_and_s3_without_credentials(tmp_path):
    data = tmp_path / "data"
    listing = tmp_path / "web.txt"
    listing.write_text("https://photos.example.org/a.jpg\n")
    common = ["--controller", "Acme", "--basis", "consent", "--art9", "explicit-consent",
              "--purpose", "p", "--retention", "30d", "--minors-policy", "none-expected"]
    runner = CliRunner()
    assert runner.invoke(main, ["--data", str(data), "init"]).exit_code == 0
    r = runner.invoke(main, ["--data", str(data), "source", "add", "web", "--kind", "urls",
                             "--path", str(listing), "--host", "photos.example.org", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["--data", str(data), "source", "add", "bucket", "--s3",
                             "s3://photos/events", "--endpoint", "http://127.0.0.1:8333",
                             "--profile", "faceledger", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["--data", str(data), "source", "add", "leak", "--s3",
                             "s3://photos/x", "--endpoint", "http://AKIA:secret@127.0.0.1:8333",
                             *common])
    assert r.exit_code != 0 and "user info" in r.output
    listed = json.loads(runner.invoke(main, ["--data", str(data), "source", "list",
                                             "--json"]).output)
    by_name = {s["name"]: s for s in listed}
    assert by_name["web"]["hosts"] == ["https://photos.example.org:443"]
    assert by_name["bucket"]["endpoint"] == "http://127.0.0.1:8333"
    assert by_name["bucket"]["profile"] == "faceledger"
    assert "leak" not in by_name
    # nothing that looks like a secret is in the catalog
    raw = b"".join(p.read_bytes() for p in data.rglob("*.db*") if p.is_file())
    # (the schema names columns like ``webhook_secret``: look for the credential itself)
    assert b"AKIA:secret" not in raw and b":secret@" not in raw and b"AKIA" not in raw
    assert b"faceledger" in raw  # the profile name is stored; no key is
