"""The store's ingest, erasure-by-selfie and reconcile paths on a fake analyzer handed to
the store (``init_store(..., analyzer=...)``): no model files, no runtime."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceledger import ActionContext, Settings, init_store, open_store
from faceledger.errors import ConfigError
from faceledger.privacy.rights import erase_person

from .fake_analyzer import ColourRecognizer, SquareDetector, fake_analyzer, square_photo

CTX = ActionContext(actor="dpo", purpose="unit test of the store's paths", case="T-1")
SOURCE = dict(controller="Acme Photo Ltd", lawful_basis="consent",
              special_category_condition="explicit-consent",
              purpose="attendees find their photos", retention_days=30,
              minors_policy="none-expected")
#: photo name -> person in it (None: no face); more photos than one ingest chunk (16), so
#: that several lanes get work
PHOTOS = {"a1": "ada", "a2": "ada", "a3": "ada", "b1": "ben", "b2": "ben", "empty": None,
          **{f"c{i}": "cy" for i in range(12)}}
FACES = sum(p is not None for p in PHOTOS.values())
CY = {name for name, p in PHOTOS.items() if p == "cy"}


def settings(root: Path) -> Settings:
    return Settings(data_dir=root / "data", key_file=root / "keys" / "t.key",
                    models_dir=root / "no-models", workers=2)


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    for i, (name, person) in enumerate(PHOTOS.items()):
        square_photo(folder / f"{name}.png", person, x=5 + 5 * i, side=40 + 5 * i,
                     size=(240, 160))
    return folder


def selfie(tmp_path: Path, person: str) -> Path:
    return square_photo(tmp_path / "selfies" / f"{person}.png", person, x=5, y=5, side=120,
                        size=(240, 240))


def found_photos(store, probe: Path) -> set[str]:
    results = store.search(probe, k=50, largest_only=True, context=CTX)
    records = store.catalog.faces([m.face_id for r in results for m in r.matches
                                   if m.decision.value == "match"])
    return {Path(rec.photo_uri).stem for rec in records.values()}


def new_store(tmp_path: Path, gallery: Path, analyzer=None):
    analyzer = analyzer or fake_analyzer()
    store = init_store(settings(tmp_path), analyzer=analyzer)
    store.add_source("events", location=gallery, **SOURCE)
    return store, analyzer


def test_ingest_stores_what_the_injected_analyzer_finds(tmp_path, gallery):
    store, analyzer = new_store(tmp_path, gallery)
    with store:
        report = store.ingest("events", workers=2)
        assert store.analyzer is analyzer
        assert analyzer.detector.counter.calls == len(PHOTOS)  # every photo, once
        assert report.faces == FACES
        counts = store.counts()
        assert (counts["photos"], counts["faces"], counts["index_vectors"]) == (
            len(PHOTOS), FACES, FACES)
        assert found_photos(store, selfie(tmp_path, "ada")) == {"a1", "a2", "a3"}
        assert found_photos(store, selfie(tmp_path, "ben")) == {"b1", "b2"}
        assert found_photos(store, selfie(tmp_path, "cy")) == CY
        assert found_photos(store, selfie(tmp_path, "dee")) == set()


def test_erasure_by_selfie_takes_that_person_only(tmp_path, gallery):
    store, _ = new_store(tmp_path, gallery)
    with store:
        store.ingest("events", workers=1)
        report = erase_person(store, [selfie(tmp_path, "ada")], context=CTX)
        assert len(report.faces) == 3 and len(report.photos) == 3
        assert store.counts()["faces"] == FACES - 3 and len(store.index_file) == FACES - 3
        assert found_photos(store, selfie(tmp_path, "ada")) == set()
        assert found_photos(store, selfie(tmp_path, "ben")) == {"b1", "b2"}
        assert store.check().ok


def test_another_store_reconciles_with_an_erasure_and_ingest_does_not_recollect(
        tmp_path, gallery):
    first, _ = new_store(tmp_path, gallery)
    with first:
        first.ingest("events", workers=1)
        with open_store(settings(tmp_path), analyzer=fake_analyzer()) as second:
            assert found_photos(second, selfie(tmp_path, "ada")) == {"a1", "a2", "a3"}
            erase_person(first, [selfie(tmp_path, "ada")], context=CTX)
            # the second store's index catches up with the catalog before it answers
            assert found_photos(second, selfie(tmp_path, "ada")) == set()
            assert found_photos(second, selfie(tmp_path, "ben")) == {"b1", "b2"}
            again = second.ingest("events", workers=1)
            assert again.faces == 0  # erased photos are never collected again
            assert second.check().ok and len(second.index_file) == FACES - 3


def test_an_analyzer_of_another_vector_size_is_refused(tmp_path, gallery):
    new_store(tmp_path, gallery)[0].close()
    with pytest.raises(ConfigError, match="256"):
        open_store(settings(tmp_path), analyzer=fake_analyzer("dlib"))


def test_an_injected_analyzer_stays_in_this_process(tmp_path, gallery):
    store, analyzer = new_store(tmp_path, gallery)
    with store:
        with pytest.raises(ConfigError, match="Ray"):
            store.ingest("events", ray="auto")
        # worker processes would load the pack from the (empty) models dir instead
        report = store.ingest("events", workers=2, processes=True)
        assert report.faces == FACES and analyzer.detector.counter.calls == len(PHOTOS)


class _SlowLoadingRecognizer(ColourRecognizer):
    """Loads only once a photo has been detected (or gives up after 10 s): it tells whether
    ingest detected while it was loading."""

    def __init__(self, embedding_size: int, detected) -> None:
        super().__init__(embedding_size)
        self.detected = detected
        self.saw_detection: bool | None = None

    def _load(self) -> None:
        self.saw_detection = self.detected.wait(10.0)


class _SignallingDetector(SquareDetector):
    def __init__(self, detected, counter=None) -> None:
        super().__init__(counter)
        self.detected = detected

    def clone(self):
        return _SignallingDetector(self.detected, self.counter)

    def _detect(self, bgr):
        found = super()._detect(bgr)
        self.detected.set()
        return found


@pytest.mark.parametrize("workers", [1, 2])
def test_ingest_detects_while_the_recognizer_loads(tmp_path, gallery, workers):
    """The recognizer's load is most of a fresh store's start-up: the lanes detect their
    first photos meanwhile, and embed once it is loaded."""
    import threading

    from faceledger.models.analyzer import FaceAnalyzer
    from faceledger.models.registry import get_pack

    spec = get_pack("yunet-omz0095")
    detected = threading.Event()
    recognizer = _SlowLoadingRecognizer(spec.embedding_size, detected)
    analyzer = FaceAnalyzer(spec, _SignallingDetector(detected), recognizer)
    store, _ = new_store(tmp_path, gallery, analyzer)
    with store:
        report = store.ingest("events", workers=workers)
        assert recognizer.saw_detection is True  # loaded after a detection, not before
        assert report.status == "completed" and report.faces == FACES
        assert found_photos(store, selfie(tmp_path, "ben")) == {"b1", "b2"}


class _BrokenRecognizer(ColourRecognizer):
    def __init__(self, embedding_size: int) -> None:
        super().__init__(embedding_size)
        self.loads = 0

    def _load(self) -> None:
        from faceledger.errors import ModelError

        self.loads += 1
        raise ModelError("recognizer weights fail their sha256 check")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_recognizer_that_fails_to_load_fails_the_run_not_each_photo(tmp_path, gallery,
                                                                       workers):
    """Loaded in the background, the recognizer's error still ends the run with that error,
    before anything is written: no photo recorded as failed, none stored."""
    from faceledger.errors import ModelError
    from faceledger.models.analyzer import FaceAnalyzer
    from faceledger.models.registry import get_pack

    spec = get_pack("yunet-omz0095")
    recognizer = _BrokenRecognizer(spec.embedding_size)
    store, _ = new_store(tmp_path, gallery, FaceAnalyzer(spec, SquareDetector(), recognizer))
    with store:
        with pytest.raises(ModelError, match="sha256"):
            store.ingest("events", workers=workers)
        assert recognizer.loads == 1  # the background load, not once per photo
        run = store.catalog.runs()[0]
        assert run.status == "failed" and run.photos == 0 and run.errors == 0
        assert store.counts()["photos"] == 0 and store.counts()["faces"] == 0
