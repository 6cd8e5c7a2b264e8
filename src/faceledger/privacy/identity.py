"""The identity check behind a self-service rights request: is the person sending the
selfie the person the request was opened for?

When an admin opens a request, they check the person's identity against a **reference
photo** (an identity document, a photo the person brought in). :func:`enrol_reference`
keeps only what the check needs: the template of that photo's most prominent face, encrypted with
the store's key and bound to one token (``aad``), and the photo's SHA-256. The photo itself
is never stored.

When the request is made, :func:`check_identity` compares the selfie's most prominent face with
the reference, 1:1, at the store's *verification* operating point (``Store.verify``'s
default, ``FACELEDGER_OPERATING_FAR``): the same rule an investigator's verification
obeys. Nothing is searched, shown or erased unless this passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..errors import FaceLedgerError, IntegrityError, NoFaceError
from ..images import DecodedImage
from ..parts import HasKeys, HasModels
from ..search.engine import load_probe
from .crypto import TemplateCipher
from .selfie import selfie_face

Photo = bytes | str | Path | DecodedImage
_AAD = b"faceledger:subject-reference:"


@runtime_checkable
class IdentityParts(HasKeys, HasModels, Protocol):
    """Reference templates: the models (to embed a photo) and the cipher (to seal it)."""


@dataclass(frozen=True)
class ReferenceTemplate:
    """A reference photo as kept: its template encrypted, and its SHA-256."""

    template: bytes = field(repr=False)  # the store cipher's blob
    pack: str
    photo_sha256: str


@dataclass(frozen=True)
class IdentityCheck:
    verified: bool
    reason: str  # "verified", "no face in the selfie", "not the person of the reference" ...
    similarity: float | None
    threshold: float
    far: float
    selfie_sha256: str | None
    reference_sha256: str
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)

    def audit_fields(self) -> dict:
        return {"verified": self.verified, "reason": self.reason,
                "similarity": self.similarity, "threshold": self.threshold, "far": self.far,
                "selfie_sha256": self.selfie_sha256, "reference_sha256": self.reference_sha256}


def _largest_face(store: IdentityParts, image: DecodedImage, what: str) -> np.ndarray:
    face = selfie_face(store, image.bgr, f"the {what}")
    return np.asarray(face.embedding, dtype=np.float32)


def enrol_reference(store: IdentityParts, photo: Photo, token_id: str) -> ReferenceTemplate:
    """The sealed template of the reference photo's most prominent face, for token ``token_id``."""
    image = load_probe(photo, store.limits)
    vector = _largest_face(store, image, "reference photo")
    cipher = store.cipher
    aad = _AAD + token_id.encode()
    blob = (cipher.encrypt_vector(vector, aad=aad) if isinstance(cipher, TemplateCipher)
            else cipher.encrypt_vector(vector))
    return ReferenceTemplate(template=blob, pack=store.pack.name, photo_sha256=image.sha256)


def reseal_reference(cipher: TemplateCipher, template: bytes, token_id: str) -> bytes | None:
    """The reference ``template`` of token ``token_id`` encrypted with ``cipher``'s current
    key (``cipher`` still holding the key it was sealed with: a key rotation in progress);
    None when it is under the current key already."""
    if cipher.is_current(template):
        return None
    aad = _AAD + token_id.encode()
    return cipher.encrypt_vector(cipher.decrypt_vector(template, aad=aad), aad=aad)


def check_identity(
    store: IdentityParts, reference: ReferenceTemplate, token_id: str, selfie: Photo
) -> IdentityCheck:
    """Compare the selfie with the reference at the verification threshold. Never raises for
    a bad selfie (no face, unreadable): that is a failed check with its reason; a reference
    that cannot be opened (another pack, a retired key) raises."""
    point = store.operating_point(None)  # verification (1:1), not search
    if reference.pack != store.pack.name:
        raise IntegrityError(
            f"this token's reference was enrolled with pack {reference.pack}, the store now "
            f"uses {store.pack.name}; issue a new token"
        )
    cipher, aad = store.cipher, _AAD + token_id.encode()
    ref = (cipher.decrypt_vector(reference.template, aad=aad)
           if isinstance(cipher, TemplateCipher) else cipher.decrypt_vector(reference.template))

    def failed(reason: str, sha: str | None, similarity: float | None = None) -> IdentityCheck:
        return IdentityCheck(False, reason, similarity, point.match_threshold, point.far, sha,
                             reference.photo_sha256)

    try:
        image = load_probe(selfie, store.limits)
    except FaceLedgerError as exc:
        return failed(f"the selfie could not be read: {exc.message}", None)
    try:
        vector = _largest_face(store, image, "selfie")
    except NoFaceError as exc:
        return failed(exc.message, image.sha256)
    similarity = float(np.dot(vector, ref))
    if similarity < point.match_threshold:
        return failed("the selfie is not of the person the request was opened for",
                      image.sha256, round(similarity, 4))
    return IdentityCheck(True, "verified", round(similarity, 4), point.match_threshold, point.far,
                         image.sha256, reference.photo_sha256, embedding=vector)
