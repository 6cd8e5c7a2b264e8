"""Named subjects: enrolment under a source's lawful basis, deletion, recognition.

A subject is a named person an operator enrols with example photos, under a source that
records the lawful basis for holding them (a watchlist, access control, a newsroom's list
of public figures): the source's controller, Art. 6 basis, Art. 9(2) condition and purpose
apply to the subject as they do to the source's photos. Only the most prominent face's template of
each example photo is kept, encrypted with the store's key and bound to the subject
(associated data), with the photo's SHA-256; the photos themselves are never stored.

Recognition compares each face of a photo with every subject's templates and keeps each
subject's best similarity. The decision comes from the pack's calibrated operating points
(:mod:`faceledger.search.decisions`), as a search's does: ``match`` names the subject,
``possible`` names a candidate for a human to check, anything below is ``unknown``.
Enrolment, deletion and every recognition are audited like searches (who, purpose, case,
what came back; never a template or a photo).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidRequestError, NoFaceError, NotFoundError
from ..images import DecodedImage
from ..privacy.audited import audited_change
from ..privacy.sources import validate_source
from ..search.decisions import OperatingPoint
from ..search.engine import load_probe
from ..store.catalog import utc_now
from ..store.subjects import SubjectRow, SubjectTables, subject_aad
from ..types import Box, Decision
from .cache import TemplateCache
from .parts import SubjectParts
from .validate import clean_text, positive_id, subject_name

if TYPE_CHECKING:

    from ..types import ActionContext

Photo = "bytes | str | Path | DecodedImage"
SUBJECTS_LOCK = "subjects"
MAX_EXAMPLES = 10
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Recognition:
    """One face of the photo and who it is, as far as the calibrated thresholds say."""

    box: Box
    label: str  # the subject's name when the decision is "match", else "unknown"
    decision: Decision
    similarity: float | None  # to the best subject (None: no subject enrolled)
    subject_id: int | None  # the subject decided "match"
    candidate: str | None = None  # the best subject's name when "possible"
    candidate_id: int | None = None
    source: str | None = None  # the subject's source (its lawful basis) when named


@dataclass(frozen=True)
class RecognitionResult:
    probe_sha256: str
    far: float
    match_threshold: float
    possible_threshold: float
    faces: list[Recognition] = field(default_factory=list)


def tables(store: SubjectParts) -> SubjectTables:
    return SubjectTables(store.catalog)


def seal(store: SubjectParts, vector: np.ndarray, aad: bytes) -> bytes:
    return store.cipher.encrypt_vector(np.asarray(vector, dtype=np.float32), aad=aad)


def unseal(store: SubjectParts, blob: bytes, aad: bytes) -> np.ndarray:
    return np.asarray(store.cipher.decrypt_vector(blob, aad=aad), dtype=np.float32)


def _largest_face(store: SubjectParts, image: DecodedImage, what: str) -> np.ndarray:
    faces = store.analyzer.analyze(image.bgr, largest_only=True)
    if not faces:
        raise NoFaceError(f"no face was found in {what}")
    return np.asarray(faces[0].embedding, dtype=np.float32)


def enrol_subject(
    store: SubjectParts, name: str, source: str, photos: list, context: ActionContext,
    consent: str = "",
) -> SubjectRow:
    """Enrol ``name`` under ``source`` with 1 to :data:`MAX_EXAMPLES` example photos.

    ``consent``: the reference of the person's recorded consent to be watched (a signed
    form, a ticket), required later for an operator's watch; empty when there is none."""
    name = subject_name(name)
    consent = clean_text(consent, "the consent reference", required=False)
    if not photos:
        raise InvalidRequestError("enrol a subject with at least one example photo")
    if len(photos) > MAX_EXAMPLES:
        raise InvalidRequestError(f"at most {MAX_EXAMPLES} example photos per subject")
    info = store.source(source)  # NotFoundError naming it
    validate_source(info)  # a subject is held under the source's lawful basis
    source_id = store.catalog.source(source).id
    images = [load_probe(p, store.limits) for p in photos]  # limits before any model runs
    vectors = [_largest_face(store, img, f"example photo {i + 1}")
               for i, img in enumerate(images)]
    hashes = [img.sha256 for img in images]
    inputs = {"name": name, "source": source, "photos_sha256": hashes,
              "consent_recorded": bool(consent)}
    with audited_change(store.audit, store.locks, "subject_enrol", context.actor,
                        context.purpose or info.purpose, context.case, inputs,
                        lock=SUBJECTS_LOCK, what="subject change") as done:
        subject_id = tables(store).add_subject(
            name, source_id, consent, store.pack.name, context.actor, utc_now(),
            lambda sid: [(h, seal(store, v, subject_aad(sid))) for h, v in zip(hashes, vectors)])
        done.outputs = {"subject_id": subject_id, "templates": len(vectors)}
    return tables(store).subject(subject_id)


def delete_subject(store: SubjectParts, subject_id: object, context: ActionContext) -> dict:
    """Delete a subject with its templates, watches and alerts (physically)."""
    sid = positive_id(subject_id, "the subject id")
    row = tables(store).subject(sid)
    with audited_change(store.audit, store.locks, "subject_delete", context.actor,
                        context.purpose or "subject deleted", context.case,
                        {"subject_id": sid, "name": row.name, "source": row.source},
                        lock=SUBJECTS_LOCK, what="subject change") as done:
        counts = tables(store).delete_subject(sid)
        done.outputs = counts
    return {"subject_id": sid, **counts}


def template_cache(store: SubjectParts) -> TemplateCache:
    """The store's cache of decrypted templates (see :mod:`.cache`)."""
    cache = getattr(store, "template_cache", None)
    if cache is None:
        cache = store.template_cache = TemplateCache()
    return cache


def subject_matrix(store: SubjectParts) -> tuple[np.ndarray, np.ndarray]:
    """(subject id of each template, decrypted templates) of the store's pack."""
    pairs = tables(store).template_ids(store.pack.name)
    if not pairs:
        return np.zeros(0, np.int64), np.zeros((0, store.pack.embedding_size), np.float32)
    owner = {t: s for s, t in pairs}
    kept, matrix = template_cache(store).matrix(
        "subject", [t for _s, t in pairs], store.pack.embedding_size,
        lambda ids: tables(store).sealed("subject", ids),
        lambda tid, blob: unseal(store, blob, subject_aad(owner[tid])))
    return np.array([owner[t] for t in kept], dtype=np.int64), matrix


def recognize_probe(
    store: SubjectParts, probe: DecodedImage, point: OperatingPoint, context: ActionContext,
) -> RecognitionResult:
    """Each face of ``probe`` against every subject; audited as ``recognize``."""
    faces = store.analyzer.analyze(probe.bgr)
    subject_ids, templates = subject_matrix(store)
    names = {s.id: s for s in tables(store).subjects()}
    out: list[Recognition] = []
    for face in faces:
        if not len(templates):
            out.append(Recognition(face.face.box, UNKNOWN, Decision.NO_MATCH, None, None))
            continue
        sims = templates @ np.asarray(face.embedding, dtype=np.float32)
        best: dict[int, float] = {}
        for sid, sim in zip(subject_ids.tolist(), sims.tolist()):
            best[sid] = max(best.get(sid, -1.0), sim)
        sid, sim = max(best.items(), key=lambda kv: kv[1])
        decision = point.decide(sim)
        row = names.get(sid)
        if decision is Decision.MATCH and row is not None:
            out.append(Recognition(face.face.box, row.name, decision, round(sim, 4), sid,
                                   source=row.source))
        elif decision is Decision.POSSIBLE and row is not None:
            out.append(Recognition(face.face.box, UNKNOWN, decision, round(sim, 4), None,
                                   candidate=row.name, candidate_id=sid, source=row.source))
        else:
            out.append(Recognition(face.face.box, UNKNOWN, Decision.NO_MATCH, round(sim, 4),
                                   None))
    result = RecognitionResult(probe.sha256, point.far, point.match_threshold,
                               point.possible_threshold, out)
    store.record(
        "recognize", context.actor, context.purpose, context.case,
        inputs={"probe_sha256": probe.sha256, "far": point.far,
                "subjects_enrolled": len(names)},
        outputs={"faces": [{"subject_id": r.subject_id, "candidate_id": r.candidate_id,
                            "similarity": r.similarity, "decision": r.decision.value}
                           for r in out]},
    )
    if not faces:
        raise NoFaceError("no face was found in the photo")
    return result


def subject(store: SubjectParts, subject_id: object) -> SubjectRow:
    try:
        return tables(store).subject(positive_id(subject_id, "the subject id"))
    except InvalidRequestError:
        raise NotFoundError(f"no subject {subject_id!r:.40}") from None
