"""What photos a source holds: a folder walked recursively, or an explicit list.

Only the locations a source names are read; nothing follows links out of them.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import NotFoundError
from ..images.decode import IMAGE_SUFFIXES
from ..types import SourceInfo


@dataclass(frozen=True)
class PhotoRef:
    uri: str
    path: Path


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
    raise NotFoundError(f"source {source.name!r}: kind {source.kind!r} cannot be listed yet")


def uri_to_path(uri: str) -> Path:
    """The local path of a ``file://`` URI (or a plain path)."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(urllib.parse.unquote(parsed.path if parsed.scheme else uri))
    raise NotFoundError(
        f"{uri}: only local files and file:// URIs can be read here (no crawling, no downloads)"
    )
