"""What photos a source holds: a folder walked recursively, a zip archive, an explicit
list of ``file://`` URIs under a root the source declares and of ``http(s)`` URLs on hosts it
declares, or the objects under an S3 prefix.

Every file a source holds that is not listed as a photo (its name does not end in a format
that is decoded) is counted, by suffix, in the listing's ``unsupported``: ingest reports it,
so nothing a source holds is skipped in silence. A URL list's entries are all photos to it
(each one read is decoded or recorded as an error).

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
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import FaceLedgerError, NotFoundError, SourceError
from ..images.decode import IMAGE_SUFFIXES
from ..images.files import open_regular, read_fd
from ..privacy.declared_hosts import is_web_url
from ..privacy.s3_location import parse_s3_location
from ..types import SourceInfo
from . import s3_source
from .reader import PhotoRef, SourceAccess

MAX_LISTING_BYTES = 256 * 1024 * 1024  # a URL list this long holds millions of photos

__all__ = ["Listing", "PhotoRef", "SourceAccess", "canonical_uri", "list_photos", "list_source"]


@dataclass
class Listing:
    """The photos a source holds, and the files it holds that are not decoded (by suffix)."""

    refs: list[PhotoRef]
    unsupported: dict[str, int] = field(default_factory=dict)

    @property
    def unsupported_count(self) -> int:
        return sum(self.unsupported.values())


def list_source(source: SourceInfo) -> Listing:
    access = SourceAccess.of(source)
    if source.kind == "folder":
        return _list_folder(access)
    if source.kind == "urls":
        return Listing(_list_urls(access))
    if source.kind == "archive":
        return _list_archive(access)
    if source.kind == "s3":
        return _list_s3(access)
    raise NotFoundError(f"source {source.name!r}: kind {source.kind!r} cannot be listed")


def list_photos(source: SourceInfo) -> list[PhotoRef]:
    return list_source(source).refs


def _is_photo_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_SUFFIXES


def _suffix(name: str) -> str:
    return Path(name).suffix.lower() or "(no suffix)"


def _split_names(names, make) -> Listing:
    refs: list[PhotoRef] = []
    unsupported: Counter[str] = Counter()
    for name in names:
        if _is_photo_name(name):
            refs.append(make(name))
        else:
            unsupported[_suffix(name)] += 1
    return Listing(refs, dict(sorted(unsupported.items())))


def _list_folder(access: SourceAccess) -> Listing:
    root = Path(access.location).absolute()
    if not root.is_dir():
        raise NotFoundError(f"source {access.name!r}: folder {root} does not exist")
    paths = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        paths.extend(str(Path(dirpath, n)) for n in filenames)
    listing = _split_names(paths, lambda p: PhotoRef(Path(p).as_uri(), access))
    listing.refs.sort(key=lambda r: r.uri)
    return listing


def _list_s3(access: SourceAccess) -> Listing:
    bucket, _prefix = parse_s3_location(access.location)
    keys = s3_source.list_keys(access.location, access.endpoint, access.profile,
                               f"source {access.name!r}")
    return _split_names(
        keys, lambda key: PhotoRef(s3_source.object_uri(bucket, key), access)
    )


def canonical_uri(line: str) -> str:
    """One spelling per local file (``file://localhost/a/./b.jpg`` -> ``file:///a/b.jpg``)
    so a file listed twice is recorded once; anything that is not an absolute ``file://``
    URI (an http(s) URL, stored as written) is kept as written, for the reader to fetch or
    refuse with its reason."""
    if is_web_url(line):
        return line
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


def _list_archive(access: SourceAccess) -> Listing:
    label = f"source {access.name!r}: archive {access.location}"
    try:
        fd = open_regular(access.location, label)
    except FaceLedgerError as exc:
        raise SourceError(exc.message) from exc
    try:
        with os.fdopen(fd, "rb", closefd=False) as fh, zipfile.ZipFile(fh) as zf:
            members = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise SourceError(f"{label} is not a readable zip archive ({exc})") from exc
    finally:
        os.close(fd)
    prefix = access.archive_prefix
    names = Counter(m for m in members if _is_photo_name(m))
    unsupported = Counter(_suffix(m) for m in members if not _is_photo_name(m))
    return Listing([
        PhotoRef(
            prefix + name, access, member=name,
            problem=None if count == 1 else (
                f"the archive holds {count} members of this name; refused as ambiguous"
            ),
        )
        for name, count in sorted(names.items())
    ], dict(sorted(unsupported.items())))
