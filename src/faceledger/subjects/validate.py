"""Checks on what people type into subjects and watches: names, consent references,
purposes. Each refusal names the field and the problem."""

from __future__ import annotations

import unicodedata

from ..errors import InvalidRequestError

MAX_NAME = 200
MAX_TEXT = 500


def clean_text(value: object, what: str, limit: int = MAX_TEXT, required: bool = True) -> str:
    """``value`` stripped; refused when empty (if required), too long, or holding control,
    format (bidirectional overrides, zero-width) or unassigned characters, which could make
    a name look like another one in a list or a log."""
    if not isinstance(value, str):
        raise InvalidRequestError(f"{what} must be text")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        if required:
            raise InvalidRequestError(f"{what} is empty")
        return ""
    if len(text) > limit:
        raise InvalidRequestError(f"{what} is longer than {limit} characters")
    bad = sorted({f"U+{ord(c):04X}" for c in text
                  if unicodedata.category(c) in ("Cc", "Cf", "Cn", "Cs", "Co", "Zl", "Zp")})
    if bad:
        raise InvalidRequestError(f"{what} holds control or invisible characters "
                                  f"({', '.join(bad[:5])})")
    return text


def subject_name(value: object) -> str:
    return clean_text(value, "the subject's name", MAX_NAME)


def positive_id(value: object, what: str) -> int:
    """An id as given on a command line or in JSON: a positive integer in SQLite's range."""
    if isinstance(value, bool):
        raise InvalidRequestError(f"{what} must be a positive integer")
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise InvalidRequestError(f"{what} must be a positive integer, not {value!r:.40}") \
            from None
    if not 1 <= number <= 2**63 - 1:
        raise InvalidRequestError(f"{what} must be a positive integer")
    return number
