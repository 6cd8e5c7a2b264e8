"""Sources and their lawful basis.

A source is a targeted collection (a folder, an archive, an explicit list of URLs, the
objects under one S3 prefix) that a
controller holds for a stated purpose under a GDPR Art. 6 basis and, because face templates
are biometric data, an Art. 9(2) condition. faceledger refuses to ingest a photo that does not
belong to such a source; it never crawls.
"""

from __future__ import annotations

import re

from ..errors import LawfulBasisError
from ..types import SourceInfo
from .declared_hosts import parse_declared_hosts
from .s3_location import check_endpoint, parse_s3_location

LAWFUL_BASES = {
    "consent": "GDPR Art. 6(1)(a) consent",
    "contract": "GDPR Art. 6(1)(b) contract",
    "legal-obligation": "GDPR Art. 6(1)(c) legal obligation",
    "vital-interests": "GDPR Art. 6(1)(d) vital interests",
    "public-task": "GDPR Art. 6(1)(e) public task",
    "legitimate-interests": "GDPR Art. 6(1)(f) legitimate interests",
}

ART9_CONDITIONS = {
    "explicit-consent": "GDPR Art. 9(2)(a) explicit consent",
    "employment": "GDPR Art. 9(2)(b) employment and social security law",
    "vital-interests": "GDPR Art. 9(2)(c) vital interests",
    "made-public": "GDPR Art. 9(2)(e) manifestly made public by the data subject",
    "legal-claims": "GDPR Art. 9(2)(f) legal claims or courts",
    "substantial-public-interest": "GDPR Art. 9(2)(g) substantial public interest (law)",
    "archiving-research": "GDPR Art. 9(2)(j) archiving, research or statistics (law)",
}

MINORS_POLICIES = {
    "none-expected": "the controller states the source is not expected to hold minors "
    "(faceledger does not estimate ages)",
    "guardian-consent": "minors may appear; consent of those with parental responsibility is "
    "recorded by the controller",
    "excluded-by-review": "the controller reviews photos and removes minors before ingest",
}

SOURCE_KINDS = ("folder", "archive", "urls", "s3")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_RETENTION = re.compile(r"^\s*(\d+)\s*([dwmy]?)\s*$")
_UNIT_DAYS = {"": 1, "d": 1, "w": 7, "m": 30, "y": 365}


def parse_retention(text: str | int) -> int:
    """'365d', '52w', '12m', '1y' or a number of days -> days."""
    if isinstance(text, int):
        days = text
    else:
        match = _RETENTION.match(str(text).lower())
        if not match:
            raise LawfulBasisError(
                f"retention {text!r} is not understood: "
                "give days like '365d', or '52w', '12m', '1y'"
            )
        days = int(match.group(1)) * _UNIT_DAYS[match.group(2)]
    if days <= 0:
        raise LawfulBasisError("retention must be at least one day")
    return days


def validate_source(info: SourceInfo) -> None:
    """Raise :class:`LawfulBasisError` naming every field a source lacks."""
    problems = []
    if not _NAME.match(info.name or ""):
        problems.append(
            "name must be 1-64 letters, digits, '.', '_' or '-' and start with a letter or digit"
        )
    if info.kind not in SOURCE_KINDS:
        problems.append(f"kind must be one of {', '.join(SOURCE_KINDS)}")
    if not (info.location or "").strip():
        problems.append("location is missing")
    if info.kind == "urls" and not (info.root or "").strip() and not info.hosts:
        problems.append(
            "a URL list needs a declared root directory that every file:// photo it names is "
            "inside (--root DIR), or the web hosts its http(s) URLs are on (--host URL), or both"
        )
    if info.kind != "urls" and (info.root or "").strip():
        problems.append("a root is declared only for a URL list (a folder is its own root)")
    if info.kind != "urls" and info.hosts:
        problems.append("web hosts are declared only for a URL list")
    try:
        parse_declared_hosts(info.hosts)
    except LawfulBasisError as exc:
        problems.append(exc.message)
    if info.kind == "s3":
        try:
            parse_s3_location(info.location)
            if info.endpoint:
                check_endpoint(info.endpoint)
        except LawfulBasisError as exc:
            problems.append(exc.message)
        if info.profile and not _NAME.match(info.profile):
            problems.append("a credentials profile is named by letters, digits, '.', '_', '-'")
    elif info.endpoint or info.profile:
        problems.append("an endpoint and a credentials profile are declared only for S3")
    if not (info.controller or "").strip():
        problems.append("controller is missing")
    if info.lawful_basis not in LAWFUL_BASES:
        problems.append(
            f"lawful basis {info.lawful_basis!r} is not an Art. 6 basis ({', '.join(LAWFUL_BASES)})"
        )
    if info.special_category_condition not in ART9_CONDITIONS:
        problems.append(
            f"Art. 9(2) condition {info.special_category_condition!r} for biometric data is "
            f"missing or unknown ({', '.join(ART9_CONDITIONS)})"
        )
    if not (info.purpose or "").strip():
        problems.append("purpose is missing")
    if not isinstance(info.retention_days, int) or info.retention_days <= 0:
        problems.append("retention is missing")
    if info.minors_policy not in MINORS_POLICIES:
        problems.append(
            f"minors policy {info.minors_policy!r} is missing or unknown "
            f"({', '.join(MINORS_POLICIES)})"
        )
    if problems:
        raise LawfulBasisError(f"source {info.name!r} refused: " + "; ".join(problems))
