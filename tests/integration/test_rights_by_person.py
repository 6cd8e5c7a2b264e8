"""Rights requests that reach a person's cluster, on real LFW photos: the faces reached only
through the cluster are listed for review and erased only when confirmed (library, CLI,
API); and opt-out and erasure of a whole person (library, CLI, API) leave no trace.

The gallery holds four photos each of four people. Tony_Blair_0001 also shows a bystander
(a face of its own); an operator's merge puts that face in Blair's person, so a Blair
selfie reaches it only through the cluster, never by a direct match: exactly the face a
reviewer must be shown before an erasure takes it."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
from click.testing import CliRunner

from faceledger.cli.main import main
from faceledger.privacy.rights import erase_person, opt_out_person_id

from ..conftest import lfw_image
from .rights_support import CTX, make_gallery, new_store, scan

PEOPLE = ["Colin_Powell", "Tony_Blair", "Serena_Williams", "Hugo_Chavez"]


@pytest.fixture()
def store(tmp_path, lfw_dir, models_dir):
    gallery = make_gallery(tmp_path / "photos", lfw_dir, PEOPLE, range(1, 5))
    st = new_store(tmp_path, models_dir, gallery)
    yield st
    st.close()


def _faces_of(store, name: str) -> list[int]:
    faces = store.catalog.faces(store.catalog.face_ids(store.pack.name))
    return sorted(f for f, r in faces.items() if f"/{name}_" in r.photo_uri)


def _blair_with_bystander(store) -> tuple[int, set[int], int]:
    """Merge every person holding a face of a Blair photo; returns (person, the faces the
    Blair selfie matches directly, the bystander's face)."""
    faces = _faces_of(store, "Tony_Blair")
    of = store.persons_of_faces(faces)
    counts = {p: list(of.values()).count(p) for p in set(of.values())}
    assert len(counts) == 2 and sorted(counts.values()) == [1, 4], of  # Blair + bystander
    order = sorted(counts, key=lambda p: -counts[p])
    person = store.merge_persons(order)
    bystander = next(f for f, p in of.items() if p == order[1])
    return person, set(faces) - {bystander}, bystander


def _selfie(lfw_dir):
    return lfw_image(lfw_dir, "Tony_Blair", 6)


def _held(store, face_ids) -> set[int]:
    return set(store.catalog.faces(list(face_ids)))


def test_library_erases_cluster_faces_only_when_confirmed(store, lfw_dir):
    from faceledger.privacy.access import selfie_embeddings
    from faceledger.privacy.rights import chosen_faces, find_for_erasure

    person, direct, bystander = _blair_with_bystander(store)
    vectors, hashes = selfie_embeddings(store, [_selfie(lfw_dir)])
    found = find_for_erasure(store, vectors, hashes)
    assert set(found.face_ids) == direct
    assert found.cluster_face_ids == [bystander] and found.persons == [person]
    assert found.cluster[0].decision == "cluster" and found.cluster[0].person_id == person
    assert set(chosen_faces(found)) == direct
    assert set(chosen_faces(found, include_cluster=True)) == direct | {bystander}
    assert chosen_faces(found, [bystander, 10**9]) == [bystander]  # an id not found is ignored

    report = erase_person(store, [_selfie(lfw_dir)], context=CTX)
    assert set(report.faces) == direct
    assert _held(store, [bystander]) == {bystander}, "a cluster face needs a confirmation"
    entry = store.audit.entries()[-1]
    assert entry.inputs["reached_through_persons"] == 1
    assert entry.inputs["cluster_faces_erased"] == 0


def test_library_erases_a_confirmed_cluster_face(store, lfw_dir):
    _, direct, bystander = _blair_with_bystander(store)
    report = erase_person(store, [_selfie(lfw_dir)], include_cluster=True, context=CTX)
    assert set(report.faces) == direct | {bystander}


def test_access_copy_lists_cluster_faces_apart(store, lfw_dir, tmp_path):
    from faceledger.privacy.access import export_access

    person, direct, bystander = _blair_with_bystander(store)
    report = export_access(store, [_selfie(lfw_dir)], tmp_path / "copy", context=CTX)
    data = json.loads(report.json_path.read_text())
    by_id = {f["face_id"]: f for f in data["faces"]}
    assert set(by_id) == direct | {bystander}
    assert by_id[bystander]["decision"] == "cluster"
    assert by_id[bystander]["reached_through_person"] == person
    assert all(by_id[f]["decision"] in ("match", "possible") for f in direct)


def _cli(store, monkeypatch) -> CliRunner:
    monkeypatch.setenv("FACELEDGER_DATA_DIR", str(store.data_dir))
    monkeypatch.setenv("FACELEDGER_KEY_FILE", str(store.settings.key_file))
    return CliRunner()


def test_cli_lists_cluster_faces_for_review(store, lfw_dir, monkeypatch):
    _, direct, bystander = _blair_with_bystander(store)
    store.close()
    runner = _cli(store, monkeypatch)
    selfie = str(_selfie(lfw_dir))
    out = runner.invoke(main, ["rights", "erase", selfie, "--case", "REQ-1"], input="n\n")
    assert out.exit_code == 0, out.output
    assert "reached only through the person's cluster" in out.output
    line = next(ln for ln in out.output.splitlines() if f"face {bystander:>7}" in ln)
    assert "cluster" in line and "kept: not confirmed" in line
    assert "nothing erased" in out.output
    out = runner.invoke(main, ["rights", "erase", selfie, "--case", "REQ-1", "--yes", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert set(result["faces"]) == direct
    assert result["cluster_faces_kept_for_review"] == [bystander]


def test_cli_erases_cluster_faces_when_confirmed(store, lfw_dir, monkeypatch):
    _, direct, bystander = _blair_with_bystander(store)
    store.close()
    runner = _cli(store, monkeypatch)
    selfie = str(_selfie(lfw_dir))
    out = runner.invoke(main, ["rights", "erase", selfie, "--face", str(bystander),
                               "--case", "REQ-2", "--yes", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert set(result["faces"]) == direct | {bystander}
    assert result["cluster_faces_kept_for_review"] == []


def test_cli_include_cluster(store, lfw_dir, monkeypatch):
    _, direct, bystander = _blair_with_bystander(store)
    store.close()
    runner = _cli(store, monkeypatch)
    out = runner.invoke(main, ["rights", "erase", str(_selfie(lfw_dir)), "--include-cluster",
                               "--case", "REQ-3", "--yes", "--json"])
    assert out.exit_code == 0, out.output
    assert set(json.loads(out.output)["faces"]) == direct | {bystander}


def _needles(store, faces: list[int], name: str) -> dict[str, bytes]:
    marks = ",".join("?" * len(faces))
    blobs = {int(r[0]): bytes(r[1]) for r in store.catalog.query(
        f"SELECT id, embedding FROM faces WHERE id IN ({marks})", tuple(faces))}
    needles = {"name": name.encode()}
    for fid, blob in blobs.items():
        needles[f"cipher-{fid}"] = blob
        needles[f"plain-{fid}"] = store.cipher.decrypt_vector(blob).tobytes()[:32]
    return needles


def _no_trace(store, person: int, needles: dict[str, bytes]) -> None:
    assert person not in {p.id for p in store.persons(include_hidden=True)}
    assert not store.catalog.query("SELECT 1 FROM face_person WHERE person_id = ?", (person,))
    assert not store.catalog.query("SELECT 1 FROM persons WHERE id = ?", (person,))
    assert not store.catalog.query("SELECT 1 FROM person_rejects WHERE person_id = ?",
                                   (person,))
    found = scan(store.data_dir, needles)
    assert not found, f"the person's data is still on disk: {found}"


def _one_person(store, name: str) -> tuple[int, list[int]]:
    faces = _faces_of(store, name)
    persons = sorted(set(store.persons_of_faces(faces).values()))
    person = store.merge_persons(persons) if len(persons) > 1 else persons[0]
    store.rename_person(person, "Qwertzu Hiddenname")
    return person, faces


def test_opt_out_of_a_whole_person(store, lfw_dir, tmp_path):
    person, faces = _one_person(store, "Serena_Williams")
    other = _faces_of(store, "Colin_Powell")[0]
    store.not_this_person(other, store.persons_of_faces([other])[other])  # a reject row
    needles = _needles(store, faces, "Qwertzu Hiddenname")
    result = opt_out_person_id(store, person, context=CTX)
    assert sorted(result.erased.faces) == faces
    assert result.entry.selfies == len(faces)  # the template: the mean of the person's faces
    _no_trace(store, person, needles)
    # later photos of her are dropped at ingest; other people's are not
    later = tmp_path / "later"
    later.mkdir()
    for n in (5, 6, 7):
        shutil.copy(lfw_image(lfw_dir, "Serena_Williams", n), later)
    shutil.copy(lfw_image(lfw_dir, "Hugo_Chavez", 6), later)
    from .rights_support import source_kwargs

    store.add_source("later", **source_kwargs(later))
    run = store.ingest("later", workers=1)
    assert run.blocked == 3 and run.faces == 1, run


def test_erasing_a_whole_person_leaves_no_cover_crop(store, lfw_dir):
    from faceledger.errors import FaceLedgerError

    person, faces = _one_person(store, "Hugo_Chavez")
    needles = _needles(store, faces, "Qwertzu Hiddenname")
    row, _ = store.person(person)
    assert row.cover_face_id in faces
    needles["cover-crop"] = store.face_crop(row.cover_face_id)  # where a cache would fill
    report = store.erase_person(person, context=CTX)
    assert sorted(report.faces) == faces
    _no_trace(store, person, needles)
    with pytest.raises(FaceLedgerError):
        store.face_crop(row.cover_face_id)


def test_cli_person_erase_and_opt_out(store, monkeypatch):
    chavez, chavez_faces = _one_person(store, "Hugo_Chavez")
    powell_faces = _faces_of(store, "Colin_Powell")
    powell = sorted(set(store.persons_of_faces(powell_faces).values()))
    powell = store.merge_persons(powell) if len(powell) > 1 else powell[0]
    store.close()
    runner = _cli(store, monkeypatch)
    out = runner.invoke(main, ["rights", "erase", "--person", str(chavez), "--case", "REQ-4",
                               "--yes", "--json"])
    assert out.exit_code == 0, out.output
    assert sorted(json.loads(out.output)["faces"]) == chavez_faces
    out = runner.invoke(main, ["rights", "optout", "add", "--person", str(powell),
                               "--case", "REQ-5", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert sorted(result["erased"]["faces"]) == powell_faces
    out = runner.invoke(main, ["rights", "optout", "list", "--json"])
    assert len(json.loads(out.output)["entries"]) == 1
    out = runner.invoke(main, ["rights", "erase", "--person", str(chavez), "--case", "REQ-6",
                               "--yes"])
    assert out.exit_code != 0 and f"no person {chavez}" in out.output
    out = runner.invoke(main, ["rights", "optout", "add", "--case", "REQ-7"])
    assert out.exit_code != 0 and "give selfies or --person" in out.output


@pytest.fixture()
def api(store):
    from faceledger.api import create_app
    from faceledger.api.keys import Role
    from faceledger.api.server import BackgroundServer

    app = create_app(store.settings, store=store)
    keys = {r: app.state.ctx.keys.create(f"t-{r.value}", r).secret
            for r in (Role.ADMIN, Role.INVESTIGATOR)}
    with BackgroundServer(app) as server:
        def client(role: Role) -> httpx.Client:
            return httpx.Client(base_url=server.url, timeout=120,
                                headers={"Authorization": f"Bearer {keys[role]}"})
        yield client


def test_api_review_then_confirm(store, lfw_dir, api):
    from faceledger.api.keys import Role

    person, direct, bystander = _blair_with_bystander(store)
    selfie = _selfie(lfw_dir).read_bytes()
    form = {"purpose": "erasure request", "case": "REQ-8"}
    with api(Role.INVESTIGATOR) as inv:
        r = inv.post("/api/erasure/review", files={"selfie": ("s.jpg", selfie)}, data=form)
        assert r.status_code == 403, r.text  # admins answer rights requests
    with api(Role.ADMIN) as admin:
        r = admin.post("/api/erasure/review", files={"selfie": ("s.jpg", selfie)}, data=form)
        assert r.status_code == 200, r.text
        review = r.json()
        assert {m["face_id"] for m in review["matches"]} == direct
        assert [c["face_id"] for c in review["cluster"]] == [bystander]
        assert review["cluster"][0]["person_id"] == person
        assert _held(store, direct | {bystander}) == direct | {bystander}, "review erases none"
        r = admin.post("/api/erasure/confirm", files={"selfie": ("s.jpg", selfie)}, data=form)
        assert r.status_code == 200, r.text
        assert set(r.json()["result"]["faces"]) == direct
        assert r.json()["cluster_faces_kept_for_review"] == [bystander]
        assert _held(store, [bystander]) == {bystander}


def test_api_confirmed_cluster_face_and_person_routes(store, lfw_dir, api):
    from faceledger.api.keys import Role

    _, direct, bystander = _blair_with_bystander(store)
    chavez, chavez_faces = _one_person(store, "Hugo_Chavez")
    powell_faces = _faces_of(store, "Colin_Powell")
    powell = sorted(set(store.persons_of_faces(powell_faces).values()))
    powell = store.merge_persons(powell) if len(powell) > 1 else powell[0]
    form = {"purpose": "erasure request", "case": "REQ-9", "faces": str(bystander)}
    body = {"purpose": "erasure request", "case": "REQ-10"}
    with api(Role.ADMIN) as admin:
        r = admin.post(f"/api/people/{chavez}/erase", json={"purpose": "", "case": ""})
        assert r.status_code == 422 and _held(store, chavez_faces), r.text  # purpose, case
        r = admin.post("/api/erasure/confirm", data=form,
                       files={"selfie": ("s.jpg", _selfie(lfw_dir).read_bytes())})
        assert r.status_code == 200, r.text
        assert set(r.json()["result"]["faces"]) == direct | {bystander}
        r = admin.post(f"/api/people/{chavez}/erase", json=body)
        assert r.status_code == 200, r.text
        assert sorted(r.json()["result"]["faces"]) == chavez_faces
        assert admin.post(f"/api/people/{chavez}/erase", json=body).status_code == 404
        r = admin.post(f"/api/people/{powell}/opt-out", json=body)
        assert r.status_code == 200, r.text
        assert sorted(r.json()["result"]["erased"]["faces"]) == powell_faces
    assert not _held(store, chavez_faces + powell_faces)
