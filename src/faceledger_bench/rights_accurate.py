"""The rights flows with and without accurate mode, on a real store of LFW photos.

The people of LFW with at least ten photos (every ``step``-th of them, in name order) each
send one selfie, their first photo, which is kept out of the gallery; the gallery holds their
next photos (at most ``per_person`` each), ingested into a real store with the default pack.
For every person :func:`faceledger.privacy.access.find_person` runs at the access operating
point, once with the default pack alone and once in accurate mode (the default index's
shortlist re-scored by the fused scorer). Measured per mode:

* own photos found: the person's gallery photos in which a face was returned;
* others included: faces returned from other people's photos (a look-alike in the copy);
* the same at "match" (what an erasure takes without review);
* seconds per request.

Background faces in a person's own photos are neither counted as found nor as others.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .lfw import images_dir

ACTOR_PURPOSE = "accurate-mode measurement"


@dataclass
class ModeFigures:
    mode: str
    own_photos: int = 0
    own_found: int = 0
    own_found_match: int = 0
    others_included: int = 0
    others_included_match: int = 0
    requests_with_others: int = 0
    seconds: float = 0.0
    examples: list[str] = field(default_factory=list)

    def as_dict(self, requests: int) -> dict:
        return {
            "mode": self.mode,
            "own_found_share": self.own_found / max(self.own_photos, 1),
            "own_found_share_match": self.own_found_match / max(self.own_photos, 1),
            "others_included": self.others_included,
            "others_included_match": self.others_included_match,
            "requests_with_others": self.requests_with_others,
            "seconds_per_request": self.seconds / max(requests, 1),
            "examples": self.examples[:10],
        }


def people_with(lfw_dir: Path, min_photos: int = 10) -> list[tuple[str, int]]:
    names = (Path(lfw_dir) / "lfw-names.txt").read_text().split("\n")
    rows = [line.split() for line in names if line.strip()]
    return sorted((n, int(c)) for n, c in rows if int(c) >= min_photos)


def build_gallery(lfw_dir: Path, folder: Path, step: int, per_person: int):
    """Copy the gallery photos into ``folder``; the selfies stay in LFW."""
    root = images_dir(lfw_dir)
    selfies: dict[str, Path] = {}
    own: dict[str, int] = {}
    for name, count in people_with(lfw_dir)[::step]:
        (folder / name).mkdir(parents=True, exist_ok=True)
        selfies[name] = root / name / f"{name}_0001.jpg"
        numbers = range(2, min(count, per_person + 1) + 1)
        for n in numbers:
            shutil.copy(root / name / f"{name}_{n:04d}.jpg", folder / name)
        own[name] = len(numbers)
    return selfies, own


def run_rights_accurate(lfw_dir: Path, models_dir: Path, work: Path, step: int = 4,
                        per_person: int = 20, say: Callable[[str], None] = print) -> dict:
    from faceledger import Settings, init_store
    from faceledger.privacy.access import find_person

    folder = work / "photos"
    selfies, own = build_gallery(lfw_dir, folder, step, per_person)
    settings = Settings(data_dir=work / "data", models_dir=models_dir,
                        key_file=work / "keys" / "k.key", workers=1, require_purpose=False)
    store = init_store(settings)
    try:
        store.add_source("lfw", location=folder, controller="benchmark",
                         lawful_basis="legitimate-interests",
                         special_category_condition="archiving-research",
                         purpose=ACTOR_PURPOSE, retention_days=1, minors_policy="none-expected")
        started = time.perf_counter()
        store.ingest("lfw", workers=1)
        ingest_s = time.perf_counter() - started
        say(f"ingested {sum(own.values())} photos of {len(own)} people in {ingest_s:.0f} s")
        store.fused_embedder().secondary  # noqa: B018 - loaded before timing
        figures = {m: ModeFigures(m) for m in ("default", "accurate")}
        for i, (name, selfie) in enumerate(selfies.items(), 1):
            for mode, fig in figures.items():
                t0 = time.perf_counter()
                person = find_person(store, [selfie], accurate=(mode == "accurate"))
                fig.seconds += time.perf_counter() - t0
                records = store.catalog.faces(person.face_ids)
                found, found_match, others, others_match = set(), set(), 0, 0
                for m in person.matches:
                    owner = Path(records[m.face_id].photo_uri).parent.name
                    if owner == name:
                        found.add(records[m.face_id].photo_id)
                        if m.decision == "match":
                            found_match.add(records[m.face_id].photo_id)
                    else:
                        others += 1
                        others_match += m.decision == "match"
                        fig.examples.append(f"{name} -> {owner} ({m.similarity}, {m.decision})")
                fig.own_photos += own[name]
                fig.own_found += len(found)
                fig.own_found_match += len(found_match)
                fig.others_included += others
                fig.others_included_match += others_match
                fig.requests_with_others += others > 0
            if i % 10 == 0:
                say(f"  {i}/{len(selfies)} people")
        return {
            "people": len(selfies), "gallery_photos": sum(own.values()),
            "gallery_faces": store.counts().get("faces"), "ingest_seconds": ingest_s,
            "step": step, "per_person": per_person,
            "modes": [f.as_dict(len(selfies)) for f in figures.values()],
        }
    finally:
        store.close()
