"""What the subjects modules take from the store (see :mod:`faceledger.parts`)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from ..parts import (
    HasAudit,
    HasCatalog,
    HasKeys,
    HasLocks,
    HasModels,
    HasSettings,
    HasSources,
)


@runtime_checkable
class SubjectParts(HasSettings, HasLocks, HasCatalog, HasAudit, HasKeys, HasModels, HasSources,
                   Protocol):
    """Enrolment, watches, alerts and webhooks: the catalog's subject tables, the audit log,
    the template cipher, the models (to embed example photos), the sources (an enrolment's
    lawful basis) and the decrypted-template cache kept on the store."""

    template_cache: Any
