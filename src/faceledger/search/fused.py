"""Accurate mode: fused-score decisions, and re-scoring a shortlist of gallery faces.

Where only a few photos are compared (a verification, a person's selfies in a rights
request) the store can afford a second recognizer. The default index still gives the
shortlist: every face over the default pack's threshold at the requested rate, plus the next
best :data:`SHORTLIST_EXTRA` faces over its looser :data:`SHORTLIST_FAR` threshold (faces the
default pack scores a little low, which the fused score may recover). Each shortlisted face
is then cut from its photo again (read through the source's checks) and embedded by both
packs, and the decision is taken on the fused score against the fusion's own calibrated
thresholds (:class:`~faceledger.models.fusion.FusionSpec`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import FaceLedgerError
from ..images import DecodedImage
from ..models.fusion import FusedEmbedder, FusedScore, FusedTemplate, FusionSpec
from ..types import DetectedFace
from .decisions import OperatingPoint, operating_point

SHORTLIST_FAR = 1e-2
SHORTLIST_EXTRA = 20

# photo id -> the photo as read now and its catalogued faces (face id -> face, in its pixels)
PhotoFaces = Callable[[int], tuple[DecodedImage, dict[int, DetectedFace]]]


def fused_point(spec: FusionSpec, far: float) -> OperatingPoint:
    """The operating point of the fusion at one of its calibrated rates."""
    return operating_point(spec, far)


def shortlist(default_scores: dict[int, float], threshold: float,
              extra: int = SHORTLIST_EXTRA) -> list[int]:
    """Face ids to re-score: all at or over ``threshold`` (the default pack's at the requested
    rate) and the ``extra`` best of the others in ``default_scores``, best first."""
    ranked = sorted(default_scores, key=lambda f: -default_scores[f])
    over = [f for f in ranked if default_scores[f] >= threshold]
    under = [f for f in ranked if default_scores[f] < threshold][:max(0, extra)]
    return over + under


@dataclass
class Rescored:
    scores: dict[int, FusedScore] = field(default_factory=dict)
    unreadable: dict[int, str] = field(default_factory=dict)  # face id -> why


def rescore(embedder: FusedEmbedder, probes: list[FusedTemplate],
            faces_by_photo: dict[int, list[int]], photo_faces: PhotoFaces) -> Rescored:
    """The best fused score over ``probes`` of each gallery face (grouped by photo, so each
    photo is read once). A face whose photo cannot be read now is listed with the reason."""
    out = Rescored()
    for photo_id, face_ids in faces_by_photo.items():
        try:
            image, faces = photo_faces(photo_id)
        except FaceLedgerError as exc:  # gone or changed at its source
            out.unreadable.update({f: exc.message for f in face_ids})
            continue
        wanted = [f for f in face_ids if f in faces]
        out.unreadable.update({f: "not in its photo's catalogue" for f in face_ids
                               if f not in faces})
        templates = embedder.embed(image.bgr, [faces[f] for f in wanted])
        del image
        for face_id, template in zip(wanted, templates):
            out.scores[face_id] = max((embedder.score(p, template) for p in probes),
                                      key=lambda s: s.score)
    return out


def group_by_photo(face_ids: Iterable[int], photo_of: dict[int, int]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for f in face_ids:
        groups.setdefault(photo_of[f], []).append(f)
    return groups


__all__ = ["SHORTLIST_EXTRA", "SHORTLIST_FAR", "Rescored", "fused_point", "group_by_photo",
           "rescore", "shortlist"]
