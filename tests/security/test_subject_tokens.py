"""Finding 5: subject tokens were not bound to the person.

Reproduced on the old code: an erasure token issued for one person erased another person's
faces when used with that person's photo; an access token returned someone else's photos,
crops and sources, with the investigators' search purposes and case references; a token was
not spent when no face was found, so it could be replayed without limit.

Now a token carries the reference photo the admin checked the person against; the selfie
must match it 1:1 at the verification threshold before anything is searched or erased;
three attempts at most; the reference template is encrypted and deleted once spent.
Real LFW photos, a real store, a real server.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from faceledger.privacy.crypto import is_encrypted

from .api_support import Site, upload

ALICE, BOB, CAROL = "Gerhard_Schroeder", "Hugo_Chavez", "Serena_Williams"


@pytest.fixture(scope="module")
def site(tmp_path_factory, lfw_dir, models_dir):
    s = Site(tmp_path_factory.mktemp("tokens"), lfw_dir, models_dir)
    yield s
    s.close()


def issue(site: Site, subject: str, kind: str, reference) -> str:
    with site.client("admin") as admin:
        r = admin.post("/api/subject-tokens", data={"subject": subject, "kind": kind},
                       files=upload(reference, "reference"))
        assert r.status_code == 201, r.text
        return r.json()["token"]


def subject_client(site: Site, token: str):
    return site.client(headers={"Authorization": f"Bearer {token}"})


def names_found(site: Site, photo) -> list[str]:
    with site.client("investigator") as inv:
        r = inv.post("/api/search", files=upload(photo, "probe"),
                     data={"purpose": "check", "case": "SEC-0", "largest_only": "true"})
        assert r.status_code == 200, r.text
    return [m["photo_name"].rsplit("_", 1)[0] for m in r.json()["faces"][0]["matches"]
            if m["decision"] == "match"]


def test_an_erasure_token_for_one_person_cannot_erase_another(site):
    token = issue(site, "REQ-alice", "erasure", site.photo(ALICE, 4))
    assert BOB in names_found(site, site.photo(BOB, 5))
    with subject_client(site, token) as attacker:  # Alice's token, Bob's photo
        r = attacker.post("/api/rights/erasure", files=upload(site.photo(BOB, 5), "selfie"))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "identity_not_verified"
    assert names_found(site, site.photo(BOB, 5)).count(BOB) == 3  # nothing of Bob's erased
    check = [e for e in site.store.audit.entries() if e.action == "subject_identity_check"][-1]
    assert check.outputs["verified"] is False
    # the threshold is the verification operating point, not a looser one
    assert check.outputs["threshold"] == site.store.operating_point(None).match_threshold
    assert check.outputs["far"] == site.settings.operating_far


def test_the_bound_person_erases_only_their_own_faces(site):
    token = issue(site, "REQ-carol", "erasure", site.photo(CAROL, 4))
    before = {n: names_found(site, site.photo(n, 5)).count(n) for n in (ALICE, BOB)}
    with subject_client(site, token) as carol:
        r = carol.post("/api/rights/erasure", files=upload(site.photo(CAROL, 5), "selfie"))
        assert r.status_code == 200, r.text
        assert len(r.json()["result"]["faces"]) == 3
        again = carol.post("/api/rights/erasure", files=upload(site.photo(CAROL, 5), "selfie"))
        assert again.status_code == 401 and "already been used" in again.text
    assert CAROL not in names_found(site, site.photo(CAROL, 6))
    assert {n: names_found(site, site.photo(n, 5)).count(n) for n in (ALICE, BOB)} == before


def test_an_access_token_shows_only_the_person_and_no_investigation(site):
    with site.client("investigator") as inv:  # an investigation that found Alice's face
        r = inv.post("/api/search", files=upload(site.photo(ALICE, 7), "probe"),
                     data={"purpose": "covert fraud probe", "case": "CASE-SECRET-41"})
        assert r.status_code == 200, r.text
    token = issue(site, "REQ-alice-access", "access", site.photo(ALICE, 4))
    with subject_client(site, token) as client:
        stolen = client.post("/api/rights/access", files=upload(site.photo(BOB, 5), "selfie"))
        assert stolen.status_code == 403 and "faces" not in stolen.json()
        r = client.post("/api/rights/access", files=upload(site.photo(ALICE, 5), "selfie"))
    assert r.status_code == 200, r.text
    body = r.json()
    names = {f["photo_name"].rsplit("_", 1)[0] for f in body["faces"]}
    assert names == {ALICE} and len(body["faces"]) == 3
    assert "covert fraud probe" not in r.text and "CASE-SECRET-41" not in r.text
    assert sum(f["returned_by_searches"] for f in body["faces"]) >= 3
    processing = body["processing"]  # what Art. 15(1) asks for
    assert processing["purposes"][0]["purpose"] == "attendees find their photos"
    assert processing["purposes"][0]["lawful_basis"]["code"] == "consent"
    assert {r["role"] for r in processing["recipients"]} == {"investigator", "auditor"}
    assert processing["sources"] == [{"name": "events", "kind": "urls",
                                      "controller": "Acme Photo Ltd"}]
    assert processing["retention"] == [{"source": "events", "retention_days": 30}]
    assert len(processing["categories_of_data"]) >= 3
    assert body["identity_check"]["verified"] is True


def test_three_failed_attempts_spend_the_token(site, tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((240, 240, 3), 120, np.uint8)).save(blank)
    token = issue(site, "REQ-replay", "access", site.photo(ALICE, 4))
    with subject_client(site, token) as client:
        results = [
            client.post("/api/rights/access",
                        files={"selfie": ("blank.png", blank.read_bytes(), "image/png")}),
            client.post("/api/rights/access", files=upload(site.photo(BOB, 6), "selfie")),
            client.post("/api/rights/access",
                        files={"selfie": ("x.jpg", b"not a photo", "image/jpeg")}),
        ]
        assert [r.status_code for r in results] == [403, 403, 403]
        assert "2 attempt(s) left" in results[0].text and "used up" in results[2].text
        # even the right person now gets nothing: the token is spent
        r = client.post("/api/rights/access", files=upload(site.photo(ALICE, 5), "selfie"))
        assert r.status_code == 401 and "already been used" in r.text
    token_id = token.split("_")[1]
    record = site.ctx.keys.tokens.get(token_id)
    assert record.outcome == "identity_not_verified" and record.attempts == 3
    assert not site.ctx.keys.tokens.has_reference(token_id)


def _db_bytes(site: Site) -> bytes:
    path = site.ctx.keys.path
    data = b""
    for suffix in ("", "-wal", "-shm"):
        p = path.with_name(path.name + suffix)
        if p.exists():
            data += p.read_bytes()
    return data


def test_the_reference_is_encrypted_and_deleted_once_spent(site):
    reference = site.photo(BOB, 4)
    token = issue(site, "REQ-bob", "access", reference)
    token_id = token.split("_")[1]
    (blob,) = site.ctx.keys.db.execute(
        "SELECT template FROM subject_token_references WHERE token_id = ?", (token_id,)
    ).fetchone()
    blob = bytes(blob)
    assert is_encrypted(blob)
    plain = site.store.cipher.decrypt_vector(blob, aad=b"faceledger:subject-reference:"
                                             + token_id.encode())
    raw = _db_bytes(site)
    assert plain.astype("<f4").tobytes()[:64] not in raw  # no plaintext template on disk
    assert reference.read_bytes()[1000:1256] not in raw  # nor the photo
    record = site.ctx.keys.tokens.get(token_id)
    assert record.reference_sha256 == hashlib.sha256(reference.read_bytes()).hexdigest()
    with subject_client(site, token) as bob:
        r = bob.post("/api/rights/access", files=upload(site.photo(BOB, 5), "selfie"))
        assert r.status_code == 200, r.text
    assert not site.ctx.keys.tokens.has_reference(token_id)
    assert blob[-32:] not in _db_bytes(site)  # gone from the file and its WAL


def test_a_token_needs_a_reference_photo_with_a_face(site, tmp_path):
    blank = tmp_path / "blank.jpg"
    Image.fromarray(np.full((240, 240, 3), 90, np.uint8)).save(blank)
    with site.client("admin") as admin:
        r = admin.post("/api/subject-tokens", data={"subject": "REQ-x", "kind": "access"})
        assert r.status_code == 422 and "reference" in r.text
        r = admin.post("/api/subject-tokens", data={"subject": "REQ-x", "kind": "access"},
                       files=upload(blank, "reference"))
        assert r.status_code == 422 and r.json()["error"]["code"] == "no_face"
        r = admin.post("/api/subject-tokens", json={"subject": "REQ-x", "kind": "access"})
        assert r.status_code == 422
    assert not [t for t in site.ctx.keys.tokens.list() if t.subject == "REQ-x"]
