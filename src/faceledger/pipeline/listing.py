"""What photos a source holds: a folder walked recursively, a zip archive, or an explicit
list of ``file://`` URIs under a root the source declares.

Listing only names photos, each URI once; reading them, and every check on what is read
(containment, regular files, sizes, archive members), is :mod:`faceledger.pipeline.reader`'s.
A folder is walked without following links to directories; a link to a file is listed
under its own name inside the folder, and the reader decides whether it may be followed.
"""

from __future__ import annotations

import os
import urllib.parse
import zipfile
from collections import Counter
from pathlib import Path

from ..errors import FaceLedgerError, NotFoundError, SourceError
from ..images.decode import IMAGE_SUFFIXES
from ..images.files import open_regular, read_fd
from ..types import SourceInfo
from .reader import PhotoRef, SourceAccess

MAX_LISTING_BYTES = 256 * 1024 * 1024  # a URL list this long holds millions of photos

__all__ = ["PhotoRef", "SourceAccess", "canonical_uri", "list_photos"]


def list_photos(source: SourceInfo) -> list[PhotoRef]:
    access = SourceAccess.of(source)
    if source.kind == "folder":
        return _list_folder(access)
    if source.kind == "urls":
        return _list_urls(access)
    if source.kind == "archive":
        return _list_archive(access)
    raise NotFoundError(f"source {source.name!r}: kind {source.kind!r} cannot be listed")


def _is_photo_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _list_folder(access: SourceAccess) -> list[PhotoRef]:
    root = Path(access.location).absolute()
    if not root.is_dir():
        raise NotFoundError(f"source {access.name!r}: folder {root} does not exist")
    uris = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        uris.extend(Path(dirpath, n).as_uri() for n in filenames if _is_photo_name(n))
    return [PhotoRef(uri, access) for uri in sorted(uris)]


def canonical_uri(line: str) -> str:
    """One spelling per local file (``file://localhost/a/./b.jpg`` -> ``file:///a/b.jpg``)
    so a file listed twice is recorded once; anything that is not an absolute ``file://``
    URI is kept as written, for the reader to refuse with its reason."""
    parsed = urllib.parse.urlparse(line)
    path = urllib.parse.unquote(parsed.path)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return line
    if not path.startswith("/") or "\x00" in path:
        return line
    return Path(os.path.normpath(path)).as_uri()


def _list_urls(access: SourceAccess) -> list[PhotoRef]:
    label = f"source {access.name!r}: URL list {access.location}"
    try:
        fd = open_regular(access.location, label)
    except FaceLedgerError as exc:
        raise SourceError(exc.message) from exc
    try:
        data = read_fd(fd, MAX_LISTING_BYTES, label)
    except FaceLedgerError as exc:
        raise SourceError(exc.message) from exc
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{label} is not UTF-8 text ({exc})") from exc
    seen: dict[str, None] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            seen.setdefault(canonical_uri(line), None)
    return [PhotoRef(uri, access) for uri in seen]


def _list_archive(access: SourceAccess) -> list[PhotoRef]:
    label = f"source {access.name!r}: archive {access.location}"
    try:
        fd = open_regular(access.location, label)
    except FaceLedgerError as exc:
        raise SourceError(exc.message) from exc
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh, zipfile.ZipFile(fh) as zf:
            names = Counter(
                i.filename for i in zf.infolist() if not i.is_dir() and _is_photo_name(i.filename)
            )
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise SourceError(f"{label} is not a readable zip archive ({exc})") from exc
    finally:
        os.close(fd)
    prefix = access.archive_prefix
    return [
        PhotoRef(
            prefix + name, access, member=name,
            problem=None if count == 1 else (
                f"the archive holds {count} members of this name; refused as ambiguous"
            ),
        )
        for name, count in sorted(names.items())
    ]
