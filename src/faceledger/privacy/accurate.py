"""Accurate mode for the rights flows: a re-scoring step after the default index search.

The default index gives the shortlist (:func:`faceledger.search.fused.shortlist`); each
shortlisted face is cut from its photo again and compared with the selfies by the fused
scorer (:mod:`faceledger.models.fusion`); "match" and "possible" are then decided at the
fusion's own calibrated thresholds. A face whose photo cannot be read now cannot be
re-scored: it keeps the default pack's score and decision, so nothing a person holds is
left out of their copy or their erasure for that reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import NoFaceError
from ..models.fusion import FusedTemplate
from ..parts import HasCatalog, HasModels, HasSettings
from ..search.decisions import operating_point
from ..search.engine import load_probe
from ..search.fused import SHORTLIST_FAR, fused_point, group_by_photo, rescore, shortlist


@runtime_checkable
class AccurateParts(HasSettings, HasCatalog, HasModels, Protocol):
    """Re-scoring needs the models (both packs: the fused embedder, loaded on first use),
    the catalog (the shortlisted faces' photos) and a way to read those photos again."""

    def fused_embedder(self) -> Any: ...

    def photo_faces_as_read(self, photo_id: int) -> Any: ...


@dataclass(frozen=True)
class RescoredPerson:
    matches: list[tuple[int, float, str]]  # (face id, score, "match" or "possible"), best first
    threshold: float  # the fused threshold at the requested rate
    match_threshold: float  # ... at the store's verification rate
    scorer: str
    not_rescored: dict[int, str] = field(default_factory=dict)  # face id -> why


def shortlist_threshold(store: AccurateParts, far: float) -> float:
    """The default pack's threshold the index is searched at before re-scoring."""
    loose = operating_point(store.pack, SHORTLIST_FAR).match_threshold
    return min(loose, operating_point(store.pack, far).match_threshold)


def fused_selfies(store: AccurateParts, selfies: list, vectors: np.ndarray) -> list[FusedTemplate]:
    """Each selfie's face embedded by both packs: the face whose default embedding is the one
    already chosen for that selfie (``vectors``, in the same order)."""
    fused = store.fused_embedder()
    out = []
    for i, (selfie, vector) in enumerate(zip(selfies, np.atleast_2d(vectors)), 1):
        image = load_probe(selfie, store.limits)
        faces = store.analyzer.detect(image.bgr)
        if not faces:
            raise NoFaceError(f"no face was found in selfie {i}")
        primary = store.analyzer.embed(image.bgr, faces)
        chosen = faces[int(np.argmax(primary @ np.asarray(vector, dtype=np.float32)))]
        out.extend(fused.embed(image.bgr, [chosen]))
        del image
    return out


def rescore_person(store: AccurateParts, probes: list[FusedTemplate],
                   default_scores: dict[int, float], far: float) -> RescoredPerson:
    """Re-score the shortlist of ``default_scores`` (face id -> the default pack's best
    similarity to the selfies) with the fused scorer and decide at its thresholds."""
    fused = store.fused_embedder()
    point = fused_point(fused.spec, far)
    strict = fused_point(fused.spec, store.settings.operating_far).match_threshold
    default_far = operating_point(store.pack, far)
    default_strict = store.operating_point(None).match_threshold
    ids = shortlist(default_scores, default_far.match_threshold)
    held = store.catalog.faces(ids)  # erased since the index was read: dropped
    ids = [f for f in ids if f in held]
    result = rescore(fused, probes, group_by_photo(ids, {f: held[f].photo_id for f in ids}),
                     store.photo_faces_as_read)
    matches = []
    for face_id in ids:
        if face_id in result.scores:
            score = result.scores[face_id].score
            if score >= point.match_threshold:
                matches.append((face_id, round(score, 4),
                                "match" if score >= strict else "possible"))
        elif default_scores[face_id] >= default_far.match_threshold:
            sim = default_scores[face_id]
            matches.append((face_id, round(sim, 4),
                            "match" if sim >= default_strict else "possible"))
    matches.sort(key=lambda m: -m[1])
    return RescoredPerson(matches, point.match_threshold, strict, fused.spec.name,
                          dict(result.unreadable))


__all__ = ["RescoredPerson", "fused_selfies", "rescore_person", "shortlist_threshold"]
