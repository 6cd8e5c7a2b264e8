"""Finding 4 (a few KB of input cost gigabytes): decoding and reading are bounded.

Before the fix a 7.8 KB JPEG claiming 8900 x 8900 was decoded at full size (+1.3 GB), a
175 KB 16-bit PNG took 2.2 GB, a 1 MB zip bomb was inflated whole (2.28 GB) before its size
was checked, and ``file:///dev/zero`` in a URL list was read until memory ran out.

The memory bound is checked in child processes (a bound, not a timing): each hostile input
is handled in its own child, whose peak RSS must stay under 400 MB, and a watchdog kills a
child that passes 1.5 GB so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import io
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import faceledger

from .childproc import run_child
from .conftest import BASIS, ingest_within, lfw_photos, photo_rows
from .hostile import jpeg_claiming, png_of_zeros, small_jpeg, zip_bomb

PEAK_MB = 400
SRC = str(Path(faceledger.__file__).resolve().parents[1])  # the faceledger under test


def webp_claiming(width: int, height: int) -> bytes:
    """A 1x1 lossless WebP whose VP8L header is patched to claim ``width`` x ``height``."""
    buf = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buf, format="WEBP", lossless=True)
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"VP8L" and data[20] == 0x2F
    bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1)
    bits |= (width - 1) | ((height - 1) << 14)
    data[21:25] = bits.to_bytes(4, "little")
    return bytes(data)


DECODE = """
import json, sys
from faceledger.images import decode_image
data = open(sys.argv[1] if len(sys.argv) > 1 else {path!r}, 'rb').read()
try:
    img = decode_image(data)
    out = {{"ok": True, "width": img.width, "height": img.height}}
except Exception as exc:
    out = {{"ok": False, "error": type(exc).__name__, "message": str(exc)}}
print("RESULT", json.dumps(out))
"""

READ = """
import json
from faceledger.errors import FaceLedgerError
from faceledger.images import ImageLimits, decode_image
from faceledger.pipeline.listing import list_photos
from faceledger.pipeline.reader import read_photo
from faceledger.types import SourceInfo
info = SourceInfo(name="hostile", kind={kind!r}, location={location!r}, root={root!r},
                  controller="c", lawful_basis="consent", purpose="p", retention_days=1,
                  special_category_condition="explicit-consent", minors_policy="none-expected")
results = []
for ref in list_photos(info):
    try:
        data = read_photo(ref, ImageLimits())
        decode_image(data)
        results.append({{"uri": ref.uri, "ok": True}})
    except FaceLedgerError as exc:
        results.append({{"uri": ref.uri, "ok": False, "error": type(exc).__name__,
                         "message": exc.message}})
print("RESULT", json.dumps(results))
"""


def _result(run):
    assert run.killed is None, f"the child was killed: {run.killed}\n{run.stderr[-2000:]}"
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the child crashed:\n{run.stderr[-2000:]}"
    return json.loads(lines[-1][len("RESULT "):])


def _decode_in_child(path: Path):
    run = run_child(DECODE.format(path=str(path)), env={"PYTHONPATH": SRC})
    return run, _result(run)


HOSTILE_IMAGES = {
    # name: (bytes maker, what must come out)
    "jpeg-claiming-8900x8900": (lambda: jpeg_claiming(8900, 8900), "reduced"),
    "png-16bit-8900x8900": (lambda: png_of_zeros(8900, 8900, 16, 0), "refused"),
    "webp-claiming-8900x8900": (lambda: webp_claiming(8900, 8900), "refused"),
    # the largest of each kind that the limits let through: decoded, and still bounded
    "png-16bit-8000x8000": (lambda: png_of_zeros(8000, 8000, 16, 0), "reduced"),
    "png-grey-8944x8944": (lambda: png_of_zeros(8944, 8944, 8, 0), "reduced"),
    "png-rgb-5790x5790": (lambda: png_of_zeros(5790, 5790, 8, 2), "reduced"),
    "png-rgba16-5790x5790": (lambda: png_of_zeros(5790, 5790, 16, 6), "reduced"),
}


@pytest.mark.parametrize("name", list(HOSTILE_IMAGES))
def test_a_hostile_image_decodes_in_bounded_memory(tmp_path, name):
    make, expected = HOSTILE_IMAGES[name]
    path = tmp_path / name
    path.write_bytes(make())
    assert path.stat().st_size < 1_000_000  # each is small on disk
    run, out = _decode_in_child(path)
    assert run.peak_rss_mb < PEAK_MB, f"{name}: peak RSS {run.peak_rss_mb:.0f} MB"
    if expected == "refused":
        assert not out["ok"] and out["error"] == "ImageTooLargeError", out
    else:
        assert out.get("ok") or out["error"] == "ImageDecodeError", out  # truncated data
        if out.get("ok"):
            assert max(out["width"], out["height"]) <= 4096, out


@pytest.mark.parametrize("expanded,reason", [
    (1 << 30, "declares 1073741824 bytes"),  # ~1 MB on disk, 1 GiB inflated
    (40 << 20, "zip bomb"),  # under the byte limit, but inflating 1000 times
    (40 << 20, "lying header"),  # declaring 1000 bytes: read with a cap, stopped
])
def test_a_zip_bomb_member_is_refused_before_it_is_inflated(tmp_path, expanded, reason):
    from .hostile import patch_member_header

    archive = zip_bomb(tmp_path / "bomb.zip", expanded=expanded)
    assert archive.stat().st_size < 2_000_000
    if reason == "lying header":
        patch_member_header(archive, "bomb.jpg", file_size=1000)
    run = run_child(READ.format(kind="archive", location=str(archive), root=""),
                    env={"PYTHONPATH": SRC})
    (out,) = _result(run)
    assert run.peak_rss_mb < PEAK_MB, f"peak RSS {run.peak_rss_mb:.0f} MB"
    assert not out["ok"], out
    if reason != "lying header":
        assert out["error"] == "ImageTooLargeError" and reason in out["message"], out


def test_dev_zero_and_a_fifo_in_a_url_list_are_refused_without_reading(tmp_path):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    listing = tmp_path / "list.txt"
    listing.write_text(f"file:///dev/zero\n{fifo.as_uri()}\n")
    for root in (str(tmp_path), "/dev"):  # even with /dev declared as the root
        run = run_child(READ.format(kind="urls", location=str(listing), root=root),
                        env={"PYTHONPATH": SRC}, timeout=60)
        out = {r["uri"]: r for r in _result(run)}
        assert run.peak_rss_mb < PEAK_MB
        assert not out["file:///dev/zero"]["ok"] and not out[fifo.as_uri()]["ok"], out
        assert out["file:///dev/zero"]["error"] == "PhotoRefusedError", out
        if root == "/dev":
            assert "character device" in out["file:///dev/zero"]["message"], out


def test_a_large_jpeg_is_decoded_reduced_and_always_to_the_same_size():
    from faceledger.images import decode_image

    rng = np.random.default_rng(1)
    arr = rng.integers(0, 255, (3000, 6000, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=70)
    data = buf.getvalue()
    first, second = decode_image(data), decode_image(data)
    assert (first.width, first.height) == (second.width, second.height) == (3000, 1500)


def test_the_decode_memory_limit_holds_before_decoding():
    from faceledger.errors import ImageTooLargeError
    from faceledger.images import ImageLimits, decode_image

    buf = io.BytesIO()
    Image.new("RGB", (1000, 1000)).save(buf, format="PNG")
    with pytest.raises(ImageTooLargeError, match="MiB to decode"):
        decode_image(buf.getvalue(), ImageLimits(max_decode_bytes=1024 * 1024))


def test_archive_members_are_checked_by_declared_size_and_ratio_and_read_with_a_cap(tmp_path):
    from faceledger.errors import ImageDecodeError, ImageTooLargeError
    from faceledger.images import ImageLimits
    from faceledger.pipeline.reader import read_member

    from .hostile import patch_member_header

    noise = np.random.default_rng(2).integers(0, 255, 3_000_000, dtype=np.uint8).tobytes()
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.jpg", noise)
        zf.writestr("lies.jpg", noise)
    limits = ImageLimits(max_bytes=1_000_000)
    with pytest.raises(ImageTooLargeError, match="declares 3000000 bytes"):
        read_member(archive, "big.jpg", limits, "big")
    patch_member_header(archive, "lies.jpg", file_size=900_000)  # the header understates it
    with pytest.raises((ImageDecodeError, ImageTooLargeError)):
        read_member(archive, "lies.jpg", limits, "lies")


def test_an_archive_with_a_zip_bomb_is_ingested_around_it(tmp_path, lfw_dir, new_store):
    store = new_store()
    archive = tmp_path / "photos.zip"
    zip_bomb(archive, member="event/bomb.jpg", expanded=40 << 20)
    with zipfile.ZipFile(archive, "a") as zf:
        for photo in lfw_photos(lfw_dir, 2):
            zf.write(photo, f"event/{photo.name}")
        zf.writestr("event/tiny.jpg", small_jpeg())
    store.add_source("bomb", location=archive, kind="archive", **BASIS)
    report = ingest_within(store, "bomb")
    assert report.status == "completed" and report.photos == 4 and report.errors == 1
    rows = photo_rows(store, "bomb")
    bomb = next(r for u, r in rows.items() if u.endswith("!/event/bomb.jpg"))
    assert bomb["status"] == "error" and "zip bomb" in bomb["error"]


if __name__ == "__main__":  # pragma: no cover - for running one hostile file by hand
    print(_decode_in_child(Path(sys.argv[1])))
