"""Persons in a store: a new face joins a person or starts one at ingest, re-clustering,
and the corrections users make (merge, split, rename, hide, "not this person").

A face joins the neighbouring person (found through the vector index's nearest faces)
whose faces are on average most alike it, if that average reaches the pack's clustering
threshold; the person's faces are read from the catalog and decrypted for that, never kept
as a stored centroid. Re-clustering runs :func:`faceledger.people.cluster.average_linkage`
over the index's k-NN graph, with every face a user placed kept where it was placed
(corrections lock the faces they touch) and every "not this person" mark honoured.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..store.index_file import SMALL_ADD, one_omp_thread
from ..store.persons import Persons
from .cluster import Constraints, average_linkage, best_person, knn_edges
from .graph import knn_graph
from .parts import PeopleParts

#: average cosine similarity at which faces are one person, per pack: chosen on LFW's
#: peopleDevTrain people (``faceledger bench cluster``), never on the people it is tested on
THRESHOLDS = {"yunet-omz0095": 0.475}
DEFAULT_THRESHOLD = 0.475
NEIGHBOURS = 32
#: a rights request reaches a person only when a selfie's average similarity to the
#: person's faces reaches this (higher than the clustering threshold: a look-alike's
#: person the selfie would barely join is not this person). Chosen on LFW's
#: peopleDevTrain people only (``faceledger bench cluster``, ``rights_by_person``): the
#: lowest threshold whose wrongly included share there is at most 0.5 %.
RIGHTS_THRESHOLDS = {"yunet-omz0095": 0.515}


def threshold_for(store: PeopleParts) -> float:
    return THRESHOLDS.get(store.pack.name, DEFAULT_THRESHOLD)


def rights_threshold_for(store: PeopleParts) -> float:
    return RIGHTS_THRESHOLDS.get(store.pack.name, threshold_for(store))


def persons(store: PeopleParts) -> Persons:
    return Persons(store.catalog)


def _vectors(store: PeopleParts, face_ids: list[int]) -> dict[int, np.ndarray]:
    rows = store.catalog.embeddings(face_ids, store.pack.name)
    return {fid: store.cipher.decrypt_vector(blob).astype(np.float32) for fid, blob in rows}


def _sums(store: PeopleParts, members: dict[int, list[int]], known: dict[int, np.ndarray]
          ) -> dict[int, tuple[np.ndarray, int]]:
    need = [f for fs in members.values() for f in fs if f not in known]
    vecs = {**_vectors(store, need), **known} if need else known
    return {p: (np.sum([vecs[f] for f in fs if f in vecs], axis=0), len(fs))
            for p, fs in members.items() if fs}


def assign_new_faces(store: PeopleParts, known: dict[int, np.ndarray]) -> dict[int, int]:
    """Give each of these new faces (id -> embedding, already in the index) a person:
    the best neighbouring one on average, or a new one; a face that shows two unconfirmed
    neighbouring persons to be alike on average merges them. Returns face -> person."""
    if not known:
        return {}
    table = persons(store)
    t = threshold_for(store)
    ids = sorted(known)
    queries = np.stack([known[i] for i in ids]).astype(np.float32)
    # only neighbours as alike as one person's faces matter: the graph's search, wide;
    # an ingest batch (~40 faces): on one OpenMP thread, beside the lanes that use the cores
    graph = getattr(store.index_file, "graph_search", None)
    with one_omp_thread(len(ids), SMALL_ADD):
        sims, nbrs = (graph(queries, NEIGHBOURS, wide=True) if graph is not None
                      else store.index_file.search(queries, NEIGHBOURS))
    placed: dict[int, int] = {}
    locked_persons: set[int] = set()
    with store.catalog.write() as conn:
        for row, fid in enumerate(ids):
            cand_faces = [int(j) for j, s in zip(nbrs[row], sims[row])
                          if j >= 0 and int(j) != fid and s >= t]
            of = table.person_of(cand_faces)
            of.update({f: placed[f] for f in cand_faces if f in placed})
            cand = sorted(set(of.values()))
            members = table.members_of(cand) if cand else {}
            for f, p in placed.items():  # faces placed in this call, not yet read back
                if p in members and f not in members[p]:
                    members[p].append(f)
            sums = _sums(store, members, known)
            pid, _ = best_person(known[fid], sums, t)
            if pid is None:
                pid = table.new_person(conn)
                sums[pid] = (np.zeros_like(known[fid]), 0)
            table.assign(conn, [fid], pid)
            placed[fid] = pid
            total, count = sums[pid]
            total, count = total + known[fid], count + 1
            for q in cand:
                if q == pid or q not in sums:
                    continue
                qs, qn = sums[q]
                if float(total @ qs) / (count * qn) < t:
                    continue
                if _confirmed(conn, pid) and _confirmed(conn, q):
                    locked_persons.add(q)
                    continue  # two persons a user confirmed are never merged automatically
                table.move_person(conn, q, pid, locked=False)
                placed.update({f: pid for f, p in placed.items() if p == q})
                total, count = total + qs, count + qn
    return placed


def _confirmed(conn, person_id: int) -> bool:
    return Persons.confirmed(conn, person_id)


def recluster(store: PeopleParts, k: int = NEIGHBOURS, batch: int = 8192) -> dict[str, int]:
    """Cluster every face of the store again (average linkage over the index's k-NN
    graph), keeping every correction. Person ids (and names) are kept for the clusters that
    hold most of their faces."""
    table = persons(store)
    t = threshold_for(store)
    ids: list[int] = []
    chunks: list[np.ndarray] = []
    for rows in store.catalog.iter_embeddings(store.pack.name):
        ids += [r[0] for r in rows]
        chunks.append(np.stack([store.cipher.decrypt_vector(r[1]) for r in rows]))
    if not ids:
        return {"faces": 0, "persons": 0}
    vectors = np.concatenate(chunks).astype(np.float32)
    pos = {f: i for i, f in enumerate(ids)}
    search = getattr(store.index_file, "graph_search", store.index_file.search)
    nbr_ids, nbr_sims = knn_graph(search, vectors, np.array(ids, np.int64), k, batch)
    old = table.assignments()
    seeds = {pos[f]: p for f, p, locked in old if locked and f in pos}
    rejects: dict[int, set[int]] = {}
    for f, p in table.rejects():
        if f in pos:
            rejects.setdefault(pos[f], set()).add(p)
    labels = average_linkage(vectors, knn_edges(nbr_ids, nbr_sims, t), t,
                             Constraints(seeds, rejects))
    old_person = {pos[f]: p for f, p, _ in old if f in pos}
    # each cluster keeps a person id: its seed's, else the old id most of it had
    clusters: dict[int, list[int]] = {}
    for row, lab in enumerate(labels.tolist()):
        clusters.setdefault(lab, []).append(row)
    taken: set[int] = set()
    plan: list[tuple[list[int], int | None]] = []
    order = sorted(clusters.values(), key=len, reverse=True)
    for rows in order:
        seeded = {seeds[r] for r in rows if r in seeds}
        if seeded:
            pid = seeded.pop()
        else:
            votes: dict[int, int] = {}
            for r in rows:
                if r in old_person:
                    votes[old_person[r]] = votes.get(old_person[r], 0) + 1
            pid = max(votes, key=lambda p: (votes[p], -p)) if votes else None
            if pid in taken:
                pid = None
        if pid is not None:
            taken.add(pid)
        plan.append((rows, pid))
    with store.catalog.write() as conn:
        for rows, pid in plan:
            if pid is None:
                pid = table.new_person(conn)
            free = [ids[r] for r in rows if r not in seeds]
            if free:
                table.assign_free(conn, free, pid)
    return {"faces": len(ids), "persons": len(plan)}


def merge(store: PeopleParts, person_ids: list[int]) -> int:
    """All these persons become the first one; its faces are confirmed (locked)."""
    table = persons(store)
    ids = [int(p) for p in dict.fromkeys(person_ids)]
    if len(ids) < 2:
        raise ConfigError("merge needs two persons or more")
    for p in ids:
        table.require(p)
    target = ids[0]
    with store.catalog.write() as conn:
        for p in ids[1:]:
            table.move_person(conn, p, target, locked=True)
        table.lock(conn, target)
    return target


def split(store: PeopleParts, face_ids: list[int], name: str | None = None) -> int:
    """These faces leave their persons for a new one; both sides are confirmed (locked), so
    re-clustering keeps them apart."""
    table = persons(store)
    faces = sorted({int(f) for f in face_ids})
    if not faces:
        raise ConfigError("split needs at least one face")
    of = table.person_of(faces)
    missing = [f for f in faces if f not in of]
    if missing:
        raise ConfigError(f"faces without a person: {missing}")
    with store.catalog.write() as conn:
        for p in set(of.values()):
            table.lock(conn, p)
        new = table.new_person(conn, name)
        table.assign(conn, faces, new, locked=True)
    return new


def not_this_person(store: PeopleParts, face_id: int, person_id: int) -> int:
    """The face is not this person: it leaves for a person of its own, never to be put back
    in this one (its other faces are confirmed, so re-clustering keeps them)."""
    table = persons(store)
    table.require(person_id)
    if table.person_of([face_id]).get(int(face_id)) != int(person_id):
        raise ConfigError(f"face {face_id} is not in person {person_id}")
    with store.catalog.write() as conn:
        table.reject(conn, face_id, person_id)
        table.unassign(conn, [face_id])
        table.lock(conn, person_id)
        new = table.new_person(conn)
        table.assign(conn, [face_id], new)
    return new


def rename(store: PeopleParts, person_id: int, name: str | None) -> None:
    table = persons(store)
    table.require(person_id)
    if name is not None:
        name = name.strip()
        if len(name) > 200:
            raise ConfigError("a person's name is at most 200 characters")
    with store.catalog.write() as conn:
        table.set_fields(conn, person_id, name=name or None)
        table.lock(conn, person_id)


def hide(store: PeopleParts, person_id: int, hidden: bool = True) -> None:
    table = persons(store)
    table.require(person_id)
    with store.catalog.write() as conn:
        table.set_fields(conn, person_id, hidden=int(hidden))


def persons_in_results(store: PeopleParts, results: list) -> list[list[dict]]:
    """For each probe face of a search, the persons its matches belong to (matches with a
    "match" or "possible" decision): the person's id, name, face and photo counts, sources,
    cover face, which of its faces matched and how closely; best first."""
    out: list[list[dict]] = []
    table = persons(store)
    for result in results:
        hits = [m for m in result.matches if m.decision.value != "no match"]
        of = table.person_of([m.face_id for m in hits])
        found: dict[int, dict] = {}
        for m in hits:
            pid = of.get(m.face_id)
            if pid is None:
                continue
            entry = found.setdefault(pid, {"person": pid, "matched_faces": [],
                                           "best_similarity": m.similarity})
            entry["matched_faces"].append(m.face_id)
            entry["best_similarity"] = max(entry["best_similarity"], m.similarity)
        rows = {r.id: r for r in table.list(ids=list(found))}
        for pid, entry in found.items():
            row = rows.get(pid)
            if row is not None:
                entry.update(name=row.name, faces=row.faces, photos=row.photos,
                             sources=list(row.sources), cover_face_id=row.cover_face_id)
        out.append(sorted(found.values(), key=lambda e: -e["best_similarity"]))
    return out


def reach_by_person(store: PeopleParts, queries: np.ndarray, face_ids: list[int]
                    ) -> tuple[list[int], list[int]]:
    """What a rights request reaches through persons: of the persons holding the faces the
    selfies matched (``face_ids``), those whose faces are on average alike a selfie at
    :data:`RIGHTS_THRESHOLDS` (one stray match is not enough, nor a look-alike's person
    the selfie would barely join), and the faces reached only through them, to be shown
    for review before an erasure takes them. Measured by ``faceledger bench cluster``
    (``rights_by_person``)."""
    table = persons(store)
    t = rights_threshold_for(store)
    direct = {int(f) for f in face_ids}
    cand = sorted(set(table.person_of(sorted(direct)).values()))
    members = table.members_of(cand)
    sums = _sums(store, members, {})
    q = np.atleast_2d(np.asarray(queries, np.float32))
    pids = [p for p in cand if p in sums
            and float(np.max(q @ sums[p][0])) / sums[p][1] >= t]
    via = sorted({f for p in pids for f in members[p]} - direct)
    return pids, via
