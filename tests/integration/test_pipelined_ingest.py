"""The pipelined ingest gives today's results: the same faces, the same embeddings (cosine
>= 0.999) as the photo-by-photo analysis, whether one lane runs in this process or two in
worker processes; and the worker count follows the free cores."""

from __future__ import annotations

from faceledger.pipeline.ingest import auto_workers
from faceledger.pipeline.listing import list_photos
from faceledger.pipeline.worker import AnalysisLane, analyze_photo

from .ingest_support import assert_same_catalog, catalog_summary, new_store, photo_folder


def _cos(a, b) -> float:
    import numpy as np

    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_lane_gives_the_photo_by_photo_results(tmp_path, lfw_dir, models_dir, datasets_dir):
    photos = photo_folder(tmp_path, lfw_dir, per_person=2,
                          wider=datasets_dir / "wider-dev" / "images", wider_count=3)
    st = new_store(tmp_path, models_dir, photos)
    refs = list_photos(st.source("events"))
    analyzer, limits = st.analyzer, st.limits
    before = [analyze_photo(r, analyzer, limits) for r in refs]
    assert max(len(r.faces) for r in before) >= 3  # a crowd photo: several faces at once
    for faces_per_call in (1, 8):  # a face at a time, and eight faces of several photos
        lane = AnalysisLane(analyzer, limits, faces_per_call=faces_per_call)
        try:
            after = lane.analyze(refs)
        finally:
            lane.close()
        assert [r.uri for r in after] == [r.uri for r in before]
        for old, new in zip(before, after):
            assert (new.error is None) == (old.error is None), old.uri
            assert new.sha256 == old.sha256 and (new.width, new.height) == (old.width, old.height)
            assert [f.box for f in new.faces] == [f.box for f in old.faces], old.uri
            assert [f.landmarks for f in new.faces] == [f.landmarks for f in old.faces]
            for fo, fn in zip(old.faces, new.faces):
                assert _cos(fo.embedding, fn.embedding) >= 0.999, old.uri
    assert any(r.error for r in before)  # the broken file is recorded, not fatal
    st.close()


def test_two_lanes_give_the_catalog_of_one(tmp_path, lfw_dir, models_dir):
    """Two lanes in threads of this process (one copy of the models) and two worker
    processes both give the catalog of one lane."""
    photos = photo_folder(tmp_path, lfw_dir, per_person=4)
    one = new_store(tmp_path / "one", models_dir, photos)
    r1 = one.ingest("events", workers=1)
    assert r1.status == "completed"
    counts = lambda r: (r.photos, r.faces, r.errors, r.duplicates)  # noqa: E731
    assert counts(r1) == (42, r1.faces, 1, 1)
    assert r1.faces >= 40
    for name, processes in (("threads", False), ("processes", True)):
        two = new_store(tmp_path / name, models_dir, photos, batch_size=4)
        r2 = two.ingest("events", workers=2, processes=processes)
        assert r2.status == "completed"
        assert counts(r2) == counts(r1), name
        assert_same_catalog(catalog_summary(one), catalog_summary(two))
        again = two.ingest("events", workers=2, processes=processes)  # resumable
        assert (again.photos, again.skipped) == (0, 42)
        two.close()
    one.close()


def test_lanes_in_threads_share_the_recognizer(tmp_path, models_dir, lfw_dir):
    """A sibling analyzer (one per lane thread) has its own detector and the same
    recognizer, and gives the same faces and embeddings when two threads run at once."""
    import concurrent.futures as cf

    from faceledger.images import decode_image

    photos = photo_folder(tmp_path, lfw_dir, per_person=2)
    st = new_store(tmp_path / "s", models_dir, photos)
    analyzer = st.analyzer
    assert analyzer.parallel_in_threads  # the default pack: lanes in threads
    twin = analyzer.sibling()
    assert twin.detector is not analyzer.detector
    assert twin.recognizer is analyzer.recognizer
    images = [decode_image(p.read_bytes(), st.limits, name=str(p)).bgr
              for p in sorted(photos.rglob("*.jpg")) if p.name != "broken.jpg"]
    alone = [analyzer.analyze(bgr) for bgr in images]
    with cf.ThreadPoolExecutor(2) as pool:  # both analyzers busy at the same time
        halves = [pool.submit(lambda a, part: [a.analyze(b) for b in part], a, images[k::2])
                  for k, a in enumerate((analyzer, twin))]
        together = [None] * len(images)
        together[0::2], together[1::2] = halves[0].result(), halves[1].result()
    for old, new in zip(alone, together):
        assert [f.face.box for f in new] == [f.face.box for f in old]
        for fo, fn in zip(old, new):
            assert _cos(fo.embedding, fn.embedding) >= 0.999
    st.close()


def test_worker_count_follows_the_free_cores():
    """Worker processes get the free cores; lanes in threads one per core."""
    assert auto_workers(2, cores=2, load=0.1) == 2
    assert auto_workers(2, cores=2, load=0.9) == 1  # one core busy: a second worker contends
    assert auto_workers(2, cores=2, load=7.5) == 1  # a busy machine: never more than one
    assert auto_workers(1, cores=8, load=0.0) == 1  # FACELEDGER_WORKERS caps it
    assert auto_workers(4, cores=8, load=2.0) == 4
    # lanes in threads share the models: one per core whatever the load; how many of them
    # work at once follows the free cores as the run goes (the lane gate, next test)
    assert auto_workers(2, cores=2, load=7.5, shared_models=True) == 2
    assert auto_workers(1, cores=2, load=0.0, shared_models=True) == 1
    assert auto_workers(8, cores=2, load=0.0, shared_models=True) == 2


def test_on_a_busy_machine_the_default_lets_one_lane_work(tmp_path, lfw_dir, models_dir,
                                                         monkeypatch):
    """With the default worker count, two lanes start in threads, but while the other
    processes leave only one core free, only one analyses at a time; the catalog is the
    one lane's. (The machine's load is the isolated part: a reading of one free core.)"""
    import os
    import threading

    import pytest

    import faceledger.pipeline.ingest as ingest_mod
    from faceledger.pipeline.lane_gate import LaneGate

    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core: the default is one lane")
    seen: list[tuple[int, int, str]] = []  # (lanes, allowed, lane thread) per chunk taken

    class WatchedGate(LaneGate):
        def __init__(self, lanes, free):
            super().__init__(lanes, free, every=0.0)  # a sample at every chunk

        def wait_turn(self, lane, closed=lambda: False):
            went = super().wait_turn(lane, closed)
            if went:
                seen.append((self.lanes, self.allowed, threading.current_thread().name))
            return went

    class OneCoreFree:
        def sample(self) -> float:
            return 1.0

        def age(self) -> float:
            return 0.0  # made just now: the gate waits a tenth of a second for its reading

    photos = photo_folder(tmp_path, lfw_dir, per_person=4)
    one = new_store(tmp_path / "one", models_dir, photos)
    assert one.ingest("events", workers=1).status == "completed"
    monkeypatch.setattr(ingest_mod, "FreeCores", OneCoreFree)
    monkeypatch.setattr(ingest_mod, "LaneGate", WatchedGate)
    busy = new_store(tmp_path / "busy", models_dir, photos, batch_size=4, workers=2)
    report = busy.ingest("events")  # workers=None: the default
    assert report.status == "completed"
    assert len(seen) >= 3  # several chunks, through the gate
    assert {lanes for lanes, _, _ in seen} == {2}  # two lanes started...
    assert {(allowed, name) for _, allowed, name in seen} == {(1, "lane-0")}  # ...one works
    assert report.lanes <= 1.1
    assert_same_catalog(catalog_summary(one), catalog_summary(busy))
    explicit = new_store(tmp_path / "two", models_dir, photos, batch_size=4)
    seen.clear()
    assert explicit.ingest("events", workers=2).status == "completed"
    assert {name for _, _, name in seen} == {"lane-0", "lane-1"}  # asked for: not gated
    for st in (one, busy, explicit):
        st.close()


def test_a_url_list_that_repeats_photos_is_ingested_once_each(tmp_path, lfw_dir, models_dir):
    """The listing streams, so repeats are dropped by the run (in flight or committed), not
    by holding the whole list: every photo once, in two lanes with small batches."""
    from .ingest_support import SOURCE

    photos = photo_folder(tmp_path, lfw_dir, per_person=2)
    uris = [p.as_uri() for p in sorted(photos.rglob("*.jpg"))]
    listed = tmp_path / "list.txt"
    # each photo, then each again right after (in flight) and once more at the end
    listed.write_text("\n".join([u for u in uris for _ in (0, 1)] + uris) + "\n")
    st = new_store(tmp_path, models_dir, photos, batch_size=4)
    st.add_source("web", location=listed, kind="urls", root=photos, **SOURCE)
    report = st.ingest("web", workers=2)
    assert report.status == "completed"
    assert report.photos == len(uris)
    assert report.skipped <= len(uris)  # the repeats at the end whose first was committed
    rows = st.catalog.query("SELECT uri FROM photos")
    assert sorted(r[0] for r in rows) == sorted(uris)
    again = st.ingest("web", workers=2)
    assert (again.photos, again.skipped) == (0, len(uris))
    st.close()
