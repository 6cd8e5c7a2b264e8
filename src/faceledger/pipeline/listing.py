"""What photos a source holds: a folder walked recursively, a zip archive, or an explicit
list of files.

Only the locations a source names are read; nothing follows links out of them.
"""

from __future__ import annotations

import urllib.parse
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError
from ..images.decode import IMAGE_SUFFIXES
from ..types import SourceInfo


@dataclass(frozen=True)
class PhotoRef:
    uri: str
    path: Path
    member: str | None = None  # the file inside a zip archive, when the source is one

    def read_bytes(self) -> bytes:
        if self.member is None:
            return self.path.read_bytes()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member)


def list_photos(source: SourceInfo) -> list[PhotoRef]:
    if source.kind == "folder":
        root = Path(source.location)
        if not root.is_dir():
            raise NotFoundError(f"source {source.name!r}: folder {root} does not exist")
        files = sorted(
            p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        return [PhotoRef(p.resolve().as_uri(), p) for p in files]
    if source.kind == "urls":
        listing = Path(source.location)
        if not listing.is_file():
            raise NotFoundError(f"source {source.name!r}: URL list {listing} does not exist")
        refs = []
        for line in listing.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            refs.append(PhotoRef(line, uri_to_path(line)))
        return refs
    if source.kind == "archive":
        archive = Path(source.location)
        if not zipfile.is_zipfile(archive):
            raise NotFoundError(f"source {source.name!r}: {archive} is not a readable zip archive")
        with zipfile.ZipFile(archive) as zf:
            members = sorted(
                i.filename for i in zf.infolist()
                if not i.is_dir() and Path(i.filename).suffix.lower() in IMAGE_SUFFIXES
            )
        base = archive.resolve().as_uri()
        return [PhotoRef(f"{base}!/{m}", archive.resolve(), m) for m in members]
    raise NotFoundError(f"source {source.name!r}: kind {source.kind!r} cannot be listed")


def ref_from_uri(uri: str) -> PhotoRef:
    """The reference behind a stored photo URI (a file, or a member of a zip archive)."""
    if "!/" in uri:
        archive, member = uri.split("!/", 1)
        return PhotoRef(uri, uri_to_path(archive), member)
    return PhotoRef(uri, uri_to_path(uri))


def uri_to_path(uri: str) -> Path:
    """The local path of a ``file://`` URI (or a plain path)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(urllib.parse.unquote(parsed.path if parsed.scheme else uri))
    raise NotFoundError(
        f"{uri}: only local files and file:// URIs can be read here (no crawling, no downloads)"
    )
