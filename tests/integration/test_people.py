"""Persons on real LFW photos: ingest groups faces into people, corrections survive
re-clustering, and erasing a person leaves nothing of it in any person's data."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from faceledger.cli.main import main

from .rights_support import CTX, make_gallery, new_store, scan

PEOPLE = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Hugo_Chavez"]


@pytest.fixture()
def store(tmp_path, lfw_dir, models_dir):
    gallery = make_gallery(tmp_path / "photos", lfw_dir, PEOPLE, range(1, 5))
    st = new_store(tmp_path, models_dir, gallery)
    yield st
    st.close()


def _truth(store) -> dict[int, str]:
    faces = store.catalog.faces(store.catalog.face_ids(store.pack.name))
    return {fid: next(p for p in PEOPLE if f"/{p}" in r.photo_uri) for fid, r in faces.items()}


def _groups(store) -> dict[str, set[int]]:
    """Name -> the persons holding that name's faces."""
    truth = _truth(store)
    of = store.persons_of_faces(list(truth))
    out: dict[str, set[int]] = {}
    for fid, name in truth.items():
        out.setdefault(name, set()).add(of[fid])
    return out


def test_ingest_groups_each_person_and_recluster_agrees(store):
    groups = _groups(store)
    _check_pure(groups)
    store.recluster()
    after = _groups(store)
    _check_pure(after)
    # the persons keep their ids: each name's largest person is the one it had
    assert all(after[n] & groups[n] for n in PEOPLE)


def _check_pure(groups: dict[str, set[int]]) -> None:
    """No person holds two names' faces, and each name is at most two persons (LFW
    photos of one man differ: recall on all LFW is 0.98, not 1)."""
    persons = [p for g in groups.values() for p in g]
    assert len(persons) == len(set(persons)), groups
    assert all(len(g) <= 2 for g in groups.values()), groups


def test_corrections_survive_reclustering(store):
    groups = _groups(store)
    merged = store.merge_persons([*sorted(groups["Colin_Powell"]), *sorted(groups["Tony_Blair"])])
    store.rename_person(merged, "Two men")
    store.recluster()
    after = _groups(store)
    assert after["Colin_Powell"] == after["Tony_Blair"] == {merged}
    # split one face back out, and mark another "not this person"
    face = sorted(f for f, n in _truth(store).items() if n == "Tony_Blair")[0]
    new = store.split_person([face])
    other = sorted(f for f, n in _truth(store).items() if n == "Tony_Blair")[1]
    alone = store.not_this_person(other, merged)
    store.recluster()
    of = store.persons_of_faces([face, other])
    assert of[face] == new and of[other] != merged
    row, faces = store.person(merged)
    assert row.name == "Two men" and face not in {f.id for f in faces}
    assert alone != merged
    store.hide_person(merged)
    assert merged not in {p.id for p in store.persons()}
    assert merged in {p.id for p in store.persons(include_hidden=True)}


def test_erasing_a_person_leaves_no_trace(store):
    groups = _groups(store)
    serena = store.merge_persons(sorted(groups["Serena_Williams"])) \
        if len(groups["Serena_Williams"]) > 1 else next(iter(groups["Serena_Williams"]))
    store.rename_person(serena, "Zyxwvut Secretname")
    faces = [f for f, n in _truth(store).items() if n == "Serena_Williams"]
    blobs = {int(r[0]): bytes(r[1]) for r in store.catalog.query(
        f"SELECT id, embedding FROM faces WHERE id IN ({','.join('?' * len(faces))})",
        tuple(faces))}
    needles = {"name": b"Zyxwvut Secretname"}
    for fid, blob in blobs.items():
        needles[f"cipher-{fid}"] = blob
        needles[f"plain-{fid}"] = store.cipher.decrypt_vector(blob).tobytes()[:32]
    report = store.erase_person(serena, context=CTX)
    assert sorted(report.faces) == sorted(faces)
    assert serena not in {p.id for p in store.persons(include_hidden=True)}
    assert not store.catalog.query("SELECT 1 FROM face_person WHERE person_id = ?", (serena,))
    assert not store.catalog.query("SELECT 1 FROM persons WHERE id = ?", (serena,))
    found = scan(store.data_dir, needles)
    assert not found, f"erased person's data still on disk: {found}"


def test_people_cli(store, monkeypatch):
    monkeypatch.setenv("FACELEDGER_DATA_DIR", str(store.data_dir))
    monkeypatch.setenv("FACELEDGER_KEY_FILE", str(store.settings.key_file))
    store.close()
    runner = CliRunner()
    out = runner.invoke(main, ["people", "list", "--json"])
    assert out.exit_code == 0, out.output
    import json

    persons = json.loads(out.output)
    assert len(PEOPLE) <= len(persons) <= 2 * len(PEOPLE)
    a, b = persons[0]["id"], persons[1]["id"]
    out = runner.invoke(main, ["people", "merge", str(a), str(b)])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["people", "rename", str(a), "Someone"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["people", "recluster", "--json"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["people", "show", str(a), "--json"])
    assert out.exit_code == 0 and json.loads(out.output)["name"] == "Someone"
    out = runner.invoke(main, ["people", "merge", "999999", str(a)])
    assert out.exit_code != 0 and "no person 999999" in out.output


def test_search_lists_persons_beside_faces(store, lfw_dir):
    from ..conftest import lfw_image

    results = store.search(lfw_image(lfw_dir, "Colin_Powell", 6), context=CTX)
    persons = store.persons_in_results(results)
    assert persons and persons[0], "the probe's person is listed"
    top = persons[0][0]
    powell = _groups(store)["Colin_Powell"]
    assert top["person"] in powell
    assert top["faces"] >= len(top["matched_faces"]) >= 1 and top["sources"] == ["events"]


def test_a_rights_request_reaches_the_persons_cluster(store, lfw_dir):
    from faceledger.privacy.access import find_person, selfie_embeddings

    from ..conftest import lfw_image

    selfie = lfw_image(lfw_dir, "Hugo_Chavez", 6)
    found = find_person(store, [selfie])
    queries, _ = selfie_embeddings(store, [selfie])
    pids, via = store.reach_by_person(queries, [m.face_id for m in found.matches])
    chavez = _groups(store)["Hugo_Chavez"]
    assert set(pids) <= chavez and pids, "the selfie's person is reached, no other"
    truth = _truth(store)
    assert all(truth[f] == "Hugo_Chavez" for f in via)
