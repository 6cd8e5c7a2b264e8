"""Data-subject requests that combine the pieces: erasure by selfie, opt-out.

``erase_person`` finds a person's faces (as for access) and erases them; the CLI shows the
list for review between the two steps, the library takes the ids the reviewer kept.
``opt_out_person`` puts the person's template on the opt-out list and, by default, erases
the faces held now at the store's strict operating point (not the high-recall one: erasing
a stranger's face by mistake cannot be undone).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .access import Selfie, person_from_vectors, selfie_embeddings
from .accurate import fused_selfies
from .audited import audited_change
from .erasure import ErasureReport, erase
from .optout import OptOutEntry

if TYPE_CHECKING:
    from ..ledger import Store
    from ..models.fusion import FusedTemplate
    from ..types import ActionContext

OPTOUT_LOCK = "optout"


@dataclass(frozen=True)
class OptOutResult:
    entry: OptOutEntry
    erased: ErasureReport | None


def erase_person(
    store: Store,
    selfies: list[Selfie],
    face_ids: list[int] | None = None,
    context: ActionContext | None = None,
    far: float | None = None,
    vacuum: bool = False,
    include_possible: bool = False,
    accurate: bool | None = None,
) -> ErasureReport:
    """Erase the faces found for these selfies: those decided "match" (and "possible" ones
    with ``include_possible``), or, if given, the reviewed ``face_ids`` among those found.
    With ``accurate`` the decisions are the fused scorer's (:mod:`.accurate`)."""
    vectors, hashes = selfie_embeddings(store, selfies)
    fused = fused_selfies(store, selfies, vectors) if store.use_accurate(accurate) else None
    person = person_from_vectors(store, vectors, hashes, far, fused=fused)
    found = set(person.face_ids)
    if face_ids is not None:
        chosen = {int(i) for i in face_ids} & found
    else:
        chosen = {m.face_id for m in person.matches
                  if m.decision == "match" or include_possible}
    store.forget_person_templates(vectors, context)  # their enrolments and watches too
    return erase(
        store,
        face_ids=sorted(chosen),
        context=context,
        reason="art17-request",
        inputs={"selfies_sha256": person.selfies_sha256, "found": len(found)},
        vacuum=vacuum,
    )


def opt_out_person(
    store: Store,
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
    store: Store,
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
    with audited_change(store.audit, store.data_dir, "optout_add", context.actor, purpose,
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
    store: Store, entry_id: int, context: ActionContext | None = None
) -> OptOutEntry:
    from ..types import ActionContext

    context = context or ActionContext(purpose="opt-out withdrawn")
    with audited_change(store.audit, store.data_dir, "optout_remove", context.actor,
                        context.purpose, context.case, {"entry_id": int(entry_id)},
                        lock=OPTOUT_LOCK, what="opt-out change") as done:
        entry = store.optout.remove(entry_id)
        done.outputs = {"reference": entry.reference}
    return entry
