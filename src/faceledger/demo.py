"""A demo store: a small LFW sample registered as an explicit-list source and ingested.

Used by the README's first command. The sample is a list of file paths (a source of kind
``urls``), so nothing is copied out of the shared dataset folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .errors import NotFoundError
from .ledger import Store, init_store
from .pipeline.ingest import IngestReport

DEMO_SOURCE = "demo-lfw-sample"


@dataclass(frozen=True)
class Demo:
    store: Store
    report: IngestReport
    probe: Path  # another photo of someone in the sample, not itself ingested


def sample_lfw(lfw_images: Path, people: int) -> tuple[list[Path], Path]:
    """The first photo of each of the first ``people`` people (alphabetically) with at
    least two photos, plus the second photo of the first of them as a probe."""
    if not lfw_images.is_dir():
        raise NotFoundError(f"LFW images not found at {lfw_images}")
    chosen: list[Path] = []
    probe: Path | None = None
    for person in sorted(p for p in lfw_images.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) < 2:
            continue
        chosen.append(photos[0].resolve())
        if probe is None:
            probe = photos[1].resolve()
        if len(chosen) >= people:
            break
    assert probe is not None
    return chosen, probe


def prepare_demo(settings: Settings, datasets_dir: Path, people: int = 300) -> Demo:
    store = init_store(settings)
    photos, probe = sample_lfw(Path(datasets_dir) / "lfw" / "images", people)
    listing = Path(settings.data_dir) / "demo-source.txt"
    listing.write_text("".join(p.as_uri() + "\n" for p in photos))
    if DEMO_SOURCE not in {s.name for s in store.sources()}:
        store.add_source(
            DEMO_SOURCE, location=listing, kind="urls", root=Path(datasets_dir) / "lfw" / "images",
            controller="faceledger demo (LFW, research use)",
            lawful_basis="legitimate-interests",
            special_category_condition="archiving-research",
            purpose="demonstrate faceledger on a public research dataset",
            retention_days=30, minors_policy="none-expected",
        )
    report = store.ingest(DEMO_SOURCE)
    return Demo(store=store, report=report, probe=probe)
