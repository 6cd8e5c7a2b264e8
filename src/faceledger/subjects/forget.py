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
from .registry import SUBJECTS_LOCK, subject_matrix, unseal

if TYPE_CHECKING:
    from ..ledger import Store
    from ..types import ActionContext


def forget_person(store: Store, vectors: np.ndarray, context: ActionContext) -> dict:
    """Delete the subjects and watches whose templates are this person's."""
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
    if not out["subjects"] and not out["watches"]:
        return out
    with audited_change(store.audit, store.data_dir, "subject_forget", context.actor,
                        context.purpose or "erasure of a person", context.case,
                        {"subjects": out["subjects"], "watches": out["watches"]},
                        lock=SUBJECTS_LOCK, what="subject change") as done:
        for sid in out["subjects"]:
            table.delete_subject(sid)
        table.delete_watches(out["watches"])
        done.outputs = {"deleted": True}
    return out
