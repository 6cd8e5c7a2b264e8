"""Alerts: the faces an ingest batch committed, compared with every active watch.

:func:`raise_alerts` is the one call ingest makes (after a batch's transaction commits):
with no active watch it costs one small query. Each watch decides at its own calibrated
operating point (``match`` only); each alert is written with its webhook delivery in one
catalog transaction (the outbox, delivered in the background by
:class:`~faceledger.subjects.webhooks.WebhookDispatcher`, so ingest never waits on a
network) and audited as ``watch_alert`` (the watch, the face id, the similarity).
"""

from __future__ import annotations

import time

import numpy as np

from ..search.decisions import operating_point
from ..store.catalog import utc_now
from ..store.subjects import SubjectTables, watch_aad
from .parts import SubjectParts
from .registry import template_cache, unseal


def raise_alerts(store: SubjectParts, faces: dict[int, np.ndarray],
                 actor: str = "ingest") -> list[int]:
    """Alerts for the new ``faces`` (face id -> embedding); the ids of the alerts raised."""
    if not faces:
        return []
    table = SubjectTables(store.catalog)
    now = utc_now()
    watches = table.active_watch_ids(store.pack.name, now)
    if not watches:
        return []
    far_of = dict(watches)
    kept, templates = template_cache(store).matrix(
        "watch", [w for w, _far in watches], store.pack.embedding_size,
        lambda ids: table.sealed("watch", ids),
        lambda wid, blob: unseal(store, blob, watch_aad(wid)))
    if not kept:
        return []
    face_ids = list(faces)
    vectors = np.stack([np.asarray(faces[i], dtype=np.float32) for i in face_ids])
    by_far = {far: _threshold(store, far) for far in set(far_of.values())}
    thresholds = np.array([by_far[far_of[w]] for w in kept], dtype=np.float32)
    sims = vectors @ templates.T  # faces x watches
    found = [(kept[int(j)], face_ids[int(i)], round(float(sims[i, j]), 4))
             for i, j in zip(*np.nonzero(sims >= thresholds[None, :]))]
    made = table.add_alerts(found, now, due_at=time.time())
    if made:
        by_id = {a.id: a for a in table.alerts(limit=len(made) + 10)}
        for alert_id in made:
            a = by_id.get(alert_id)
            if a is None:
                continue
            store.record("watch_alert", actor, purpose="consented watch alert",
                         case=f"watch:{a.watch_id}",
                         inputs={"watch_id": a.watch_id},
                         outputs={"alert_id": a.id, "face_id": a.face_id,
                                  "photo_id": a.photo_id, "similarity": a.similarity})
        dispatcher = getattr(store, "webhook_dispatcher", None)
        if dispatcher is not None:
            dispatcher.wake()
    return made


def _threshold(store: SubjectParts, far: float) -> float:
    return operating_point(store.pack, far).match_threshold
