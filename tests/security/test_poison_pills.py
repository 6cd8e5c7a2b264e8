"""Finding 6 (poison pills): one hostile photo is that photo's error, and the run goes on.

Before the fix each of these crashed the whole run with a raw traceback, and every retry
failed the same way: a corrupt, encrypted or unknown-method zip member, a duplicate member
name, a duplicated line in a URL list (``sqlite3.IntegrityError``, with a run row claiming
photos that were never written), and a TIFF that makes the decoder raise ``TypeError``.
"""

from __future__ import annotations

import io
import struct
import warnings
import zipfile

import numpy as np
from PIL import Image

from .conftest import BASIS, copy_photos, ingest_within, lfw_photos, photo_rows
from .hostile import corrupt_member_data, patch_member_header, small_jpeg


def tiff_with_float_strip_offsets() -> bytes:
    """A TIFF whose StripOffsets tag (273) says its type is FLOAT: Pillow's decoder raises
    TypeError on it, an exception nobody expects from a decoder."""
    arr = np.random.default_rng(0).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="TIFF")
    data = bytearray(buf.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack_from("<H", data, entry)[0] == 273:
            struct.pack_into("<H", data, entry + 2, 11)  # FLOAT
            return bytes(data)
    raise AssertionError("no StripOffsets tag")


def hostile_archive(path, lfw_dir):
    good = lfw_photos(lfw_dir, 3)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for photo in good:
            zf.write(photo, f"event/{photo.name}")
        for name in ("corrupt", "encrypted", "method"):
            zf.write(good[0], f"event/{name}.jpg")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns about the duplicate, as it should
            zf.writestr("event/twice.jpg", small_jpeg((16, 16)))
            zf.writestr("event/twice.jpg", good[1].read_bytes())
        zf.writestr("event/broken.tif", tiff_with_float_strip_offsets())
    corrupt_member_data(path, "event/corrupt.jpg")
    patch_member_header(path, "event/encrypted.jpg", flag_bits=0x1)
    patch_member_header(path, "event/method.jpg", method=99)
    return good


def test_hostile_archive_members_are_per_photo_errors_and_the_run_goes_on(
        tmp_path, lfw_dir, new_store):
    store = new_store()
    archive = tmp_path / "event.zip"
    good = hostile_archive(archive, lfw_dir)
    store.add_source("event", location=archive, kind="archive", **BASIS)

    report = ingest_within(store, "event")

    assert report.status == "completed"
    rows = {uri.rsplit("!/", 1)[1]: row for uri, row in photo_rows(store, "event").items()}
    assert len(rows) == len(good) + 5  # the duplicated name is recorded once
    assert all(rows[f"event/{p.name}"]["status"] == "ok" for p in good)
    expected = {
        "event/corrupt.jpg": "cannot read the archive member",
        "event/encrypted.jpg": "encrypted",
        "event/method.jpg": "compression method 99",
        "event/twice.jpg": "2 members of this name",
        "event/broken.tif": "cannot decode image",
    }
    for member, phrase in expected.items():
        assert rows[member]["status"] == "error" and phrase in rows[member]["error"], rows[member]
    assert report.errors == len(expected) and report.faces >= len(good)

    again = ingest_within(store, "event")  # a retry neither crashes nor reads anything again
    assert again.status == "completed" and again.photos == 0 and again.skipped == len(rows)


def test_a_file_listed_twice_in_a_url_list_is_recorded_once(tmp_path, lfw_dir, new_store):
    store = new_store()
    root = tmp_path / "root"
    photos = copy_photos(lfw_dir, root, 2)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([
        photos[0].as_uri(), photos[1].as_uri(), photos[0].as_uri(),
        f"file://localhost{photos[0]}", f"file://{root}/./{photos[0].name}",
    ]) + "\n")
    store.add_source("twice", location=listing, kind="urls", root=root, **BASIS)

    report = ingest_within(store, "twice")

    assert report.status == "completed" and report.photos == 2 and report.errors == 0
    rows = photo_rows(store, "twice")
    assert sorted(rows) == sorted(p.as_uri() for p in photos)
    run = store.catalog.run(report.run_id)
    written = [r for r in rows.values() if r["run_id"] == report.run_id]
    assert run.photos == len(written) == 2  # the run row claims only what was written


class _ExplodingAnalyzer:
    """Isolates the worker from the models: raises on the second photo it is given."""

    def __init__(self) -> None:
        self.calls = 0

    def analyze(self, bgr, largest_only=False):
        self.calls += 1
        if self.calls == 2:
            raise ZeroDivisionError("boom in the model")
        return []


def test_an_unexpected_exception_on_one_photo_is_recorded_with_its_class(tmp_path, lfw_dir):
    from faceledger.images import ImageLimits
    from faceledger.pipeline.listing import list_photos
    from faceledger.pipeline.worker import analyze_photo
    from faceledger.types import SourceInfo

    folder = tmp_path / "photos"
    copy_photos(lfw_dir, folder, 3)
    (folder / "zz-broken.tif").write_bytes(tiff_with_float_strip_offsets())
    info = SourceInfo(name="unit", kind="folder", location=str(folder), **BASIS)
    analyzer = _ExplodingAnalyzer()
    results = [analyze_photo(ref, analyzer, ImageLimits()) for ref in list_photos(info)]
    errors = [r.error for r in results]
    assert errors[0] is None and errors[2] is None  # the photos around it are analysed
    assert "ZeroDivisionError" in errors[1] and "boom in the model" in errors[1]
    assert "cannot decode image" in errors[3]  # the decoder's own TypeError, translated
