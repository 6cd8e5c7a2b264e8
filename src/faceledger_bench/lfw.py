"""Labeled Faces in the Wild: pairs files, people files and image paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceledger.errors import ConfigError


@dataclass(frozen=True)
class Pair:
    image_a: str  # path relative to the images folder: Name/Name_0001.jpg
    image_b: str
    same: bool
    fold: int


@dataclass(frozen=True)
class Person:
    name: str
    count: int

    def images(self) -> list[str]:
        return [image_path(self.name, n) for n in range(1, self.count + 1)]


def image_path(name: str, number: int) -> str:
    return f"{name}/{name}_{int(number):04d}.jpg"


def images_dir(lfw_dir: Path) -> Path:
    """The folder holding ``Name/Name_NNNN.jpg``: ``lfw_dir/images`` or ``lfw_dir`` itself."""
    lfw_dir = Path(lfw_dir)
    for candidate in (lfw_dir / "images", lfw_dir):
        if candidate.is_dir() and any(candidate.glob("*/*_0001.jpg")):
            return candidate
    raise ConfigError(f"{lfw_dir}: no LFW images found (expected images/Name/Name_0001.jpg)")


def resolve_list_file(lfw_dir: Path, name_or_path: str | Path) -> Path:
    """A pairs/people file given by path, or by name inside the LFW folder."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    inside = Path(lfw_dir) / path
    if inside.is_file():
        return inside
    raise ConfigError(f"list file {name_or_path} not found (looked in . and {lfw_dir})")


def parse_pairs(path: Path, default_folds: int = 10) -> list[Pair]:
    """Read a pairs file. ``pairs.txt`` (header ``10 300``) gives its own folds, each one
    block of matched then mismatched pairs. ``pairsDevTrain/DevTest.txt`` (header ``N``: one
    block) are split into ``default_folds`` folds by position inside each half, so that every
    fold holds the same number of matched and mismatched pairs."""
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not lines:
        raise ConfigError(f"{path}: empty pairs file")
    header = [int(v) for v in lines[0]]
    if len(header) == 2:
        n_sets, per_set = header
    elif len(header) == 1:
        n_sets, per_set = 1, header[0]
    else:
        raise ConfigError(f"{path}: unexpected header {lines[0]}")
    rows = lines[1:]
    if len(rows) != n_sets * 2 * per_set:
        raise ConfigError(
            f"{path}: header promises {n_sets * 2 * per_set} pairs, found {len(rows)}"
        )
    pairs: list[Pair] = []
    for s in range(n_sets):
        block = rows[s * 2 * per_set : (s + 1) * 2 * per_set]
        for j, row in enumerate(block):
            same = j < per_set
            pos = j if same else j - per_set
            fold = s if n_sets > 1 else pos * default_folds // per_set
            if same:
                if len(row) != 3:
                    raise ConfigError(f"{path}: bad matched pair {row}")
                a, b = image_path(row[0], row[1]), image_path(row[0], row[2])
            else:
                if len(row) != 4:
                    raise ConfigError(f"{path}: bad mismatched pair {row}")
                a, b = image_path(row[0], row[1]), image_path(row[2], row[3])
            pairs.append(Pair(a, b, same, fold))
    return pairs


def parse_people(path: Path) -> list[Person]:
    """Read ``people.txt`` (several sets, each headed by its size) or
    ``peopleDevTrain/DevTest.txt`` (one set); every ``name count`` line is returned once."""
    people: list[Person] = []
    seen: set[str] = set()
    for ln in Path(path).read_text().splitlines():
        parts = ln.split()
        if len(parts) != 2:
            continue
        name, count = parts[0], int(parts[1])
        if name not in seen:
            seen.add(name)
            people.append(Person(name, count))
    if not people:
        raise ConfigError(f"{path}: no people listed")
    return people
