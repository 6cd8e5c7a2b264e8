"""Data-subject requests that combine the pieces: erasure by selfie, opt-out.

``erase_person`` finds a person's faces (as for access) and erases them; the CLI shows the
list for review between the two steps, the library takes the ids the reviewer kept. Faces
reached only through the persons of the matches (``PersonSearch.cluster``) are erased only
when confirmed: listed in the reviewed ids, or all of them with ``include_cluster``.
``opt_out_person`` puts the person's template on the opt-out list and, by default, erases
the faces held now at the store's strict operating point (not the high-recall one: erasing
a stranger's face by mistake cannot be undone).

``erase_person_id`` and ``opt_out_person_id`` act on a whole person (a cluster a reviewer
looked at, e.g. on its person page): every face of it is erased, and for the opt-out the
normalised mean of its faces' embeddings goes on the opt-out list first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from ..parts import HasSettings
from .access import (
    FindPersonParts,
    PersonSearch,
    Selfie,
    person_from_vectors,
    selfie_embeddings,
    with_persons,
)
from .accurate import fused_selfies
from .audited import audited_change
from .erasure import ErasureParts, ErasureReport, erase
from .optout import OptOutEntry

if TYPE_CHECKING:
    from ..models.fusion import FusedTemplate
    from ..types import ActionContext

OPTOUT_LOCK = "optout"


@runtime_checkable
class RightsParts(FindPersonParts, ErasureParts, HasSettings, Protocol):
    """Erasure and opt-out requests: finding the person, erasing their faces, the opt-out
    list (in the privacy lists), the settings (the strict operating point; the data dir),
    and the root's verb that forgets the person's subject enrolments and watches
    (:mod:`faceledger.subjects`)."""

    def forget_person_templates(self, vectors: np.ndarray,
                                context: ActionContext | None = None) -> dict: ...


@dataclass(frozen=True)
class OptOutResult:
    entry: OptOutEntry
    erased: ErasureReport | None


def erase_person(
    store: RightsParts,
    selfies: list[Selfie],
    face_ids: list[int] | None = None,
    context: ActionContext | None = None,
    far: float | None = None,
    vacuum: bool = False,
    include_possible: bool = False,
    include_cluster: bool = False,
    accurate: bool | None = None,
) -> ErasureReport:
    """Erase the faces found for these selfies: those decided "match" (and "possible" ones
    with ``include_possible``, those reached only through the person's cluster with
    ``include_cluster``), or, if given, the reviewed ``face_ids`` among those found
    directly or through the cluster. With ``accurate`` the decisions are the fused
    scorer's (:mod:`.accurate`)."""
    vectors, hashes = selfie_embeddings(store, selfies)
    fused = fused_selfies(store, selfies, vectors) if store.use_accurate(accurate) else None
    person = find_for_erasure(store, vectors, hashes, far, fused=fused)
    return erase_found(store, person, face_ids, context, vacuum, include_possible,
                       include_cluster)


def find_for_erasure(store: RightsParts, vectors: np.ndarray, hashes: list[str],
                     far: float | None = None, fused=None) -> PersonSearch:
    """What an erasure request finds, for review: the direct matches (re-scored by the
    fused scorer when ``fused`` holds the selfies embedded by both packs), and the faces
    reached only through their persons."""
    return with_persons(store, person_from_vectors(store, vectors, hashes, far, fused=fused))


def chosen_faces(person: PersonSearch, face_ids: list[int] | None = None,
                 include_possible: bool = False, include_cluster: bool = False) -> list[int]:
    """The faces of ``person`` an erasure takes: the reviewed ``face_ids`` among those
    found, or the "match" ones (and "possible" / cluster ones when asked)."""
    if face_ids is not None:
        return sorted({int(i) for i in face_ids}
                      & set(person.face_ids) | {int(i) for i in face_ids}
                      & set(person.cluster_face_ids))
    chosen = {m.face_id for m in person.matches if m.decision == "match" or include_possible}
    if include_cluster:
        chosen |= set(person.cluster_face_ids)
    return sorted(chosen)


def erase_found(store: RightsParts, person: PersonSearch, face_ids: list[int] | None = None,
                context: ActionContext | None = None, vacuum: bool = False,
                include_possible: bool = False, include_cluster: bool = False
                ) -> ErasureReport:
    """Erase what :func:`chosen_faces` picks of a reviewed :func:`find_for_erasure`."""
    chosen = chosen_faces(person, face_ids, include_possible, include_cluster)
    if person.queries is not None:
        store.forget_person_templates(person.queries, context)  # enrolments and watches
    cluster = set(person.cluster_face_ids)
    return erase(
        store,
        face_ids=chosen,
        context=context,
        reason="art17-request",
        inputs={"selfies_sha256": person.selfies_sha256, "found": len(person.matches),
                "reached_through_persons": len(cluster),
                "cluster_faces_erased": len(cluster & set(chosen))},
        vacuum=vacuum,
    )


def _person_vectors(store: RightsParts, person_id: int) -> tuple[list[int], np.ndarray]:
    from ..store.persons import Persons

    table = Persons(store.catalog)
    table.require(person_id)
    faces = table.members(person_id)
    rows = store.catalog.embeddings(faces, store.pack.name)
    vecs = [store.cipher.decrypt_vector(blob).astype(np.float32) for _, blob in rows]
    return faces, (np.stack(vecs) if vecs else np.zeros((0, 0), np.float32))


def erase_person_id(store: RightsParts, person_id: int, context: ActionContext | None = None,
                    vacuum: bool = False) -> ErasureReport:
    """Erase every face of this person (Art. 17); the person goes with its last face, and
    its enrolments and watches go too. Nothing of it stays in any person's data: no
    centroid is ever stored, and crops are cut on demand, never cached."""
    faces, vectors = _person_vectors(store, person_id)
    if vectors.shape[0]:
        store.forget_person_templates(vectors, context)
    return erase(store, face_ids=faces, context=context, reason="art17-request",
                 inputs={"person": int(person_id)}, vacuum=vacuum)


def opt_out_person_id(store: RightsParts, person_id: int, context: ActionContext | None = None,
                      reference: str | None = None) -> OptOutResult:
    """Opt a whole person out (Art. 21): the normalised mean of its faces' embeddings goes
    on the opt-out list (one template per person, as for selfies), then every face of the
    person is erased."""
    from ..errors import ConfigError
    from ..types import ActionContext

    context = context or ActionContext(purpose="data-subject opt-out request")
    faces, vectors = _person_vectors(store, person_id)
    if not vectors.shape[0]:
        raise ConfigError(f"person {person_id} has no face to take a template from")
    ref = reference or context.case or "opt-out request"
    purpose = context.purpose or "data-subject opt-out request"
    with audited_change(store.audit, store.data_dir, "optout_add", context.actor, purpose,
                        context.case, {"person": int(person_id), "reference": ref},
                        lock=OPTOUT_LOCK, what="opt-out change") as done:
        entry = store.optout.add(vectors, ref, actor=context.actor)
        done.outputs = {"entry_id": entry.id, "faces": len(faces)}
    store.forget_person_templates(vectors, context)
    erased = erase(store, face_ids=faces, context=context, reason="art21-objection",
                   inputs={"person": int(person_id), "optout_entry": entry.id})
    return OptOutResult(entry, erased)


def opt_out_person(
    store: RightsParts,
    selfies: list[Selfie],
    context: ActionContext | None = None,
    reference: str | None = None,
    erase_existing: bool = True,
    accurate: bool | None = None,
) -> OptOutResult:
    vectors, hashes = selfie_embeddings(store, selfies)
    fused = (fused_selfies(store, selfies, vectors)
             if erase_existing and store.use_accurate(accurate) else None)
    return opt_out_vectors(store, vectors, hashes, context, reference, erase_existing,
                           fused=fused)


def opt_out_vectors(
    store: RightsParts,
    vectors: np.ndarray,
    hashes: list[str],
    context: ActionContext | None = None,
    reference: str | None = None,
    erase_existing: bool = True,
    fused: list[FusedTemplate] | None = None,
) -> OptOutResult:
    """:func:`opt_out_person` for selfies already embedded (e.g. by an identity check);
    ``fused``: the selfies embedded by both packs, to erase at the fused decisions."""
    from ..types import ActionContext

    context = context or ActionContext(purpose="data-subject opt-out request")
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    ref = reference or context.case or "opt-out request"
    purpose = context.purpose or "data-subject opt-out request"
    with audited_change(store.audit, store.locks, "optout_add", context.actor, purpose,
                        context.case, {"selfies_sha256": hashes, "reference": ref},
                        lock=OPTOUT_LOCK, what="opt-out change") as done:
        entry = store.optout.add(vectors, ref, actor=context.actor)
        done.outputs = {"entry_id": entry.id, "selfies": entry.selfies}
    erased = None
    if erase_existing:
        person = person_from_vectors(store, vectors, hashes, far=store.settings.operating_far,
                                     fused=fused)
        strict = [m.face_id for m in person.matches if m.decision == "match"]
        store.forget_person_templates(vectors, context)  # their enrolments and watches too
        erased = erase(
            store, face_ids=strict, context=context, reason="art21-objection",
            inputs={"selfies_sha256": hashes, "optout_entry": entry.id},
        )
    return OptOutResult(entry, erased)


def remove_opt_out(
    store: RightsParts, entry_id: int, context: ActionContext | None = None
) -> OptOutEntry:
    from ..types import ActionContext

    context = context or ActionContext(purpose="opt-out withdrawn")
    with audited_change(store.audit, store.locks, "optout_remove", context.actor,
                        context.purpose, context.case, {"entry_id": int(entry_id)},
                        lock=OPTOUT_LOCK, what="opt-out change") as done:
        entry = store.optout.remove(entry_id)
        done.outputs = {"reference": entry.reference}
    return entry
