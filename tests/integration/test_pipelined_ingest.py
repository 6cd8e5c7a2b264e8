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


def test_two_worker_processes_give_the_catalog_of_one(tmp_path, lfw_dir, models_dir):
    photos = photo_folder(tmp_path, lfw_dir, per_person=4)
    one = new_store(tmp_path / "one", models_dir, photos)
    r1 = one.ingest("events", workers=1)
    two = new_store(tmp_path / "two", models_dir, photos, batch_size=4)
    r2 = two.ingest("events", workers=2)
    assert r1.status == r2.status == "completed"
    counts = lambda r: (r.photos, r.faces, r.errors, r.duplicates)  # noqa: E731
    assert counts(r1) == counts(r2) == (42, r1.faces, 1, 1)
    assert r1.faces >= 40
    assert_same_catalog(catalog_summary(one), catalog_summary(two))
    again = two.ingest("events", workers=2)  # resumable: nothing is read twice
    assert (again.photos, again.skipped) == (0, 42)
    one.close()
    two.close()


def test_worker_count_follows_the_free_cores():
    assert auto_workers(2, cores=2, load=0.1) == 2
    assert auto_workers(2, cores=2, load=0.9) == 1  # one core busy: a second worker contends
    assert auto_workers(2, cores=2, load=7.5) == 1  # a busy machine: never more than one
    assert auto_workers(1, cores=8, load=0.0) == 1  # FACELEDGER_WORKERS caps it
    assert auto_workers(4, cores=8, load=2.0) == 4
