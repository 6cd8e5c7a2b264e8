"""Galleries that behave like real embeddings of the default pack, at any size.

Real LFW faces are embedded once with the default pack and cached outside the project
(``~/.cache/faceledger/lfw-embeddings.npz``). From them we measure two things:

* the **within-person spread**: the residual of each face from its person's mean, i.e. how
  far two photos of one person lie apart (``r_within``, the mean norm of the residuals);
* the **between-person spread**: how identity centres spread around the global mean.

A synthetic identity is a new centre drawn from a Gaussian fitted to the real identity
centres (their mean and their principal directions, so the anisotropy of the real space is
kept), and each synthetic face of that identity is its centre plus a *real* residual (a
real face's deviation from its own person's mean, picked at random and rotated into a
random subset of coordinates by a sign flip / permutation within the top principal
sub-space would break structure, so we reuse residuals as they are), then L2-normalised.
That keeps the distribution of similarity of mated and non-mated pairs close to the real
one (``GalleryStats`` reports both so a reader can check), which is what decides how hard
approximate search is. Plain uniform noise would be far easier (and wrong): real face
embeddings are anisotropic and clustered.

The real mated probes are inserted into the gallery: one LFW image per person (of people
with two or more images) is enrolled, another image of the same person is the probe, so
the benchmark can say whether an approximate index still finds the right person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import ConfigError

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
    def load(cls, path: Path) -> "LfwEmbeddings":
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
    """Embed LFW images with ``pack`` (one thread). For each image the face nearest the
    image centre is kept (LFW photos are centred on the labelled person)."""
    from ..images.decode import read_image_file
    from ..models import load_pack

    analyzer = load_pack(pack, models_dir, threads=1)
    items = lfw_image_list(lfw_dir, max_singles=max_singles, max_people=max_people)
    images = Path(lfw_dir) / "images"
    vecs: list[np.ndarray] = []
    persons: list[str] = []
    files: list[str] = []
    for i, (person, rel) in enumerate(items):
        img = read_image_file(images / rel)
        bgr = img.bgr
        faces = analyzer.detect(bgr)
        if faces:
            cy, cx = bgr.shape[0] / 2, bgr.shape[1] / 2
            face = min(faces, key=lambda f: (f.box.x + f.box.width / 2 - cx) ** 2
                       + (f.box.y + f.box.height / 2 - cy) ** 2)
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
