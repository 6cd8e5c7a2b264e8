"""How well the opt-out list blocks the people on it, and how often it blocks someone else.

On LFW: ``people`` identities with at least ten photos each ask to be opted out with their
first ``enrol`` photos as selfies; their next photos (up to ``max_same`` each) and one photo
each of ``others`` different people (people with fewer than ten photos) are then ingested
as two sources of a real store. Each photo's subject is its most prominent face (size x score
x centrality, as the rights flows choose); background faces are left out of the rates.

For every photo the store's own analyzer and ``optout.blocked_mask`` (what ingest calls)
give the decision per face; the ingest runs must then report exactly as many blocked
faces, and hold none of them, which ties the figures to the real ingest path.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceledger.images import read_image_file
from faceledger.models.prominence import most_prominent
from faceledger.types import Box, DetectedFace

if TYPE_CHECKING:
    from faceledger.ledger import Store


@dataclass(frozen=True)
class OptOutSplit:
    opted: dict[str, list[Path]]  # selfies given with each opt-out request
    same: dict[str, list[Path]]  # later photos of the same people
    others: list[Path]  # photos of people not on the list


@dataclass(frozen=True)
class OptOutMeasurement:
    threshold: float
    people: int
    templates: int
    same_photos: int
    same_blocked: int
    other_photos: int
    other_blocked: int
    no_central_face: int
    predicted_blocked_faces: int
    ingest_blocked_faces: int
    ingest_stored_faces: int
    missed: list[str] = field(default_factory=list)
    wrongly_blocked: list[str] = field(default_factory=list)
    # "group/file name" -> (the box of the photo's subject, blocked or not), for every photo
    # whose subject was judged (its most prominent face, :func:`central_face`)
    subjects: dict[str, tuple[Box, bool]] = field(default_factory=dict)
    # (threshold, same-person share blocked, others' share blocked) from the same pass
    curve: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def same_rate(self) -> float:
        return self.same_blocked / self.same_photos if self.same_photos else 0.0

    @property
    def other_rate(self) -> float:
        return self.other_blocked / self.other_photos if self.other_photos else 0.0


def _people(path: Path) -> list[tuple[str, int]]:
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            out.append((parts[0], int(parts[1])))
    return sorted(out)


def lfw_optout_split(
    lfw_dir: Path,
    people_file: str = "peopleDevTest.txt",
    people: int = 20,
    enrol: int = 3,
    max_same: int = 17,
    others: int = 300,
) -> OptOutSplit:
    """Alphabetical, so the same arguments always give the same split."""
    listing = _people(Path(lfw_dir) / people_file)
    images = Path(lfw_dir) / "images"
    many = [n for n, c in listing if c >= 10][:people]
    opted, same = {}, {}
    for name in many:
        photos = sorted((images / name).glob("*.jpg"))
        opted[name] = photos[:enrol]
        same[name] = photos[enrol : enrol + max_same]
    rest = [n for n, c in listing if c < 10][:others]
    other_photos = [min((images / n).glob("*.jpg")) for n in rest]
    return OptOutSplit(opted, same, other_photos)


def central_face(faces: list[DetectedFace], width: int, height: int,
                 max_offset: float = 0.2) -> int | None:
    """Index of the most prominent face (:mod:`faceledger.models.prominence`), or None when
    its centre is further than ``max_offset`` of the image size from the image centre."""
    idx = most_prominent(faces, width, height)
    if idx is None:
        return None
    b = faces[idx].box
    d = float(np.hypot(b.x + b.width / 2 - width / 2, b.y + b.height / 2 - height / 2))
    return idx if d <= max_offset * max(width, height) else None


def measure_optout(store: Store, split: OptOutSplit, workdir: Path, workers: int = 1,
                   ) -> OptOutMeasurement:
    from faceledger.privacy.rights import opt_out_person
    from faceledger.types import ActionContext

    ctx = ActionContext("bench", "opt-out measurement", "BENCH-OPTOUT")
    templates = 0
    for name, selfies in split.opted.items():
        result = opt_out_person(store, list(selfies), context=ctx, reference=f"bench:{name}",
                                erase_existing=False)
        templates += result.entry.templates  # one per person (mean of the selfies)

    folders = {"optout-same": workdir / "same", "optout-others": workdir / "others"}
    for name, photos in split.same.items():
        (folders["optout-same"] / name).mkdir(parents=True, exist_ok=True)
        for p in photos:
            shutil.copy(p, folders["optout-same"] / name / p.name)
    folders["optout-others"].mkdir(parents=True, exist_ok=True)
    for p in split.others:
        shutil.copy(p, folders["optout-others"] / p.name)

    counts = {"same": [0, 0], "others": [0, 0]}
    sims: dict[str, list[float]] = {"same": [], "others": []}
    missed: list[str] = []
    wrong: list[str] = []
    subjects: dict[str, tuple[Box, bool]] = {}
    no_centre = predicted = 0
    groups = [("same", p) for ps in split.same.values() for p in ps]
    groups += [("others", p) for p in split.others]
    for group, path in groups:
        image = read_image_file(path, store.limits)
        faces = store.analyzer.analyze(image.bgr)
        if not faces:
            no_centre += 1
            continue
        scores = store.optout.similarities(np.stack([f.embedding for f in faces]))
        mask = store.optout.blocked_mask(np.stack([f.embedding for f in faces]))
        predicted += int(mask.sum())
        idx = central_face([f.face for f in faces], image.width, image.height)
        if idx is None:
            no_centre += 1
            continue
        counts[group][0] += 1
        sims[group].append(float(scores[idx]))
        subjects[f"{group}/{path.name}"] = (faces[idx].face.box, bool(mask[idx]))
        if mask[idx]:
            counts[group][1] += 1
            if group == "others":
                wrong.append(path.name)
        elif group == "same":
            missed.append(path.name)

    blocked = stored = 0
    for name, folder in folders.items():
        store.add_source(
            name, location=folder, controller="benchmark", lawful_basis="legitimate-interests",
            special_category_condition="archiving-research", purpose="opt-out measurement",
            retention_days=1, minors_policy="none-expected",
        )
        report = store.ingest(name, workers=workers)
        blocked += report.blocked
        stored += report.faces
    return OptOutMeasurement(
        threshold=store.optout.threshold,
        people=len(split.opted),
        templates=templates,
        same_photos=counts["same"][0],
        same_blocked=counts["same"][1],
        other_photos=counts["others"][0],
        other_blocked=counts["others"][1],
        no_central_face=no_centre,
        predicted_blocked_faces=predicted,
        ingest_blocked_faces=blocked,
        ingest_stored_faces=stored,
        missed=missed,
        wrongly_blocked=wrong,
        subjects=subjects,
        curve=[
            (t, _share(sims["same"], t), _share(sims["others"], t))
            for t in CURVE_THRESHOLDS
        ],
    )


CURVE_THRESHOLDS = (0.42, 0.44, 0.45, 0.46, 0.47, 0.48, 0.50, 0.52)


def _share(values: list[float], threshold: float) -> float:
    return round(float(np.mean(np.asarray(values) >= threshold)), 4) if values else 0.0
