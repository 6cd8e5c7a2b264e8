"""The in-memory multipart reader refuses hostile forms with a clear 4xx, never a 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from faceledger import Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import Role
from faceledger.api.limits import UPLOAD_ROUTES
from faceledger.api.policy import POLICY


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data = tmp_path_factory.mktemp("uploads")
    store = init_store(Settings(data_dir=data, max_image_bytes=64 * 1024))
    app = create_app(Settings(data_dir=data, max_image_bytes=64 * 1024), store=store,
                     preload_models=False)
    key = app.state.ctx.keys.create("u", Role.INVESTIGATOR).secret
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c
    store.close()


def part(name: str, body: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--B\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + body + b"\r\n"


def post(client, body: bytes, content_type: str = "multipart/form-data; boundary=B"):
    return client.post("/api/search", content=body, headers={"content-type": content_type})


END = b"--B--\r\n"
BASE = part("purpose", b"p") + part("case", b"c")


@pytest.mark.parametrize("body,message", [
    (BASE + part("probe", b"x", "p.jpg") + part("extra", b"1") + END, "not a field"),
    (BASE + part("probe", b"x", "p.jpg") + part("probe", b"y", "q.jpg") + END, "given twice"),
    (BASE + part("probe", b"x" * 100, "p.jpg"), "ended before"),
    (BASE + part("purpose", b"p" * 9000) + END, "given twice"),
    (part("purpose", b"p" * 9000) + END, "over 8 KiB"),
    (b"".join(part("k", b"1") for i in range(17)) + END, "given twice"),
    (BASE + END, "probe is missing"),
    (BASE + part("case2", b"\xff") + END, "not a field"),
])
def test_hostile_forms_are_refused_with_422(client, body, message):
    r = post(client, body)
    assert r.status_code == 422, r.text
    assert message in r.json()["error"]["message"]


def test_a_file_part_over_the_limit_is_413(client):
    r = post(client, BASE + part("probe", b"\0" * (65 * 1024), "p.jpg") + END)
    assert r.status_code == 413 and r.json()["error"]["code"] == "image_too_large"


def test_not_multipart_is_refused(client):
    r = post(client, b"purpose=p&case=c", "application/x-www-form-urlencoded")
    assert r.status_code == 422 and "multipart/form-data" in r.json()["error"]["message"]
    r = post(client, BASE + END, "multipart/form-data")  # no boundary
    assert r.status_code == 422


def test_an_empty_probe_is_refused(client):
    r = post(client, BASE + part("probe", b"", "p.jpg") + END)
    assert r.status_code == 422 and "empty" in r.json()["error"]["message"]


def test_every_upload_route_is_in_the_policy():
    assert set(UPLOAD_ROUTES) <= set(POLICY)
