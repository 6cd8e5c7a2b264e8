"""Finding 1 (sources): a source reads only regular files inside itself.

Before the fix a folder source followed links out of itself and stored the link's target
as the photo's URI (``file:///etc/passwd``, the template key file, an HTML page), a URL
list read any local path (relative ones against the working directory), and a FIFO in a
URL list hung the ingest forever.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from faceledger.cli.main import main
from faceledger.errors import LawfulBasisError
from faceledger.privacy.crypto import default_keys_dir

from .conftest import BASIS, copy_photos, ingest_within, photo_rows

HTML = b"<html><script>fetch('/api/whoami')</script></html>"


def _key_files() -> list[Path]:
    return [p for p in default_keys_dir().glob("*.key") if p.is_file()]


def test_a_folder_link_to_a_file_outside_is_refused_and_its_target_never_named(
        tmp_path, lfw_dir, new_store):
    store = new_store()
    folder = tmp_path / "photos"
    good = copy_photos(lfw_dir, folder, 2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "page.html").write_bytes(HTML)
    keys = _key_files()
    assert keys, "the store's template key file should exist"
    (folder / "passwd.jpg").symlink_to("/etc/passwd")
    (folder / "key.jpg").symlink_to(keys[0])
    (folder / "page.jpg").symlink_to(outside / "page.html")
    store.add_source("links", location=folder, **BASIS)

    report = ingest_within(store, "links")

    assert report.status == "completed"
    rows = photo_rows(store, "links")
    for target in ("/etc/passwd", str(keys[0]), str(outside)):
        for row in rows.values():
            assert target not in row["uri"] and target not in (row["error"] or ""), row
    for name in ("passwd.jpg", "key.jpg", "page.jpg"):
        row = rows[(folder / name).as_uri()]
        assert row["status"] == "error"
        assert "link that leads outside the source" in row["error"]
    assert all(rows[p.as_uri()]["status"] == "ok" for p in good)


def test_a_folder_link_to_a_directory_outside_is_not_walked(tmp_path, lfw_dir, new_store):
    store = new_store()
    folder = tmp_path / "photos"
    copy_photos(lfw_dir, folder, 1)
    elsewhere = tmp_path / "elsewhere"
    copy_photos(lfw_dir, elsewhere, 3)
    (folder / "more").symlink_to(elsewhere, target_is_directory=True)
    store.add_source("dirlink", location=folder, **BASIS)
    ingest_within(store, "dirlink")
    uris = list(photo_rows(store, "dirlink"))
    assert len(uris) == 1 and all(str(elsewhere) not in u for u in uris)


def test_a_link_that_stays_inside_the_folder_is_followed(tmp_path, lfw_dir, new_store):
    store = new_store()
    folder = tmp_path / "photos"
    (good,) = copy_photos(lfw_dir, folder / "a", 1)
    (folder / "alias.jpg").symlink_to(good)
    store.add_source("inside", location=folder, **BASIS)
    ingest_within(store, "inside")
    rows = photo_rows(store, "inside")
    assert rows[good.as_uri()]["status"] == "ok"
    assert rows[(folder / "alias.jpg").as_uri()]["status"] == "duplicate"  # same bytes, read


def test_fifos_and_devices_in_a_folder_are_refused_per_photo_without_blocking(
        tmp_path, lfw_dir, new_store):
    store = new_store()
    folder = tmp_path / "photos"
    good = copy_photos(lfw_dir, folder, 1)
    fifo = folder / "pipe.jpg"
    os.mkfifo(fifo)
    device = folder / "zero.jpg"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # like /dev/zero
    except PermissionError:
        device = None
    store.add_source("special", location=folder, **BASIS)

    report = ingest_within(store, "special", timeout=120, fifos=(fifo,))

    assert report.status == "completed"
    rows = photo_rows(store, "special")
    assert rows[good[0].as_uri()]["status"] == "ok"
    assert rows[fifo.as_uri()]["status"] == "error"
    assert "FIFO" in rows[fifo.as_uri()]["error"]
    if device is not None:
        assert "character device" in rows[device.as_uri()]["error"]


def test_a_url_list_needs_a_declared_root(tmp_path, new_store):
    store = new_store()
    listing = tmp_path / "list.txt"
    listing.write_text("")
    with pytest.raises(LawfulBasisError, match="root"):
        store.add_source("noroot", location=listing, kind="urls", **BASIS)
    assert store.sources() == []
    result = CliRunner().invoke(main, [
        "--data", str(store.data_dir), "source", "add", "noroot", "--kind", "urls",
        "--path", str(listing), "--controller", "c", "--basis", "consent",
        "--art9", "explicit-consent", "--purpose", "p", "--retention", "30d",
        "--minors-policy", "none-expected",
    ])
    assert result.exit_code != 0 and "--root" in result.output


def test_a_url_list_reads_only_absolute_file_uris_inside_its_root(
        tmp_path, lfw_dir, new_store, monkeypatch):
    from faceledger.pipeline.listing import canonical_uri

    store = new_store()
    root = tmp_path / "root"
    good = copy_photos(lfw_dir, root, 2)
    outside = tmp_path / "outside"
    (secret,) = copy_photos(lfw_dir, outside, 1)
    fifo = root / "pipe.jpg"
    os.mkfifo(fifo)
    (root / "sub.jpg").mkdir()
    (root / "out.jpg").symlink_to(secret)
    monkeypatch.chdir(root)  # where a relative path used to be resolved
    lines = {
        "good": good[0].as_uri(),
        "relative": good[1].name,
        "plain": str(good[1]),
        "passwd": "file:///etc/passwd",
        "dotdot": f"file://{root}/../outside/{secret.name}",
        "http": "http://example.com/photo.jpg",
        "host": f"file://otherhost{good[1]}",
        "zero": "file:///dev/zero",
        "fifo": fifo.as_uri(),
        "dir": (root / "sub.jpg").as_uri(),
        "link": (root / "out.jpg").as_uri(),
    }
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(lines.values()) + "\n")
    store.add_source("urls", location=listing, kind="urls", root=root, **BASIS)

    report = ingest_within(store, "urls", timeout=120, fifos=(fifo,))

    assert report.status == "completed"
    rows = photo_rows(store, "urls")
    assert [r["status"] for r in rows.values()].count("ok") == 1
    assert rows[lines["good"]]["status"] == "ok"
    expected = {
        "relative": "only absolute file:// URIs", "plain": "only absolute file:// URIs",
        "passwd": "outside the source's root", "dotdot": "outside the source's root",
        "http": "not a host this source declares", "host": "another host",
        "zero": "outside the source's root", "fifo": "FIFO", "dir": "a directory",
        "link": "link that leads outside",
    }
    assert len(rows) == len(lines)
    for key, phrase in expected.items():
        row = rows[canonical_uri(lines[key])]  # one spelling per file: '..' is folded
        assert row["status"] == "error" and phrase in row["error"], (key, row)


def test_a_url_list_stored_without_a_root_is_refused_at_ingest(tmp_path, lfw_dir, new_store):
    from faceledger.errors import SourceError

    store = new_store()
    root = tmp_path / "root"
    good = copy_photos(lfw_dir, root, 1)
    listing = tmp_path / "list.txt"
    listing.write_text(good[0].as_uri() + "\n")
    store.add_source("legacy", location=listing, kind="urls", root=root, **BASIS)
    with store.catalog.write() as conn:  # as a store made before roots were declared
        conn.execute("UPDATE sources SET root = '' WHERE name = 'legacy'")
    with pytest.raises((SourceError, LawfulBasisError), match="root"):
        store.ingest("legacy", workers=1)
    assert photo_rows(store, "legacy") == {}


def test_a_folder_swapped_for_a_link_between_the_check_and_the_open_is_refused(
        tmp_path, lfw_dir, monkeypatch):
    """The race: the path is checked (resolved inside the root), then a folder on it is
    swapped for a link to outside before the open. The check is made to see the old tree
    (realpath as if no link existed); the component-by-component O_NOFOLLOW open must
    still refuse to follow the link."""
    from faceledger.errors import PhotoRefusedError
    from faceledger.pipeline import reader

    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (secret,) = copy_photos(lfw_dir, outside, 1)
    root.mkdir()
    (root / "sub").symlink_to(outside, target_is_directory=True)  # the swap, already done
    stale = os.path.normpath
    monkeypatch.setattr(reader.os.path, "realpath", lambda p: stale(os.fspath(p)))
    with pytest.raises(PhotoRefusedError, match="changed while it was being opened"):
        reader.read_inside(root, root / "sub" / secret.name, 10**8, "race")
