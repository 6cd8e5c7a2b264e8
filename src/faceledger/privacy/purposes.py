"""Purpose limitation made visible (GDPR Art. 5(1)(b)): a search's purpose against the
purposes its sources declare.

A search's purpose *matches* a source when the two are the same words, compared without
case and extra spaces. The regulator's report groups searches by the source purpose they
match and flags the rest; with ``Settings.refuse_undeclared_purpose``
(``FACELEDGER_REFUSE_UNDECLARED_PURPOSE=1``) such a search is refused before any probe is
read. The comparison is deliberately literal: whether "find a missing person" falls under
"attendees find their photos" is a judgement the software cannot make, so it shows the
mismatch to a person who can.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import PurposeNotDeclaredError


def normalize(purpose: str | None) -> str:
    return " ".join((purpose or "").casefold().split())


def matching_sources(purpose: str | None, sources: Iterable[Any]) -> list[str]:
    """Names of the sources whose declared purpose is this purpose."""
    wanted = normalize(purpose)
    return sorted(s.name for s in sources if wanted and normalize(s.purpose) == wanted)


def enforce_declared_purpose(settings: Any, sources: Iterable[Any], purpose: str | None) -> None:
    """Refuse (when the setting is on) a purpose that no source declares."""
    if not getattr(settings, "refuse_undeclared_purpose", False):
        return
    sources = list(sources)
    if not matching_sources(purpose, sources):
        declared = sorted({s.purpose for s in sources})
        raise PurposeNotDeclaredError(
            f"the purpose {purpose!r} is not a purpose any source was collected for "
            f"(declared: {'; '.join(declared) or 'none'}); searches are limited to those "
            "purposes (FACELEDGER_REFUSE_UNDECLARED_PURPOSE)")
