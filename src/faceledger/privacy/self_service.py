"""Self-service rights requests: what a person can do with a one-time subject token.

Unlike the operator-reviewed flows of the CLI (high recall, then a human review), nobody
reviews a self-service request. So each verb here needs an :class:`IdentityCheck` that
passed (the selfie is the person the request was opened for, see
:mod:`faceledger.privacy.identity`), and only faces at the strictest calibrated operating
point count: what comes back, or is erased, is the person's own faces, never look-alikes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..errors import IdentityNotVerifiedError
from ..parts import HasModels, HasSettings
from .access import AccessParts, PersonSearch, build_access_data, person_from_vectors
from .erasure import ErasureReport, erase
from .identity import IdentityCheck
from .rights import OptOutResult, RightsParts, opt_out_vectors

if TYPE_CHECKING:
    from ..types import ActionContext


@runtime_checkable
class StrictPointParts(HasSettings, HasModels, Protocol):
    """The strictest operating point: the pack's calibrated thresholds, else the settings'
    (a watch's subject token uses it too: :mod:`faceledger.subjects.watches`)."""


@runtime_checkable
class SelfServiceParts(AccessParts, RightsParts, Protocol):
    """A self-service request: the access copy's parts and the erasure and opt-out
    requests' parts (the audit log, the identity checks' entries, among them)."""


def self_service_far(store: StrictPointParts) -> float:
    """The strictest calibrated operating point of the store's pack: for a subject, a
    false match would show them (or erase) someone else's photo."""
    thresholds = store.pack.thresholds
    return min(thresholds) if thresholds else store.settings.operating_far


def _verified(check: IdentityCheck) -> IdentityCheck:
    if not check.verified or check.embedding is None:
        raise IdentityNotVerifiedError(f"identity not verified: {check.reason}")
    return check


def own_faces(store: SelfServiceParts, check: IdentityCheck) -> PersonSearch:
    """The verified person's faces, at the strictest operating point only."""
    check = _verified(check)
    return person_from_vectors(store, check.embedding, [check.selfie_sha256 or ""],
                               far=self_service_far(store))


def audit_identity_check(store: SelfServiceParts, context: ActionContext, check: IdentityCheck,
                         **details: Any) -> None:
    """Every attempt is logged, passed or not (hashes and scores, never a photo)."""
    store.audit.append("subject_identity_check", context.actor, context.purpose, context.case,
                       inputs={k: v for k, v in details.items()}, outputs=check.audit_fields())


def access_request(
    store: SelfServiceParts, check: IdentityCheck, context: ActionContext,
    recipients: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The person's copy (Art. 15) as data; logged."""
    person = own_faces(store, check)
    data = build_access_data(store, person, recipients)
    store.audit.append(
        "rights_access", context.actor, context.purpose, context.case,
        inputs={"selfies_sha256": person.selfies_sha256, "far": person.far,
                "identity_similarity": check.similarity},
        outputs={"face_ids": [f["face_id"] for f in data["faces"]]},
    )
    return data


def erasure_request(store: SelfServiceParts, check: IdentityCheck, context: ActionContext
                    ) -> ErasureReport:
    """Erase the person's own faces (Art. 17)."""
    person = own_faces(store, check)
    store.forget_person_templates(check.embedding, context)  # enrolments and watches too
    return erase(
        store, face_ids=person.face_ids, context=context, reason="art17-request",
        inputs={"selfies_sha256": person.selfies_sha256, "self_service": True,
                "identity_similarity": check.similarity},
    )


def opt_out_request(
    store: SelfServiceParts, check: IdentityCheck, context: ActionContext, reference: str
) -> OptOutResult:
    """Put the person on the opt-out list and erase their faces held now (Art. 21)."""
    check = _verified(check)
    return opt_out_vectors(store, check.embedding, [check.selfie_sha256 or ""], context,
                           reference=reference)
