"""Photos in S3-compatible object storage: list a bucket prefix, read one object, bounded.

All access to S3 is here (boto3, imported only when an S3 source is used: it is the ``s3``
extra). A source names ``s3://bucket/prefix``, an optional endpoint URL (SeaweedFS, MinIO,
Ceph; none for AWS itself) and an optional credentials profile name. The credentials come
from boto3's standard chain when the source is read (``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, ``~/.aws/credentials``, an instance role): they
are never stored in the catalog or in an audit entry.

Listing is paginated (``list_objects_v2``) and names each object once, as
``s3://bucket/key``. Reading an object is refused on its ``ContentLength`` before its body is
read and stops past the byte limit while streaming; connect and read timeouts and a total
deadline apply, and botocore retries transient failures (its "standard" mode: 5xx,
throttling, dropped connections) with backoff. A read checks again that the key is under the
source's prefix, so a URI stored for one source is never read from another place.
"""

from __future__ import annotations

import functools
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

from ..errors import (
    ImageTooLargeError,
    NotFoundError,
    PhotoFetchError,
    PhotoRefusedError,
    SourceError,
)
from ..images.files import read_capped
from ..privacy.s3_location import parse_s3_location

CHUNK = 1 << 20
CONNECT_SECONDS = 5.0
READ_SECONDS = 15.0
TOTAL_SECONDS = 120.0
ATTEMPTS = 4  # botocore's max_attempts: the first try and three retries


def _boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SourceError(
            "S3 sources need boto3: pip install 'faceledger[s3]' (or scripts/setup.sh)"
        ) from exc
    return boto3


@functools.lru_cache(maxsize=8)
def client(endpoint: str, profile: str) -> Any:
    """One S3 client per endpoint and profile in this process (boto3 clients are
    thread-safe and costly to build); credentials are resolved by boto3, not stored."""
    boto3 = _boto3()
    from botocore.config import Config
    from botocore.exceptions import ProfileNotFound

    try:
        session = boto3.session.Session(profile_name=profile or None)
    except ProfileNotFound as exc:
        raise SourceError(f"the credentials profile {profile!r} does not exist ({exc})") from exc
    config = Config(
        connect_timeout=CONNECT_SECONDS, read_timeout=READ_SECONDS,
        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint else None,
        signature_version="s3v4",
    )
    return session.client("s3", endpoint_url=endpoint or None, config=config,
                          region_name=session.region_name or "us-east-1")


def object_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def split_uri(uri: str, location: str, label: str) -> tuple[str, str]:
    """(bucket, key) of a stored ``s3://bucket/key``, which must be under ``location``."""
    bucket, prefix = parse_s3_location(location)
    parts = urllib.parse.urlsplit(uri)
    key = parts.path[1:] if parts.path.startswith("/") else parts.path
    if parts.scheme != "s3" or parts.netloc != bucket or parts.query or parts.fragment:
        raise PhotoRefusedError(f"{label}: is not an object of the source's bucket {bucket}")
    if not key or not key.startswith(prefix) or "\x00" in key:
        raise PhotoRefusedError(f"{label}: is not under the source's prefix {location}")
    return bucket, key


def list_keys(location: str, endpoint: str, profile: str, label: str) -> Iterator[str]:
    """Every object key under the source's prefix, page by page (folder markers left out)."""
    bucket, prefix = parse_s3_location(location)
    s3 = client(endpoint, profile)
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", ()):
                key = item["Key"]
                if not key.endswith("/"):
                    yield key
    except Exception as exc:
        raise SourceError(f"{label}: cannot list {location} ({_describe(exc)})") from exc


def read_object(uri: str, location: str, endpoint: str, profile: str, max_bytes: int,
                label: str | None = None) -> bytes:
    """One object's bytes, refused on its declared length and capped while streaming."""
    label = label or uri
    bucket, key = split_uri(uri, location, label)
    s3 = client(endpoint, profile)
    deadline = time.monotonic() + TOTAL_SECONDS
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except Exception as exc:
        raise _translate(exc, label) from exc
    body = response["Body"]
    try:
        length = int(response.get("ContentLength") or 0)
        if length > max_bytes:
            raise ImageTooLargeError(
                f"{label}: the object is {length} bytes, over the limit of {max_bytes} bytes; "
                "not downloaded"
            )
        def read(n: int) -> bytes:
            if time.monotonic() > deadline:
                raise PhotoFetchError(f"{label}: took longer than {TOTAL_SECONDS:g} s; cut off")
            try:
                return body.read(n)
            except Exception as exc:
                raise PhotoFetchError(f"{label}: reading the object failed "
                                      f"({_describe(exc)})") from exc

        return read_capped(read, max_bytes, f"{label}: the object runs past the limit of "
                           f"{max_bytes} bytes; cut off")
    finally:
        body.close()


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        err = response.get("Error", {})
        return f"{err.get('Code', type(exc).__name__)}: {err.get('Message', '')}".strip(": ")
    return f"{type(exc).__name__}: {exc}"


def _translate(exc: BaseException, label: str) -> Exception:
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return SourceError(
            f"{label}: no S3 credentials were found (set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or name a profile with --profile)"
        )
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404:
            return NotFoundError(f"{label}: no such object ({_describe(exc)})")
        if status == 403:
            return PhotoRefusedError(f"{label}: access denied ({_describe(exc)})")
    return PhotoFetchError(f"{label}: cannot read the object ({_describe(exc)})")
