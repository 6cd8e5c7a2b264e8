"""The face of a selfie (or reference photo) that a rights flow acts on.

Access, erasure and opt-out requests and identity checks act on "the" face of each photo the
person sends: its most prominent face (:mod:`faceledger.models.prominence`). A face whose
quality (:mod:`faceledger.models.quality`) is under :data:`SELFIE_MIN_QUALITY` is not acted
on: a poor selfie meets strangers above the thresholds (the poor-probe measurement in
docs/benchmarks.md), so the person is asked for a better one instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import NoFaceError, PoorPhotoError
from ..search.probe_quality import POOR_PROBE_QUALITY
from ..types import FaceEmbedding

if TYPE_CHECKING:
    import numpy as np

    from ..parts import HasModels

SELFIE_MIN_QUALITY = POOR_PROBE_QUALITY


def selfie_face(store: HasModels, bgr: np.ndarray, what: str) -> FaceEmbedding:
    """The most prominent face of ``bgr`` (``what``: "selfie 2", "the reference photo"),
    embedded; :class:`NoFaceError` when there is none, :class:`PoorPhotoError` when it is too
    poor to act on."""
    faces = store.analyzer.analyze(bgr, largest_only=True)
    if not faces:
        raise NoFaceError(f"no face was found in {what}")
    face = faces[0]
    if face.quality < SELFIE_MIN_QUALITY:
        raise PoorPhotoError(
            f"the face in {what} is too poor to be used (quality {face.quality:.2f}, at least "
            f"{SELFIE_MIN_QUALITY} needed): please send a sharper photo, taken in good light, "
            "facing the camera, with the face filling a good part of the frame")
    return face
