"""Galleries that behave like real embeddings of the default pack, at any size.

Real LFW faces are embedded once with the default pack and cached outside the project
(``~/.cache/faceledger/lfw-embeddings.npz``). From them we measure two things:

* the **within-person spread**: the residual of each face from its person's mean, i.e. how
  far two photos of one person lie apart (``r_within``, the mean norm of the residuals);
* the **between-person spread**: how identity centres spread around the global mean.

A synthetic identity is a new centre drawn from a Gaussian fitted to the real identity
centres (mean and full covariance, corrected by method of moments for the noise a mean of
few photos carries, so the anisotropy of the real space is kept). Each synthetic face of
that identity is its centre plus a mixture of two *real* residuals (a real face's deviation
from its own person's mean): ``cos t * r_a + sin t * r_b`` with t uniform, which keeps the
residual covariance and gives endless variety; the sum is L2-normalised. That keeps the
distribution of similarity of non-mated pairs close to the real one (``similarity_profile``
reports real and synthetic side by side), which is what decides how hard approximate
search is. Plain uniform noise would be far easier (and wrong): real face embeddings are
anisotropic and clustered.

The real mated probes are inserted into the gallery: one LFW image per person (of people
with two or more images) is enrolled, another image of the same person is the probe, so
the benchmark can say whether an approximate index still finds the right person.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceledger.errors import ConfigError

DEFAULT_PACK = "yunet-omz0095"


def default_cache_path() -> Path:
    return Path.home() / ".cache" / "faceledger" / "lfw-embeddings.npz"


@dataclass(frozen=True)
class LfwEmbeddings:
    """One embedding per LFW image: ``person[i]`` indexes ``names``; ``files[i]`` is relative
    to the LFW images folder."""

    vectors: np.ndarray  # (n, d) float32, L2-normalised
    person: np.ndarray  # (n,) int32
    names: np.ndarray  # (p,) str
    files: np.ndarray  # (n,) str
    pack: str

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, vectors=self.vectors, person=self.person, names=self.names,
                 files=self.files, pack=np.array(self.pack))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> LfwEmbeddings:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["vectors"].astype(np.float32), z["person"].astype(np.int32),
                       z["names"], z["files"], str(z["pack"]))


def lfw_image_list(lfw_dir: Path, max_singles: int = 1000, max_people: int | None = None
                   ) -> list[tuple[str, str]]:
    """(person, relative file) for every image of people with >= 2 images, plus up to
    ``max_singles`` single-image people (distractors), in a stable order."""
    images = Path(lfw_dir) / "images"
    if not images.is_dir():
        raise ConfigError(f"no LFW images under {images}; pass --lfw DIR")
    multi: list[tuple[str, str]] = []
    singles: list[tuple[str, str]] = []
    people = sorted(p for p in images.iterdir() if p.is_dir())
    n_multi = 0
    for person in people:
        files = sorted(f.name for f in person.iterdir() if f.suffix.lower() == ".jpg")
        if len(files) >= 2:
            if max_people is not None and n_multi >= max_people:
                continue
            n_multi += 1
            multi.extend((person.name, f"{person.name}/{f}") for f in files)
        elif files and len(singles) < max_singles:
            singles.append((person.name, f"{person.name}/{files[0]}"))
    return multi + singles


def compute_lfw_embeddings(
    lfw_dir: Path,
    models_dir: Path,
    pack: str = DEFAULT_PACK,
    max_singles: int = 1000,
    max_people: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LfwEmbeddings:
    """Embed LFW images with ``pack`` (one thread). For each image its most prominent face
    is kept (size x score x centrality, :mod:`faceledger.models.prominence`; LFW photos are
    centred on the labelled person)."""
    from faceledger.images.decode import read_image_file
    from faceledger.models import load_pack
    from faceledger.models.prominence import main_face

    analyzer = load_pack(pack, models_dir, threads=1)
    items = lfw_image_list(lfw_dir, max_singles=max_singles, max_people=max_people)
    images = Path(lfw_dir) / "images"
    vecs: list[np.ndarray] = []
    persons: list[str] = []
    files: list[str] = []
    for i, (person, rel) in enumerate(items):
        img = read_image_file(images / rel)
        bgr = img.bgr
        face = main_face(analyzer.detect(bgr), bgr.shape[1], bgr.shape[0])
        if face is not None:
            vecs.append(np.asarray(analyzer.embed(bgr, [face])[0], np.float32))
            persons.append(person)
            files.append(rel)
        if progress is not None:
            progress(i + 1, len(items))
    names = np.array(sorted(set(persons)))
    lookup = {n: j for j, n in enumerate(names)}
    vectors = np.stack(vecs).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return LfwEmbeddings(vectors, np.array([lookup[p] for p in persons], np.int32),
                         names, np.array(files), pack)


def load_or_compute_lfw(
    lfw_dir: Path,
    models_dir: Path,
    cache: Path | None = None,
    pack: str = DEFAULT_PACK,
    max_singles: int = 1000,
    max_people: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LfwEmbeddings:
    """The cached embeddings when the cache exists (and was made by ``pack``); otherwise
    compute and cache them."""
    cache = default_cache_path() if cache is None else Path(cache)
    if cache.exists():
        emb = LfwEmbeddings.load(cache)
        if emb.pack == pack:
            return emb
    emb = compute_lfw_embeddings(lfw_dir, models_dir, pack, max_singles, max_people, progress)
    emb.save(cache)
    return emb


@dataclass(frozen=True)
class GalleryModel:
    """What is measured from real embeddings and used to synthesise new ones."""

    centre_mean: np.ndarray  # (d,) mean of identity centres
    centre_factor: np.ndarray  # (d, d): centre = centre_mean + z @ centre_factor
    residuals: np.ndarray  # (r, d) real within-person residuals (unbiased scale)
    faces_per_identity: np.ndarray  # empirical counts to draw from (capped)
    r_within: float  # mean norm of the residuals
    r_between: float  # RMS distance of identity centres from their mean

    @property
    def dim(self) -> int:
        return int(self.centre_mean.shape[0])


def fit_gallery_model(emb: LfwEmbeddings, max_faces_per_identity: int = 10) -> GalleryModel:
    """Method of moments on people with >= 2 images: within-person residuals, and the
    covariance of identity centres corrected for the noise their finite means carry."""
    counts = np.bincount(emb.person, minlength=len(emb.names))
    multi = np.flatnonzero(counts >= 2)
    d = emb.dim
    sums = np.zeros((len(emb.names), d), np.float64)
    np.add.at(sums, emb.person, emb.vectors.astype(np.float64))
    means = sums / np.maximum(counts, 1)[:, None]
    in_multi = counts[emb.person] >= 2
    n_p = counts[emb.person[in_multi]]
    scale = np.sqrt(n_p / (n_p - 1))[:, None]
    resid = (emb.vectors[in_multi] - means[emb.person[in_multi]]) * scale
    within_cov = resid.T @ resid / resid.shape[0]
    centres = means[multi]
    centre_mean = centres.mean(axis=0)
    cov = np.cov(centres, rowvar=False) - np.mean(1.0 / counts[multi]) * within_cov
    w, v = np.linalg.eigh(cov)
    w = np.clip(w, 0, None)
    factor = (v * np.sqrt(w)).T  # z @ factor has covariance cov
    fpi = np.minimum(counts[counts > 0], max_faces_per_identity)
    return GalleryModel(
        centre_mean.astype(np.float32),
        factor.astype(np.float32),
        resid.astype(np.float32),
        fpi.astype(np.int32),
        float(np.linalg.norm(resid, axis=1).mean()),
        float(np.sqrt(w.sum())),
    )


def synth_faces(
    model: GalleryModel,
    rng: np.random.Generator,
    n_identities: int,
    faces: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vectors, identity, centres)``: new identities, each with a count drawn from the real
    faces-per-identity distribution (or ``faces``), every face = centre + a real residual
    mixed with another (cos t r_a + sin t r_b keeps the residual covariance), normalised."""
    if faces is None:
        faces = rng.choice(model.faces_per_identity, size=n_identities)
    z = rng.standard_normal((n_identities, model.dim), dtype=np.float32)
    centres = model.centre_mean + z @ model.centre_factor
    identity = np.repeat(np.arange(n_identities), faces)
    vectors = centres[identity] + mix_residuals(model, rng, identity.size)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors.astype(np.float32), identity, centres


def mix_residuals(model: GalleryModel, rng: np.random.Generator, n: int) -> np.ndarray:
    a = rng.integers(0, model.residuals.shape[0], n)
    b = rng.integers(0, model.residuals.shape[0], n)
    t = rng.uniform(0, 2 * np.pi, n).astype(np.float32)[:, None]
    return np.cos(t) * model.residuals[a] + np.sin(t) * model.residuals[b]


@dataclass(frozen=True)
class GalleryBatch:
    ids: np.ndarray
    vectors: np.ndarray


@dataclass(frozen=True)
class Probes:
    """Queries: real LFW mated probes (whose mate is enrolled, ``mate`` = its gallery id)
    then synthetic held-out faces of gallery identities (``mate`` = one of their ids)."""

    vectors: np.ndarray
    mate: np.ndarray
    real: np.ndarray  # bool: a real LFW probe


@dataclass(frozen=True)
class SyntheticGallery:
    """A gallery of ``n`` faces: the real enrolled LFW faces get ids 0..n_real-1, synthetic
    faces the rest. Streamed in batches; the same seed gives the same gallery."""

    model: GalleryModel
    emb: LfwEmbeddings
    n: int
    seed: int = 0
    batch: int = 100_000
    max_real: int = 1000
    synthetic_probes: int = 1000

    def _real_split(self) -> tuple[np.ndarray, np.ndarray]:
        """Indexes of the enrolled real image and of the probe image, one pair per person
        with >= 2 images (at most ``max_real``)."""
        enrol, probe = [], []
        order = np.argsort(self.emb.person, kind="stable")
        people, first = np.unique(self.emb.person[order], return_index=True)
        counts = np.bincount(self.emb.person)
        for p, f in zip(people, first):
            if counts[p] >= 2:
                enrol.append(order[f])
                probe.append(order[f + 1])
        k = min(len(enrol), self.max_real, self.n)
        return np.array(enrol[:k], np.int64), np.array(probe[:k], np.int64)

    def batches(self) -> Iterator[GalleryBatch]:
        enrol, _ = self._real_split()
        start = 0
        if enrol.size:
            yield GalleryBatch(np.arange(enrol.size, dtype=np.int64), self.emb.vectors[enrol])
            start = enrol.size
        b = 0
        while start < self.n:
            rng = np.random.default_rng([self.seed, b])
            size = min(self.batch, self.n - start)
            vecs, _, _ = synth_faces(self.model, rng, int(size / 2) + 16)
            vecs = vecs[:size]
            yield GalleryBatch(np.arange(start, start + size, dtype=np.int64), vecs)
            start += size
            b += 1

    def probes(self) -> Probes:
        enrol, probe = self._real_split()
        vecs = [self.emb.vectors[probe]]
        mate = [np.arange(enrol.size, dtype=np.int64)]
        real = [np.ones(enrol.size, bool)]
        # synthetic probes: re-create the first batch's identities with one more face each
        n_syn = self.n - enrol.size
        if n_syn > 0 and self.synthetic_probes:
            rng = np.random.default_rng([self.seed, 0])
            size = min(self.batch, n_syn)
            _, ident, centres = synth_faces(self.model, rng, int(size / 2) + 16)
            ident = ident[:size]
            take = np.unique(ident)[: self.synthetic_probes]
            first = np.searchsorted(ident, take)
            # one more photo of the same identity: its centre plus a fresh real residual
            prng = np.random.default_rng([self.seed, 1_000_003])
            p = centres[take] + mix_residuals(self.model, prng, take.size)
            p /= np.linalg.norm(p, axis=1, keepdims=True)
            vecs.append(p.astype(np.float32))
            mate.append(enrol.size + first.astype(np.int64))
            real.append(np.zeros(take.size, bool))
        return Probes(np.concatenate(vecs), np.concatenate(mate), np.concatenate(real))


def similarity_profile(
    vectors: np.ndarray, identity: np.ndarray, rng: np.random.Generator, pairs: int = 20000
) -> dict[str, float]:
    """Mated and non-mated cosine similarity (mean, sd, non-mated 99.9th percentile): the
    figures that show synthetic faces behave like real ones."""
    order = np.argsort(identity, kind="stable")
    ident = identity[order]
    same = np.flatnonzero(ident[1:] == ident[:-1])
    if same.size > pairs:
        same = rng.choice(same, pairs, replace=False)
    mated = np.sum(vectors[order[same]] * vectors[order[same + 1]], axis=1)
    i = rng.integers(0, vectors.shape[0], pairs)
    j = rng.integers(0, vectors.shape[0], pairs)
    keep = identity[i] != identity[j]
    non = np.sum(vectors[i[keep]] * vectors[j[keep]], axis=1)
    return {
        "mated_mean": float(mated.mean()),
        "mated_sd": float(mated.std()),
        "nonmated_mean": float(non.mean()),
        "nonmated_sd": float(non.std()),
        "nonmated_p999": float(np.quantile(non, 0.999)),
    }
