"""The HTTP API end to end on a real store: real LFW photos, real models, real SQLite and
FAISS, a real uvicorn server on 127.0.0.1. Each role does its own job through its own door."""

from __future__ import annotations

import concurrent.futures as cf
import time
from pathlib import Path

import httpx
import pytest

from faceledger import Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import KEY_ROLES
from faceledger.api.server import BackgroundServer


def _people(lfw_dir: Path, count: int, min_photos: int, skip: int = 0) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    seen = 0
    for person in sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) < min_photos:
            continue
        seen += 1
        if seen <= skip:
            continue
        out[person.name] = photos[:min_photos]
        if len(out) >= count:
            break
    return out


def _listing(path: Path, photos: list[Path]) -> Path:
    path.write_text("".join(p.resolve().as_uri() + "\n" for p in photos))
    return path


SOURCE = {
    "kind": "urls",
    "controller": "faceledger tests",
    "lawful_basis": "legitimate-interests",
    "special_category_condition": "archiving-research",
    "purpose": "test the HTTP API on a research dataset",
    "retention": "30d",
    "minors_policy": "none-expected",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory, lfw_dir, models_dir, backend):
    data = tmp_path_factory.mktemp("api-store")
    settings = Settings(data_dir=data, models_dir=models_dir, workers=1, **backend())
    store = init_store(settings)
    app = create_app(settings, store=store)
    keys = {r.value: app.state.ctx.keys.create(f"it-{r.value}", r).secret for r in KEY_ROLES}
    people = _people(lfw_dir, 12, 4)  # gallery: first 3 photos of each; 4th is the probe
    others = _people(lfw_dir, 15, 3, skip=40)  # a second source, ingested during searches
    gallery = [p for photos in people.values() for p in photos[:3]]
    later = [p for photos in others.values() for p in photos]
    lists = {
        "it-gallery": _listing(data / "gallery.txt", gallery),
        "it-later": _listing(data / "later.txt", later),
    }
    with BackgroundServer(app) as server:
        yield {"url": server.url, "keys": keys, "people": people, "lists": lists, "app": app,
               "store": store, "lfw_images": (lfw_dir / "images").resolve()}
    store.close()


def _client(world, role: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {world['keys'][role]}"} if role else {}
    return httpx.Client(base_url=world["url"], headers=headers, timeout=60)


def _ingest(world, name: str) -> dict:
    with _client(world, "admin") as admin:
        r = admin.post("/api/sources", json={"name": name, "location": str(world["lists"][name]),
                                             "root": str(world["lfw_images"]), **SOURCE})
        assert r.status_code == 201, r.text
        assert r.json()["lawful_basis_text"].startswith("GDPR Art. 6(1)(f)")
    with _client(world, "operator") as op:
        r = op.post("/api/ingest/runs", json={"source": name, "workers": 1})
        assert r.status_code == 202, r.text
        return r.json()


def _wait(world, run_id: int, timeout: float = 120) -> dict:
    with _client(world, "operator") as op:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = op.get(f"/api/ingest/runs/{run_id}").json()
            if run["status"] != "running":
                return run
            time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish in {timeout} s")


@pytest.fixture(scope="module")
def gallery(world):
    run = _wait(world, _ingest(world, "it-gallery")["id"])
    assert run["status"] == "completed", run
    assert run["report"]["photos"] == 36 and run["faces"] >= 36
    return run


def _search(client: httpx.Client, photo: Path, k: int = 5) -> httpx.Response:
    with photo.open("rb") as fh:
        return client.post("/api/search", files={"probe": (photo.name, fh, "image/jpeg")},
                           data={"purpose": "integration test", "case": "IT-1", "k": str(k),
                                 "largest_only": "true"})


def test_investigator_finds_the_person_with_a_photo_not_in_the_gallery(world, gallery):
    name, photos = next(iter(world["people"].items()))
    with _client(world, "investigator") as inv:
        r = _search(inv, photos[3])
        assert r.status_code == 200, r.text
        body = r.json()
        top = body["faces"][0]["matches"][:3]
        assert [m["photo_name"].rsplit("_", 1)[0] for m in top] == [name] * 3
        assert top[0]["decision"] == "match" and top[0]["similarity"] >= body["match_threshold"]
        crop = inv.get(top[0]["crop_url"])
        assert crop.status_code == 200 and crop.content[:2] == b"\xff\xd8"
        photo = inv.get(top[0]["photo_url"])
        assert photo.status_code == 200 and photo.content == photos[0].read_bytes() or \
            photo.content in {p.read_bytes() for p in photos[:3]}


def test_verify_over_http(world, gallery):
    (_, same), (_, other) = list(world["people"].items())[1:3]  # [0] is a hard pair at FAR 1e-4
    with _client(world, "investigator") as inv:
        def verify(a: Path, b: Path) -> dict:
            files = {"a": (a.name, a.read_bytes(), "image/jpeg"),
                     "b": (b.name, b.read_bytes(), "image/jpeg")}
            r = inv.post("/api/verify", files=files, data={"purpose": "it", "case": "IT-2"})
            assert r.status_code == 200, r.text
            return r.json()

        assert verify(same[0], same[3])["same_person"] is True
        assert verify(same[0], other[0])["same_person"] is False


def test_search_without_purpose_and_case_is_refused(world, gallery):
    photo = next(iter(world["people"].values()))[3]
    with _client(world, "investigator") as inv:
        r = inv.post("/api/search", files={"probe": ("p.jpg", photo.read_bytes(), "image/jpeg")},
                     data={"purpose": "", "case": ""})
        assert r.status_code == 422
        assert r.json()["error"]["code"] in {"lawful_basis_required", "invalid_request"}


def _issue(admin: httpx.Client, subject: str, kind: str, reference: Path) -> httpx.Response:
    """An admin issues a token, attaching the photo they checked the person against."""
    return admin.post("/api/subject-tokens", data={"subject": subject, "kind": kind},
                      files={"reference": (reference.name, reference.read_bytes(), "image/jpeg")})


def test_subject_access_request_with_a_one_time_token(world, gallery):
    name, photos = list(world["people"].items())[1]
    with _client(world, "admin") as admin:
        token = _issue(admin, "REQ-IT", "access", photos[2])
        assert token.status_code == 201, token.text
        secret = token.json()["token"]
    subject = httpx.Client(base_url=world["url"], timeout=60,
                           headers={"Authorization": f"Bearer {secret}"})
    selfie = {"selfie": ("me.jpg", photos[3].read_bytes(), "image/jpeg")}
    r = subject.post("/api/rights/access", files=selfie)
    assert r.status_code == 200, r.text
    body = r.json()
    held = {f["photo_name"] for f in body["faces"]}
    # only mine (the strictest operating point may miss one of mine, never add another's)
    assert held and held <= {p.name for p in photos[:3]}
    assert all(f["crop_data_url"].startswith("data:image/jpeg;base64,") for f in body["faces"])
    first = body["faces"][0]
    assert first["controller"] == "faceledger tests"
    assert first["lawful_basis"]["code"] == "legitimate-interests"
    assert first["erase_by"] and "photo_uri" not in first
    again = subject.post("/api/rights/access", files=selfie)
    assert again.status_code == 401 and "already been used" in again.json()["error"]["message"]
    # the token never opened investigator search
    with _client(world, None) as anon:
        r = anon.post("/api/search", headers={"Authorization": f"Bearer {secret}"},
                      files={"probe": ("p.jpg", photos[3].read_bytes(), "image/jpeg")},
                      data={"purpose": "x", "case": "y"})
        assert r.status_code in (401, 403)


def test_concurrent_searches_while_an_ingest_runs(world, gallery):
    run = _ingest(world, "it-later")
    probes = [photos[3] for photos in world["people"].values()]
    names = list(world["people"])

    def one(i: int) -> tuple[int, str]:
        with _client(world, "investigator") as inv:
            r = _search(inv, probes[i % len(probes)], k=1)
            if r.status_code != 200:
                return r.status_code, r.text
            return 200, r.json()["faces"][0]["matches"][0]["photo_name"]

    with cf.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(32)))
    finished = _wait(world, run["id"])
    assert finished["status"] == "completed", finished
    assert run["status"] == "running"
    for i, (status, top) in enumerate(results):
        assert status == 200, top
        assert top.rsplit("_", 1)[0] == names[i % len(names)]
    store = world["store"]
    assert store.check().ok


def test_auditor_reads_and_verifies_the_log(world, gallery):
    with _client(world, "auditor") as aud:
        entries = aud.get("/api/audit", params={"newest_first": "true", "limit": 500}).json()
        actions = {e["action"] for e in entries["entries"]}
        assert {"search", "api_key_use", "ingest_run"} <= actions
        assert all("probe" not in str(e["inputs"]).lower() or "sha256" in str(e["inputs"])
                   for e in entries["entries"] if e["action"] == "search")
        verdict = aud.get("/api/audit/verify").json()
        assert verdict["ok"] is True and verdict["entries"] >= len(entries["entries"])


def test_metrics_count_the_requests(world, gallery):
    with _client(world, "operator") as op:
        text = op.get("/api/metrics").text
    assert 'route="/api/search"' in text
    assert "faceledger_store_index_vectors" in text


def _token(world, kind: str, reference: Path) -> httpx.Client:
    with _client(world, "admin") as admin:
        r = _issue(admin, f"REQ-{kind}", kind, reference)
        assert r.status_code == 201, r.text
        secret = r.json()["token"]
    return httpx.Client(base_url=world["url"], timeout=60,
                        headers={"Authorization": f"Bearer {secret}"})


def _names_found(world, photo: Path, decision: str | None = "match") -> list[str]:
    with _client(world, "investigator") as inv:
        r = _search(inv, photo, k=10)
        assert r.status_code == 200, r.text
        return [m["photo_name"].rsplit("_", 1)[0] for m in r.json()["faces"][0]["matches"]
                if decision is None or m["decision"] == decision]


def test_erasure_request_erases_only_the_person(world, gallery):
    name, photos = list(world["people"].items())[4]
    neighbour, their = list(world["people"].items())[5]
    assert name in _names_found(world, photos[3])
    neighbour_before = _names_found(world, their[3], decision=None)
    assert neighbour in neighbour_before
    with _token(world, "access", photos[2]) as wrong_kind:  # an access token cannot erase
        r = wrong_kind.post("/api/rights/erasure",
                            files={"selfie": ("me.jpg", photos[3].read_bytes(), "image/jpeg")})
        assert r.status_code == 403
    with _token(world, "erasure", photos[2]) as subject:
        r = subject.post("/api/rights/erasure",
                         files={"selfie": ("me.jpg", photos[3].read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text
        assert r.json()["result"]["faces"]
    assert name not in _names_found(world, photos[3])
    # nobody else was touched
    after = _names_found(world, their[3], decision=None)
    assert after.count(neighbour) == neighbour_before.count(neighbour)
    assert world["store"].check().ok


def test_opt_out_request_records_the_person_and_erases_their_faces(world, gallery):
    name, photos = list(world["people"].items())[6]
    with _token(world, "opt_out", photos[2]) as subject:
        r = subject.post("/api/rights/opt-out",
                         files={"selfie": ("me.jpg", photos[3].read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text
        result = r.json()["result"]
    assert result["entry"]["templates"] == 1
    assert result["erased"]["faces"]
    assert name not in _names_found(world, photos[3])
    assert len(world["store"].optout) >= 1


def test_a_selfie_without_a_face_costs_one_of_three_attempts(world, gallery, tmp_path):
    import numpy as np
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((200, 200, 3), 128, np.uint8)).save(blank)
    photos = list(world["people"].values())[7]
    with _token(world, "access", photos[2]) as subject:
        r = subject.post("/api/rights/access",
                         files={"selfie": ("blank.png", blank.read_bytes(), "image/png")})
        assert r.status_code == 403 and r.json()["error"]["code"] == "identity_not_verified"
        assert "no face" in r.json()["error"]["message"]
        info = subject.get("/api/rights/token")
        assert info.status_code == 200 and info.json()["attempts_left"] == 2  # still usable
        r = subject.post("/api/rights/access",
                         files={"selfie": ("me.jpg", photos[3].read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text


def _small(photo: Path, face_px: float = 20.0) -> bytes:
    """The photo shrunk until its face (about 95 px in LFW) is ``face_px`` wide, as JPEG."""
    import cv2

    bgr = cv2.imread(str(photo))
    s = face_px / 95.0
    ok, data = cv2.imencode(".jpg", cv2.resize(bgr, None, fx=s, fy=s,
                                               interpolation=cv2.INTER_AREA))
    assert ok
    return data.tobytes()


def test_search_json_carries_quality_and_a_poor_probe_says_so(world, gallery):
    """Issue 13 req 3 over HTTP: every probe face and match carries quality and pose; a
    probe with a 20 px face is flagged uncertain with a warning, the photo as it is is not."""
    name, photos = list(world["people"].items())[8]
    form = {"purpose": "integration test", "case": "IT-Q", "k": "5", "largest_only": "true"}
    with _client(world, "investigator") as inv:
        good = inv.post("/api/search", files={"probe": ("p.jpg", photos[3].read_bytes())},
                        data=form)
        poor = inv.post("/api/search", files={"probe": ("p.jpg", _small(photos[3]))},
                        data=form)
    assert good.status_code == 200 and poor.status_code == 200, (good.text, poor.text)
    g, p = good.json()["faces"][0], poor.json()["faces"][0]
    assert g["uncertain"] is False and g["warning"] == "" and g["quality"] >= 0.35
    assert isinstance(g["yaw"], float) and isinstance(g["pitch"], float)
    top = g["matches"][0]
    assert name in top["photo_name"] and 0.0 < top["quality"] <= 1.0
    assert top["yaw"] is not None and top["pitch"] is not None
    assert p["uncertain"] is True and p["quality"] < 0.35 and "poor probe" in p["warning"]


def test_a_poor_selfie_is_refused_with_a_request_for_a_better_one(world, gallery):
    name, photos = list(world["people"].items())[9]
    form = {"purpose": "integration test", "case": "IT-Q2"}
    with _client(world, "admin") as admin:
        r = admin.post("/api/erasure/review", files={"selfie": ("s.jpg", _small(photos[3]))},
                       data=form)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "poor_photo"
        assert "sharper photo" in r.json()["error"]["message"]
        r = admin.post("/api/erasure/review",
                       files={"selfie": ("s.jpg", photos[3].read_bytes())}, data=form)
        assert r.status_code == 200 and r.json()["matches"], r.text
        assert all(0.0 < m["quality"] <= 1.0 for m in r.json()["matches"])  # for the reviewer
        # a poor reference photo is refused when the token is issued
        r = admin.post("/api/subject-tokens", data={"subject": "REQ-Q", "kind": "access"},
                       files={"reference": ("ref.jpg", _small(photos[2]), "image/jpeg")})
        assert r.status_code == 422 and r.json()["error"]["code"] == "poor_photo", r.text
    with _token(world, "access", photos[2]) as subject:  # a self-service access request
        r = subject.post("/api/rights/access", files={"selfie": ("me.jpg", _small(photos[3]))})
        assert r.status_code == 403 and "sharper photo" in r.json()["error"]["message"]
        r = subject.post("/api/rights/access",
                         files={"selfie": ("me.jpg", photos[3].read_bytes(), "image/jpeg")})
        assert r.status_code == 200, r.text
