"""An S3 source's declared location (``s3://bucket/prefix``) and endpoint, checked as text.

Credentials are never part of either: a location or endpoint that carries user info is
refused, and an S3 source stores only the name of a credentials profile (or none: the
standard AWS environment variables and files are used when it is read).
"""

from __future__ import annotations

import re
import urllib.parse

from ..errors import LawfulBasisError
from .declared_hosts import canonical_host

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY = 1024


def parse_s3_location(text: str) -> tuple[str, str]:
    """(bucket, key prefix) of ``s3://bucket[/prefix]``; the prefix has no leading slash."""
    parts = urllib.parse.urlsplit((text or "").strip())
    if parts.scheme != "s3":
        raise LawfulBasisError(f"S3 location {text!r} must start with s3://")
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise LawfulBasisError(
            f"S3 location {text!r} must be s3://bucket/prefix (no credentials, query or "
            "fragment; credentials come from the environment or a named profile)"
        )
    if not _BUCKET.match(parts.netloc) or ".." in parts.netloc:
        raise LawfulBasisError(f"S3 location {text!r}: {parts.netloc!r} is not a bucket name")
    prefix = parts.path.lstrip("/")
    if len(prefix) > MAX_KEY or "\x00" in prefix:
        raise LawfulBasisError(f"S3 location {text!r}: the prefix is not a valid key prefix")
    return parts.netloc, prefix


def check_endpoint(text: str) -> str:
    """An S3 endpoint URL (``http(s)://host[:port]``), as given, or a named refusal."""
    parts = urllib.parse.urlsplit((text or "").strip())
    problem = None
    if parts.scheme not in ("http", "https"):
        problem = "must be an http:// or https:// URL"
    elif "@" in parts.netloc:
        problem = ("carries user info; credentials are never stored with a source (use the "
                   "environment or --profile)")
    elif parts.path not in ("", "/") or parts.query or parts.fragment:
        problem = "must be only scheme://host[:port]"
    else:
        try:
            canonical_host(parts.netloc.rsplit(":", 1)[0] if not parts.netloc.startswith("[")
                           else parts.netloc[: parts.netloc.find("]") + 1])
            _ = parts.port
        except ValueError as exc:
            problem = str(exc)
    if problem:
        raise LawfulBasisError(f"S3 endpoint {text!r} refused: {problem}")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", "", ""))
