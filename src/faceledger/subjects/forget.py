"""Erasure of a person reaches their named-subject enrolments and their watches.

When a person's faces are erased by their selfie (an erasure or opt-out request), every
subject with a template of that person and every watch on them goes too: compared at the
store's verification operating point (1:1, ``FACELEDGER_OPERATING_FAR``), as the opt-out's
erasure of the faces held is. Deleting a subject deletes its templates, watches and alerts
(physically, see :mod:`faceledger.store.subjects`); one ``subject_forget`` audit entry
names what went (ids only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..privacy.audited import audited_change
from ..store.subjects import SubjectTables, watch_aad
from .parts import SubjectParts
from .registry import SUBJECTS_LOCK, subject_matrix, unseal

if TYPE_CHECKING:
    from ..types import ActionContext


def matching(store: SubjectParts, vectors: np.ndarray) -> dict[str, list[int]]:
    """The subjects and the watches (not those of a matching subject) whose templates
    match these faces at the verification point."""
    queries = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    out: dict[str, list[int]] = {"subjects": [], "watches": []}
    if not len(queries):
        return out
    threshold = store.operating_point(None).match_threshold
    subject_ids, templates = subject_matrix(store)
    if len(templates):
        hit = (queries @ templates.T).max(axis=0) >= threshold
        out["subjects"] = sorted({int(s) for s in subject_ids[hit]})
    table = SubjectTables(store.catalog)
    owners = {w.id: w.subject_id for w in table.watches()}
    for wid, _far, blob in table.active_templates(store.pack.name, ""):  # expired ones too
        if owners.get(wid) in out["subjects"]:
            continue  # goes with its subject
        if float((queries @ unseal(store, blob, watch_aad(wid))).max()) >= threshold:
            out["watches"].append(wid)
    return out


def records_of_person(store: SubjectParts, vectors: np.ndarray) -> list[dict]:
    """What an access copy (Art. 15) says of the person's enrolments and watches: names,
    sources and their lawful basis, consent, expiry, alert counts; never a template."""
    found = matching(store, vectors)
    table = SubjectTables(store.catalog)
    sources = {s.name: s for s in store.sources()}
    watches = table.watches()
    out: list[dict] = []
    for sid in found["subjects"]:
        row = table.subject(sid)
        src = sources.get(row.source)
        out.append({
            "kind": "named subject", "subject_id": row.id, "name": row.name,
            "source": row.source, "controller": src.controller if src else "",
            "lawful_basis": src.lawful_basis if src else "",
            "purpose": src.purpose if src else "", "consent": row.consent,
            "enrolled_at": row.created_at, "templates": row.templates,
            "watches": [{"watch_id": w.id, "expires_at": w.expires_at, "alerts": w.alerts}
                        for w in watches if w.subject_id == sid]})
    for w in watches:
        if w.id in found["watches"]:
            out.append({"kind": "watch", "watch_id": w.id, "label": w.label,
                        "registered_by": w.owner, "purpose": w.purpose,
                        "expires_at": w.expires_at, "alerts": w.alerts})
    return out


def forget_person(store: SubjectParts, vectors: np.ndarray, context: ActionContext) -> dict:
    """Delete the subjects and watches whose templates are this person's."""
    out = matching(store, vectors)
    table = SubjectTables(store.catalog)
    if not out["subjects"] and not out["watches"]:
        return out
    with audited_change(store.audit, store.locks, "subject_forget", context.actor,
                        context.purpose or "erasure of a person", context.case,
                        {"subjects": out["subjects"], "watches": out["watches"]},
                        lock=SUBJECTS_LOCK, what="subject change") as done:
        for sid in out["subjects"]:
            table.delete_subject(sid)
        table.delete_watches(out["watches"])
        done.outputs = {"deleted": True}
    return out
