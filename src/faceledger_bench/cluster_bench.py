"""``bench cluster``: faces grouped into persons, against the truth, beside DBSCAN and HDBSCAN.

Accuracy is BCubed precision, recall and F (Bagga & Baldwin): for each face, the share of
its cluster that is the same person (precision) and the share of its person that is in its
cluster (recall), averaged over faces; F is their harmonic mean. A face left as noise by
DBSCAN/HDBSCAN is a cluster of its own.

Every method's parameter is chosen on LFW's ``peopleDevTrain.txt`` people only; the figures
are then measured on all of LFW (13,233 photos, 5,749 people) and, held out, on the
``peopleDevTest.txt`` people (whom no parameter saw).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from faceledger.people.cluster import average_linkage, best_person, knn_edges


@dataclass(frozen=True)
class Scores:
    bcubed_precision: float
    bcubed_recall: float
    bcubed_f: float
    seconds: float
    clusters: int
    parameter: str = ""

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def bcubed(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """BCubed (precision, recall, F) of cluster ``labels`` against ``truth``, O(n log n)."""
    labels = np.asarray(labels, np.int64)
    truth = np.asarray(truth, np.int64)
    _, lab = np.unique(labels, return_inverse=True)
    _, tru = np.unique(truth, return_inverse=True)
    pair = lab * (int(tru.max()) + 1) + tru
    _, pair_idx, pair_count = np.unique(pair, return_inverse=True, return_counts=True)
    both = pair_count[pair_idx].astype(np.float64)  # |cluster ∩ class| for each face
    precision = float(np.mean(both / np.bincount(lab)[lab]))
    recall = float(np.mean(both / np.bincount(tru)[tru]))
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f


def knn(vectors: np.ndarray, k: int, nlist: int = 0, nprobe: int = 16
        ) -> tuple[np.ndarray, np.ndarray]:
    """(ids, sims) of every row's k nearest rows (itself included): exact below 50,000
    rows, IVF above (as the store's own index is approximate at scale)."""
    d = vectors.shape[1]
    if vectors.shape[0] < 50_000 and not nlist:
        index = faiss.IndexFlatIP(d)
        index.add(vectors)
    else:
        nlist = nlist or int(4 * np.sqrt(vectors.shape[0]))
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(0)
        sample = vectors[rng.choice(vectors.shape[0], min(vectors.shape[0], 50 * nlist),
                                    replace=False)]
        index.train(sample)
        index.add(vectors)
        index.nprobe = nprobe
    sims, ids = index.search(vectors, k)
    return ids, sims


def faceledger_cluster(vectors: np.ndarray, threshold: float, k: int = 32,
                       neighbours: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    ids, sims = neighbours if neighbours is not None else knn(vectors, k)
    return average_linkage(vectors, knn_edges(ids, sims, threshold), threshold)


def incremental_cluster(vectors: np.ndarray, threshold: float, k: int = 32) -> np.ndarray:
    """One face at a time, as ingest does: search the index for its neighbours, join the
    neighbouring person whose faces are on average most alike (or start a person), and
    merge two neighbouring persons the new face shows to be alike on average."""
    n, d = vectors.shape
    index = faiss.IndexFlatIP(d)
    persons = IncrementalPersons(d)
    for i in range(n):
        v = vectors[i : i + 1]
        if i:
            sims, ids = index.search(v, min(k, i))
            cand = [int(j) for j, s in zip(ids[0], sims[0]) if j >= 0 and s >= threshold]
        else:
            cand = []
        persons.add(i, v[0], cand, threshold)
        index.add(v)
    return persons.labels(n)


class IncrementalPersons:
    """Persons in memory (sum of embeddings and count per person, person of each face),
    updated one face at a time: what the store does at ingest, without the catalog."""

    def __init__(self, dim: int) -> None:
        self.person_of: dict[int, int] = {}
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}
        self._next = 0

    def add(self, face: int, vector: np.ndarray, neighbours: Iterable[int],
            threshold: float) -> int:
        cand = {self.person_of[j] for j in neighbours if j in self.person_of}
        pid, _ = best_person(vector, {p: (self.sums[p], self.counts[p]) for p in cand},
                             threshold)
        if pid is None:
            pid = self._next
            self._next += 1
            self.sums[pid] = np.zeros_like(vector, dtype=np.float32)
            self.counts[pid] = 0
            self.members[pid] = []
        self.sums[pid] = self.sums[pid] + vector
        self.counts[pid] += 1
        self.members[pid].append(face)
        self.person_of[face] = pid
        for q in sorted(cand - {pid}):  # the new face may show two persons to be one
            if q in self.sums and (float(self.sums[pid] @ self.sums[q])
                                   / (self.counts[pid] * self.counts[q])) >= threshold:
                self.sums[pid] = self.sums[pid] + self.sums.pop(q)
                self.counts[pid] += self.counts.pop(q)
                for f in self.members.pop(q):
                    self.person_of[f] = pid
                    self.members[pid].append(f)
        return pid

    def labels(self, n: int) -> np.ndarray:
        return np.array([self.person_of.get(i, -1 - i) for i in range(n)], np.int64)


def dbscan(vectors: np.ndarray, eps: float) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    labels = DBSCAN(eps=eps, min_samples=2, metric="cosine", algorithm="brute",
                    n_jobs=1).fit_predict(vectors)
    return _noise_apart(labels)


def hdbscan(vectors: np.ndarray, min_cluster_size: int, epsilon: float = 0.0) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    labels = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=1,
                     cluster_selection_epsilon=epsilon, metric="euclidean").fit_predict(vectors)
    return _noise_apart(labels)


def _noise_apart(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels, np.int64).copy()
    noise = labels < 0
    labels[noise] = labels.max(initial=0) + 1 + np.arange(int(noise.sum()))
    return labels


def timed(fn: Callable[[], np.ndarray], truth: np.ndarray, parameter: str = "") -> Scores:
    t = time.perf_counter()
    labels = fn()
    seconds = time.perf_counter() - t
    p, r, f = bcubed(labels, truth)
    return Scores(p, r, f, seconds, int(np.unique(labels).size), parameter)


def tune(run: Callable[[float], np.ndarray], grid: Iterable[float], truth: np.ndarray
         ) -> tuple[float, float]:
    """(best parameter, its F) over ``grid`` on the calibration split."""
    best = (float("nan"), -1.0)
    for value in grid:
        f = bcubed(run(value), truth)[2]
        if f > best[1]:
            best = (float(value), f)
    return best


def people_split(lfw_dir: Path, names: np.ndarray, person: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Row masks of the faces of LFW's peopleDevTrain and peopleDevTest people."""
    from .lfw import parse_people

    def mask(file: str) -> np.ndarray:
        listed = {p.name for p in parse_people(Path(lfw_dir) / file)}
        keep = np.array([str(n) in listed for n in names])
        return keep[person]

    return mask("peopleDevTrain.txt"), mask("peopleDevTest.txt")


def load_all_lfw(lfw_dir: Path, models_dir: Path, cache: Path | None = None,
                 progress: Callable[[int, int], None] | None = None):
    """Embeddings of every LFW photo (all 4,069 single-photo people too), cached beside
    the default cache as ``lfw-embeddings-all.npz``."""
    from .synthetic import DEFAULT_PACK, LfwEmbeddings, compute_lfw_embeddings, default_cache_path

    cache = Path(cache) if cache else default_cache_path().with_name("lfw-embeddings-all.npz")
    if cache.exists():
        emb = LfwEmbeddings.load(cache)
        if emb.pack == DEFAULT_PACK:
            return emb
    emb = compute_lfw_embeddings(lfw_dir, models_dir, DEFAULT_PACK, max_singles=10**6,
                                 progress=progress)
    emb.save(cache)
    return emb


FACELEDGER_GRID = tuple(round(0.400 + 0.025 * i, 3) for i in range(7))
DBSCAN_GRID = tuple(round(0.30 + 0.05 * i, 2) for i in range(7))  # cosine distance
HDBSCAN_GRID = (2, 3)


def run_lfw(emb, lfw_dir: Path, say: Callable[[str], None]) -> dict:
    v, truth = emb.vectors, emb.person
    train, test = people_split(lfw_dir, emb.names, emb.person)
    vt, tt = v[train], truth[train]
    say(f"LFW: {v.shape[0]} photos, {np.unique(truth).size} people; calibration split "
        f"(peopleDevTrain): {int(train.sum())} photos")
    nb_train = knn(vt, 32)
    t_fl, f_fl = tune(lambda t: faceledger_cluster(vt, t, neighbours=nb_train),
                      FACELEDGER_GRID, tt)
    say(f"faceledger threshold {t_fl} (train F {f_fl:.4f})")
    eps, f_db = tune(lambda e: dbscan(vt, e), DBSCAN_GRID, tt)
    say(f"DBSCAN eps {eps} (train F {f_db:.4f})")
    mcs, f_hd = tune(lambda m: hdbscan(vt, int(m)), HDBSCAN_GRID, tt)
    say(f"HDBSCAN min_cluster_size {int(mcs)} (train F {f_hd:.4f})")
    out: dict = {"photos": int(v.shape[0]), "people": int(np.unique(truth).size)}
    out["faceledger"] = timed(lambda: faceledger_cluster(v, t_fl), truth,
                              f"threshold={t_fl}, k=32").as_dict()
    say(f"faceledger: {out['faceledger']}")
    out["faceledger_incremental"] = timed(lambda: incremental_cluster(v, t_fl), truth,
                                          f"threshold={t_fl}, k=32, one face at a time"
                                          ).as_dict()
    say(f"faceledger incremental: {out['faceledger_incremental']}")
    out["dbscan"] = timed(lambda: dbscan(v, eps), truth, f"eps={eps}, min_samples=2").as_dict()
    say(f"dbscan: {out['dbscan']}")
    out["hdbscan"] = timed(lambda: hdbscan(v, int(mcs)), truth,
                           f"min_cluster_size={int(mcs)}, min_samples=1").as_dict()
    say(f"hdbscan: {out['hdbscan']}")
    held = {}
    for name, fn in (("faceledger", lambda x: faceledger_cluster(x, t_fl)),
                     ("dbscan", lambda x: dbscan(x, eps)),
                     ("hdbscan", lambda x: hdbscan(x, int(mcs)))):
        p, r, f = bcubed(fn(v[test]), truth[test])
        held[name] = {"bcubed_precision": round(p, 4), "bcubed_recall": round(r, 4),
                      "bcubed_f": round(f, 4)}
    out["held_out_peopleDevTest"] = held
    say(f"held out (peopleDevTest): {held}")
    from faceledger.models.registry import get_pack

    access = get_pack(emb.pack).thresholds[1e-3]  # the access request's FAR (privacy.access)
    out["rights_by_person"] = rights_by_person(emb, t_fl, access, train, test)
    say(f"rights by person: {out['rights_by_person']}")
    return out


def default_subset(emb):
    """The embeddings ``bench index`` fits its synthetic galleries on (every photo of the
    people with two or more, and the first 1,000 single-photo people), taken from the
    all-LFW embeddings instead of embedding them a second time."""
    from .synthetic import LfwEmbeddings

    counts = np.bincount(emb.person)
    multi = counts[emb.person] >= 2
    singles = np.flatnonzero(~multi)[:1000]
    keep = np.sort(np.concatenate([np.flatnonzero(multi), singles]))
    people, person = np.unique(emb.person[keep], return_inverse=True)
    return LfwEmbeddings(emb.vectors[keep], person.astype(np.int32), emb.names[people],
                         emb.files[keep], emb.pack)


def synthetic_gallery(emb, n: int, seed: int = 0):
    """``bench index``'s gallery of ``n`` faces (:class:`SyntheticGallery`: 1,000 real LFW
    faces, then synthetic ones in batches of 100,000), with each face's identity: the LFW
    person for a real face, (batch, identity in batch) for a synthetic one."""
    from .synthetic import SyntheticGallery, fit_gallery_model, synth_faces

    gallery = SyntheticGallery(fit_gallery_model(emb), emb, n, seed=seed)
    vecs, ident = [], []
    enrol, _ = gallery._real_split()
    offset = int(emb.person.max()) + 1
    for b, batch in enumerate(gallery.batches()):
        vecs.append(batch.vectors)
        if b == 0 and enrol.size:
            ident.append(emb.person[enrol].astype(np.int64))
            continue
        # the same draw as SyntheticGallery.batches, to know each face's identity
        rng = np.random.default_rng([seed, b - (1 if enrol.size else 0)])
        size = batch.vectors.shape[0]
        _, who, _ = synth_faces(gallery.model, rng, int(size / 2) + 16)
        ident.append(offset + who[:size])
        offset += int(size / 2) + 16
    return gallery, np.concatenate(vecs), np.concatenate(ident)


def product_index(n: int, dim: int):
    """The vector index the store gives a gallery of ``n`` faces (``index_kind = "auto"``)."""
    from faceledger.store.index_kinds import choose_index_kind, index_class

    cls = index_class(choose_index_kind(n))
    return cls(dim, expected_n=n) if cls.needs_training else cls(dim)


def run_synthetic(emb, n: int, add: int, threshold: float, say: Callable[[str], None],
                  seed: int = 0, k: int = 32, chunk: int = 32) -> dict:
    """``n`` faces of ``bench index``'s synthetic gallery, clustered from a k-NN graph that
    the product's own index kind answers as re-clustering asks it (IVF-PQ above 100,000
    faces: the store's ``IVFPQIndex.graph_search``, in blocks); then
    ``add`` more faces (new photos of held identities, and new people) added as ingest
    does: a chunk of ``chunk`` faces goes into the index, is searched in one call (the
    neighbours' search, ``graph_search(wide=True)``, as ``assign_new_faces`` does), and
    each face joins a person or starts one. Also measured: how many of ``bench index``'s
    mated probes find their mate among their k neighbours, by the graph's search and by
    exact search (the graph's recall where it matters: faces of one person)."""
    from faceledger.people.graph import knn_graph

    t_gen = time.perf_counter()
    gallery, vecs, ident = synthetic_gallery(emb, n, seed)
    n, d = vecs.shape
    say(f"synthetic {n}: generated in {time.perf_counter() - t_gen:.1f} s")
    ids = np.arange(n, dtype=np.int64)
    t0 = time.perf_counter()
    index = product_index(n, d)
    if index.needs_training:
        rng = np.random.default_rng(seed)
        index.train(vecs[rng.choice(n, min(n, 64 * 1024), replace=False)])
    index.add(ids, vecs)
    t_index = time.perf_counter() - t0
    say(f"{index.kind} index built in {t_index:.1f} s")
    nbr, sims = knn_graph(index.graph_search, vecs, ids, k)
    t_knn = time.perf_counter() - t0 - t_index
    say(f"k-NN graph in {t_knn:.1f} s")
    labels = average_linkage(vecs, knn_edges(nbr, sims, threshold), threshold)
    total = time.perf_counter() - t0
    t_link = total - t_index - t_knn
    p, r, f = bcubed(labels, ident)
    say(f"clustered in {total:.1f} s (linkage {t_link:.1f} s; BCubed F {f:.4f})")
    # the persons as ingest keeps them: per person the sum and count of its faces
    persons = IncrementalPersons(d)
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
    roots = labels[order][cuts].tolist()
    grouped = np.add.reduceat(vecs[order], cuts)
    members = np.split(order, cuts[1:])
    persons.sums = dict(zip(roots, grouped))
    persons.counts = {r: len(m) for r, m in zip(roots, members)}
    persons.members = {r: m.tolist() for r, m in zip(roots, members)}
    persons.person_of = dict(enumerate(labels.tolist()))
    persons._next = n
    # half new photos of held identities (bench index's probes: real LFW mates and
    # synthetic ones), half new people
    probes = gallery.probes()
    mate_recall = _mate_recall(index, probes, vecs, k)  # before the probes join the index
    say(f"mated probes finding their mate among {k} neighbours: {mate_recall}")
    held = min(add // 2, probes.vectors.shape[0])
    pick = np.random.default_rng(seed + 1).choice(probes.vectors.shape[0], held, replace=False)
    from .synthetic import synth_faces

    fresh, _, _ = synth_faces(gallery.model, np.random.default_rng([seed, 999_983]), add)
    new = np.concatenate([probes.vectors[pick], fresh[: add - held]]).astype(np.float32)
    mates = probes.mate[pick]
    t1 = time.perf_counter()
    for s in range(0, add, chunk):
        block = new[s:s + chunk]
        block_ids = np.arange(n + s, n + s + block.shape[0], dtype=np.int64)
        index.add(block_ids, block)
        got_s, got_i = index.graph_search(block, k, wide=True)
        for fid, vec, row_s, row_i in zip(block_ids.tolist(), block, got_s, got_i):
            cand = [int(x) for x, y in zip(row_i, row_s) if x >= 0 and x != fid
                    and y >= threshold]
            persons.add(fid, vec, cand, threshold)
    t_add = time.perf_counter() - t1
    joined = sum(1 for i in range(held)
                 if persons.person_of[n + i] == persons.person_of.get(int(mates[i]), -1))
    say(f"added {add} faces in {t_add:.2f} s; {joined}/{held} new photos of held "
        "identities joined their mate's person")
    out = {"faces": int(n), "index_kind": index.kind, "mate_recall": mate_recall,
           "seconds_to_cluster": round(total, 1),
           "seconds_index": round(t_index, 1), "seconds_knn": round(t_knn, 1),
           "seconds_linkage": round(t_link, 1), "k": k,
           "bcubed_precision": round(p, 4), "bcubed_recall": round(r, 4),
           "bcubed_f": round(f, 4), "added": add, "seconds_to_add": round(t_add, 2),
           "add_chunk": chunk, "added_joined_their_person": joined,
           "added_of_held_identities": int(held)}
    if index.kind == "ivfpq":
        from faceledger.store.ivf_index import GRAPH_NPROBE, GRAPH_RERANK, default_nprobe

        out.update(nlist=int(index.nlist), graph_nprobe=GRAPH_NPROBE,
                   graph_rerank=GRAPH_RERANK,
                   query_nprobe=int(index.nprobe or default_nprobe(index.nlist)),
                   query_rerank=int(index.rerank))
    return out


RIGHTS_GRID = tuple(round(0.475 + 0.005 * i, 3) for i in range(21))  # 0.475 .. 0.575
RIGHTS_WRONG_GOAL = 0.005


def _mate_recall(index, probes, vecs: np.ndarray, k: int) -> dict:
    """Share of the mated probes whose mate is among their k neighbours: by the graph's
    search, the wide one, and exact search (blocks of the gallery, no O(n^2) memory)."""
    q, mate = probes.vectors, probes.mate
    rank = np.zeros(q.shape[0], np.int64)  # gallery faces more alike than the mate
    mate_sim = np.sum(q * vecs[mate], axis=1)
    for s in range(0, vecs.shape[0], 65536):
        sims = q @ vecs[s:s + 65536].T
        rank += np.count_nonzero(sims > mate_sim[:, None], axis=1)
    out = {"probes": int(q.shape[0]), "exact": round(float(np.mean(rank < k)), 4)}
    for name, kw in (("graph", {}), ("graph_wide", {"wide": True})):
        _, ids = index.graph_search(q, k, **kw)
        out[name] = round(float(np.mean((ids == mate[:, None]).any(axis=1))), 4)
    return out


def rights_by_person(emb, threshold: float, access_threshold: float, train: np.ndarray,
                     test: np.ndarray, min_photos: int = 10) -> dict:
    """Access and erasure by person on LFW, as ``people.service.reach_by_person`` does:
    each person with ``min_photos`` or more gives one selfie (their first photo, kept out
    of the gallery); the gallery (all other LFW photos) is clustered; of the persons holding
    the faces the selfie matches at the access threshold, the request reaches those whose
    faces are on average alike the selfie at the rights threshold. That threshold is chosen
    on the peopleDevTrain people's selfies only (``train``, a row mask): the lowest of
    :data:`RIGHTS_GRID` whose wrongly included share there is at most 0.5 %. Reported for
    all these people and for the held-out peopleDevTest ones (``test``): the share of the
    person's gallery faces reached (found) and the share of reached faces that are someone
    else (wrongly included); directly, through persons at the clustering threshold (the
    rule before the rights threshold), and through persons at the chosen threshold."""
    v, truth = emb.vectors, emb.person
    counts = np.bincount(truth)
    first: dict[int, int] = {}
    for i in range(v.shape[0]):
        p = int(truth[i])
        if counts[p] >= min_photos and p not in first:
            first[p] = i
    selfie = np.array(sorted(first.values()))
    keep = np.ones(v.shape[0], bool)
    keep[selfie] = False
    gv, gt = v[keep], truth[keep]
    labels = faceledger_cluster(gv, threshold)
    _, lab = np.unique(labels, return_inverse=True)
    sums = np.zeros((int(lab.max()) + 1, v.shape[1]), np.float64)
    np.add.at(sums, lab, gv)
    sizes = np.bincount(lab)
    sims = v[selfie] @ gv.T

    def shares(rows: np.ndarray, person_threshold: float | None) -> dict:
        found = total = wrong = reached_n = 0
        for row in rows:
            s_idx = selfie[row]
            own = gt == truth[s_idx]
            direct = sims[row] >= access_threshold
            if person_threshold is None:
                got = direct
            else:
                cand = np.unique(lab[direct])
                avg = (sums[cand] @ v[s_idx]) / sizes[cand]
                got = np.isin(lab, cand[avg >= person_threshold])
            found += int(np.count_nonzero(got & own))
            total += int(np.count_nonzero(own))
            wrong += int(np.count_nonzero(got & ~own))
            reached_n += int(np.count_nonzero(got))
        return {"found_share": round(found / max(total, 1), 4),
                "wrongly_included_share": round(wrong / max(reached_n, 1), 4)}

    rows_train = np.flatnonzero(train[selfie])
    rows_test = np.flatnonzero(test[selfie])
    rows_all = np.arange(selfie.size)
    chosen = next((t for t in RIGHTS_GRID if shares(rows_train, t)["wrongly_included_share"]
                   <= RIGHTS_WRONG_GOAL), RIGHTS_GRID[-1])
    out: dict = {"people": int(selfie.size), "people_train": int(rows_train.size),
                 "people_held_out": int(rows_test.size),
                 "access_threshold": access_threshold, "rights_threshold": chosen,
                 "rights_threshold_chosen_on": "peopleDevTrain selfies"}
    for key, t in (("direct", None), ("person_at_cluster_threshold", threshold),
                   ("person", chosen)):
        out[key] = shares(rows_all, t)
        out[key + "_held_out"] = shares(rows_test, t)
    return out
