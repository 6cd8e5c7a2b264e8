"""The opt-out list on real LFW photos: later ingests drop the person's faces, and only theirs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from faceledger import init_store
from faceledger.cli.main import main
from faceledger.privacy.rights import opt_out_person, remove_opt_out
from faceledger.types import Box
from faceledger_bench.optout_bench import lfw_optout_split, measure_optout
from faceledger_bench.realworld_sets import box_iou

from ..conftest import lfw_image
from .rights_support import CTX, make_gallery, scan, settings_for, source_kwargs

PERSON = "Tony_Blair"
OTHERS = ["Colin_Powell", "Serena_Williams", "Hugo_Chavez"]


@pytest.mark.slow
def test_optout_blocks_the_person_and_almost_nobody_else(tmp_path, lfw_dir, models_dir):
    """20 people opt out with 3 selfies each; their next 17 photos and 300 other people's
    photos are ingested. Figures for a larger run: docs/benchmarks.md, "Opt-out"."""
    split = lfw_optout_split(lfw_dir, people=20, enrol=3, max_same=17, others=300)
    st = init_store(settings_for(tmp_path, models_dir))
    try:
        m = measure_optout(st, split, tmp_path / "photos")
        print(f"\nopt-out: {m.same_blocked}/{m.same_photos} same-person photos blocked "
              f"({m.same_rate:.2%}), {m.other_blocked}/{m.other_photos} others blocked "
              f"({m.other_rate:.2%}) at similarity >= {m.threshold}; missed {m.missed}")
        assert m.same_photos >= 250 and m.other_photos >= 290
        assert m.same_rate >= 0.99
        assert m.other_rate < 0.01
        # the real ingest dropped exactly the faces the list blocks, and stored none of them
        assert m.ingest_blocked_faces == m.predicted_blocked_faces
        held = st.counts()["faces"]
        assert held == m.ingest_stored_faces
        # in the catalog, the photos of people on the list keep only other people's faces:
        # their subject (the most prominent face, as the rights flows choose) is stored only
        # where the list missed it. A background face near the centre is someone else's.
        rows = st.catalog.query(
            "SELECT f.box_x, f.box_y, f.box_w, f.box_h, p.uri FROM faces f "
            "JOIN photos p ON p.id = f.photo_id WHERE p.uri LIKE '%/same/%'")
        stored: dict[str, list[Box]] = {}
        for r in rows:
            stored.setdefault(f"same/{Path(r['uri']).name}", []).append(Box(*tuple(r)[:4]))
        same = {k: v for k, v in m.subjects.items() if k.startswith("same/")}
        assert len(same) == m.same_photos
        kept = [k for k, (box, _) in same.items()
                if any(box_iou(box, b) > 0.9 for b in stored.get(k, []))]
        assert sorted(kept) == sorted(k for k, (_, blocked) in same.items() if not blocked)
        assert len(kept) == m.same_photos - m.same_blocked
    finally:
        st.close()


@pytest.fixture()
def store(tmp_path, lfw_dir, models_dir, backend):
    st = init_store(settings_for(tmp_path, models_dir, **backend()))
    yield st
    st.close()


def test_ingest_counts_blocked_faces_and_stores_none_of_them(store, tmp_path, lfw_dir):
    result = opt_out_person(store, [lfw_image(lfw_dir, PERSON, 1), lfw_image(lfw_dir, PERSON, 2)],
                            context=CTX)
    assert (result.entry.selfies, result.entry.templates) == (2, 1)
    assert result.erased is not None
    gallery = make_gallery(tmp_path / "photos", lfw_dir, [PERSON, *OTHERS], range(3, 6))
    store.add_source("events", **source_kwargs(gallery))
    report = store.ingest("events", workers=1)
    assert report.blocked >= 3
    assert not store.catalog.query(
        "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id "
        "WHERE p.uri LIKE ? AND f.box_w > 60", (f"%/{PERSON}/%",))
    for name in OTHERS:
        assert store.catalog.query(
            "SELECT f.id FROM faces f JOIN photos p ON p.id = f.photo_id WHERE p.uri LIKE ?",
            (f"%/{name}/%",)), f"{name} was wrongly blocked"
    run = store.audit.entries()[-1]
    assert run.action == "ingest_run" and run.outputs["blocked"] == report.blocked


def test_templates_are_encrypted_and_removal_unblocks(store, tmp_path, lfw_dir):
    result = opt_out_person(store, [lfw_image(lfw_dir, PERSON, 1)], context=CTX)
    vec = store.optout._templates()[0]
    assert scan(store.data_dir, {"plain": vec.tobytes()[:64]}) == {}
    remove_opt_out(store, result.entry.id, context=CTX)
    assert len(store.optout) == 0 and not store.optout.blocked_mask(vec[None]).any()
    assert scan(store.data_dir, {"plain": vec.tobytes()[:64]}) == {}
    gallery = make_gallery(tmp_path / "photos", lfw_dir, [PERSON], range(3, 5))
    store.add_source("later", **source_kwargs(gallery))
    assert store.ingest("later", workers=1).blocked == 0


def test_opt_out_erases_what_is_held_now(store, tmp_path, lfw_dir):
    gallery = make_gallery(tmp_path / "photos", lfw_dir, [PERSON, *OTHERS], range(3, 5))
    store.add_source("events", **source_kwargs(gallery))
    store.ingest("events", workers=1)
    result = opt_out_person(store, [lfw_image(lfw_dir, PERSON, 1)], context=CTX)
    assert result.erased is not None and len(result.erased.faces) >= 2
    uris = [store.catalog.query("SELECT uri FROM photos WHERE id = ?", (p,)) for p in
            result.erased.photos]
    assert all(not u for u in uris)
    assert store.check().ok


def test_cli_optout_add_list_remove(store, lfw_dir):
    settings = store.settings
    store.close()
    runner = CliRunner()
    base = ["--data", str(settings.data_dir), "--models-dir", str(settings.models_dir)]
    env = {"FACELEDGER_KEY_FILE": str(settings.key_file)}
    add = runner.invoke(main, [*base, "rights", "optout", "add", str(lfw_image(lfw_dir, PERSON, 1)),
                               "--case", "REQ-9"], env=env)
    assert add.exit_code == 0, add.output
    assert "opt-out entry 1" in add.output
    listed = runner.invoke(main, [*base, "rights", "optout", "list"], env=env)
    assert "REQ-9" in listed.output and "1 selfie(s)" in listed.output
    gone = runner.invoke(main, [*base, "rights", "optout", "remove", "1", "--case", "REQ-9"],
                         env=env)
    assert gone.exit_code == 0 and "removed" in gone.output
    store.__init__(settings)
    assert len(store.optout) == 0
