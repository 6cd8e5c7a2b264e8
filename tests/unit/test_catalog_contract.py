"""The catalog's contract, run against every implementation of its database (see
``tests/backends.py``): what pipeline, search and privacy rely on, whichever database holds
the rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from faceledger.errors import AlreadyExistsError, ConflictError, NotFoundError
from faceledger.types import SourceInfo
from tests.backends import catalog_factories

PACK = "p"


@pytest.fixture(params=sorted(catalog_factories()))
def catalog(request, tmp_path):
    cat = catalog_factories()[request.param](tmp_path)
    yield cat
    cat.close()


def info(name="events", retention_days=30) -> SourceInfo:
    return SourceInfo(name=name, kind="folder", location="/photos", controller="Acme",
                      lawful_basis="consent", purpose="find own photos",
                      retention_days=retention_days,
                      special_category_condition="explicit-consent",
                      minors_policy="none-expected")


def add_faces(catalog, source_id, run_id, n, uri_prefix="file:///p/", now=None):
    ids = []
    with catalog.write() as tx:
        for i in range(n):
            photo = catalog.insert_photo(tx, source_id, run_id, f"{uri_prefix}{i}.jpg", "ok",
                                         sha256=f"{uri_prefix}{i}", now=now)
            ids.append(catalog.insert_face(tx, photo, run_id, [1, 2, 3, 4], [[0, 0]] * 5,
                                           0.9, 0.8, PACK, bytes([i % 256]) * 16, now=now))
    return ids


def setup_source(catalog, name="events", retention_days=30):
    catalog.add_source(info(name, retention_days))
    source = catalog.source(name)
    return source.id, catalog.start_run(source.id, PACK)


def test_sources_are_records_and_names_unique(catalog):
    catalog.add_source(info())
    src = catalog.source("events")
    assert src.info == info() and src.id > 0 and not src.keep_photos_without_faces
    assert [s.info.name for s in catalog.sources()] == ["events"]
    assert catalog.has_source("events") and not catalog.has_source("other")
    with pytest.raises(AlreadyExistsError):
        catalog.add_source(info())
    with pytest.raises(NotFoundError):
        catalog.source("other")


def test_meta_round_trips_and_overwrites(catalog):
    assert catalog.meta("k") is None
    catalog.set_meta("k", "1")
    catalog.set_meta("k", "2")
    assert catalog.meta("k") == "2"


def test_a_failed_write_leaves_nothing(catalog):
    source_id, run_id = setup_source(catalog)
    head = catalog.log_head()
    with pytest.raises(RuntimeError), catalog.write() as tx:
        photo = catalog.insert_photo(tx, source_id, run_id, "file:///x.jpg", "ok")
        catalog.insert_face(tx, photo, run_id, [0, 0, 1, 1], [[0, 0]] * 5, 0.9, 0.9, PACK,
                            b"x" * 16)
        raise RuntimeError("the writer died half-way")
    assert catalog.counts()["photos"] == 0 and catalog.counts()["faces"] == 0
    assert catalog.log_head() == head


def test_a_constraint_is_a_conflict(catalog):
    with pytest.raises(ConflictError), catalog.write() as tx:
        catalog.insert_photo(tx, 999, 999, "file:///nowhere.jpg", "ok")  # no such source


def test_faces_come_back_with_their_photo_and_source(catalog):
    source_id, run_id = setup_source(catalog)
    ids = add_faces(catalog, source_id, run_id, 3)
    faces = catalog.faces(ids)
    assert sorted(faces) == ids
    face = faces[ids[1]]
    assert face.source == "events" and face.photo_uri == "file:///p/1.jpg"
    assert face.landmarks == [[0, 0]] * 5 and face.pack == PACK and face.run_id == run_id
    assert catalog.photo(face.photo_id).uri == face.photo_uri
    assert catalog.face_ids(PACK) == ids and catalog.count_faces(PACK) == 3
    assert catalog.max_face_id(PACK) == ids[-1]
    assert [i for i, _ in catalog.embeddings(ids[::-1], PACK)] == ids
    assert [i for batch in catalog.iter_embeddings(PACK, batch=2) for i, _ in batch] == ids
    with pytest.raises(NotFoundError):
        catalog.face(ids[-1] + 100)


def test_duplicates_are_found_by_bytes(catalog):
    source_id, run_id = setup_source(catalog)
    add_faces(catalog, source_id, run_id, 1)
    with catalog.write() as tx:
        original = catalog.photo_by_sha(tx, "file:///p/0")
        assert original is not None and catalog.photo_by_sha(tx, "nothing") is None
        dup = catalog.insert_photo(tx, source_id, run_id, "file:///q.jpg", "duplicate",
                                   duplicate_of=original)
    assert catalog.duplicates_of([original]) == {dup}


def test_the_change_log_replays_adds_and_deletes(catalog):
    source_id, run_id = setup_source(catalog)
    start = catalog.log_head()
    ids = add_faces(catalog, source_id, run_id, 4)
    mid = catalog.log_head()
    adds, dels = catalog.log_changes(start, mid)
    assert adds.tolist() == ids and dels.size == 0
    photos = sorted(catalog.photo_ids_of_faces(ids[:2]))
    catalog.delete_faces_and_photos(ids[:2], photos)
    head = catalog.log_head()
    adds, dels = catalog.log_changes(mid, head)
    assert adds.size == 0 and dels.tolist() == ids[:2]
    adds, dels = catalog.log_changes(start, head)  # net: added then deleted is not added
    assert adds.tolist() == ids[2:] and dels.tolist() == ids[:2]
    assert catalog.log_net(start) == 2
    assert catalog.existing_face_ids(ids) == set(ids[2:])
    assert catalog.existing_photo_ids(photos) == set()


def test_the_log_head_never_goes_back(catalog):
    source_id, run_id = setup_source(catalog)
    add_faces(catalog, source_id, run_id, 3)
    head = catalog.log_head()
    assert catalog.prune_log(head) == 3
    assert catalog.log_head() == head and catalog.log_floor() == head + 1
    add_faces(catalog, source_id, run_id, 1, uri_prefix="file:///r/")
    assert catalog.log_head() == head + 1
    generation_head, generation = catalog.log_state()
    assert generation_head == head + 1 and generation is None


def test_a_snapshot_sees_one_moment(catalog):
    source_id, run_id = setup_source(catalog)
    add_faces(catalog, source_id, run_id, 2)
    with catalog.snapshot() as view:
        add_faces(catalog, source_id, run_id, 3, uri_prefix="file:///later/")
        assert view.count_faces(PACK) == 2
    assert catalog.count_faces(PACK) == 5


def test_runs_finish_and_crash_with_what_they_committed(catalog):
    source_id, run_id = setup_source(catalog)
    add_faces(catalog, source_id, run_id, 2)
    assert catalog.running_runs() == [(run_id, source_id)]
    assert catalog.mark_run_crashed(run_id) == {"photos": 2, "faces": 2, "errors": 0,
                                                "duplicates": 0}
    assert catalog.mark_run_crashed(run_id) is None
    assert catalog.run(run_id).status == "crashed" and catalog.running_runs() == []
    other = catalog.start_run(source_id, PACK)
    catalog.finish_run(other, "done", {"photos": 5, "seconds": 1.5})
    run = catalog.run(other)
    assert (run.status, run.photos, run.seconds, run.source) == ("done", 5, 1.5, "events")
    assert [r.id for r in catalog.runs()] == [other, run_id]
    assert catalog.run_source_id(other) == source_id


def test_retention_finds_only_expired_photos(catalog):
    source_id, run_id = setup_source(catalog, retention_days=10)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    old = (now - timedelta(days=11)).isoformat(timespec="seconds")
    add_faces(catalog, source_id, run_id, 2, uri_prefix="file:///old/", now=old)
    add_faces(catalog, source_id, run_id, 1, uri_prefix="file:///new/",
              now=(now - timedelta(days=9)).isoformat(timespec="seconds"))
    expired = catalog.expired_photo_ids(now)
    assert list(expired) == ["events"] and len(expired["events"]) == 2
    uris = {u for _, u in catalog.photo_sources_and_uris(expired["events"])}
    assert uris == {"file:///old/0.jpg", "file:///old/1.jpg"}


def test_rewrite_embeddings_is_one_transaction(catalog):
    source_id, run_id = setup_source(catalog)
    ids = add_faces(catalog, source_id, run_id, 3)
    changed = catalog.rewrite_embeddings(lambda blob: blob[::-1] + b"!", {"key_id": "new"})
    assert changed == 3 and catalog.meta("key_id") == "new"
    assert all(blob.endswith(b"!") for _, blob in catalog.embeddings(ids, PACK))

    def dies(blob):
        raise RuntimeError("rotation died")

    with pytest.raises(RuntimeError):
        catalog.rewrite_embeddings(dies, {"key_id": "newer"})
    assert catalog.meta("key_id") == "new"


def test_the_audit_anchor_only_moves_forward(catalog):
    catalog.set_audit_anchor('{"seq": 5}', 5)
    catalog.set_audit_anchor('{"seq": 3}', 3)  # a slower process finishing later
    assert catalog.audit_anchor() == '{"seq": 5}'
    catalog.set_audit_anchor('{"seq": 6}', 6)
    assert catalog.audit_anchor() == '{"seq": 6}'


def test_sources_of_faces_and_photos_count_by_name(catalog):
    a_id, a_run = setup_source(catalog, "a")
    b_id, b_run = setup_source(catalog, "b")
    fa = add_faces(catalog, a_id, a_run, 2, uri_prefix="file:///a/")
    fb = add_faces(catalog, b_id, b_run, 1, uri_prefix="file:///b/")
    assert sorted(catalog.sources_of_faces(fa + fb)) == [("a", 2), ("b", 1)]
    photos = sorted(catalog.photo_ids_of_faces(fa))
    assert catalog.sources_of_photos(photos) == [("a", 2)]
    assert catalog.face_ids_of_photos(photos) == set(fa)
    assert not catalog.keeps_photo_without_faces(photos[0])
    assert np.array_equal(sorted(fa + fb), catalog.face_ids(PACK))


def test_a_face_keeps_its_pose_and_sharpness_and_older_faces_read_none(catalog):
    """Migration 0006 (issue 13): yaw, pitch and the sharpness factor are stored per face;
    a face written without them (as before 0006) reads None, not 0 (0 would be a frontal,
    sharp face)."""
    source_id, run_id = setup_source(catalog)
    with catalog.write() as tx:
        photo = catalog.insert_photo(tx, source_id, run_id, "file:///pose.jpg", "ok")
        posed = catalog.insert_face(tx, photo, run_id, [0, 0, 90, 90], [[0, 0]] * 5, 0.9,
                                    0.42, PACK, b"e" * 16, yaw=-38.5, pitch=7.25,
                                    sharpness=0.61)
        bare = catalog.insert_face(tx, photo, run_id, [0, 0, 90, 90], [[0, 0]] * 5, 0.9,
                                   0.8, PACK, b"f" * 16)
    got = catalog.faces([posed, bare])
    assert (got[posed].yaw, got[posed].pitch, got[posed].sharpness) == (-38.5, 7.25, 0.61)
    assert got[posed].quality == pytest.approx(0.42)
    assert (got[bare].yaw, got[bare].pitch, got[bare].sharpness) == (None, None, None)
