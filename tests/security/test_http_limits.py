"""Findings 4 (uploads) and 7 (far, ids): what a request costs before it is refused.

Reproduced on the old code: a 200 MB upload with no key was received in full and spooled
to a temporary file before the 401; probes over 1 MB were spooled to disk although probes
are never to be written to disk; ``far=0.999`` was accepted and quietly mapped to another
threshold; a photo id of 2**70 gave a 500.

Against a real uvicorn server on 127.0.0.1, with raw sockets: the answer must arrive while
the client has sent only its headers (or a part of a chunked body).
"""

from __future__ import annotations

import io
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from PIL import Image

from faceledger.cli.main import main
from faceledger.errors import UncalibratedFarError
from faceledger.search.decisions import operating_point

from .api_support import Site, upload

LIMIT = 4 * 1024 * 1024  # the store's photo byte limit in this module


@pytest.fixture(scope="module")
def site(tmp_path_factory, lfw_dir, models_dir):
    # a byte limit small enough to test quickly; the same rules hold for the 50 MiB default
    s = Site(tmp_path_factory.mktemp("limits"), lfw_dir, models_dir,
             people=["Tony_Blair", "Colin_Powell"], settings={"max_image_bytes": LIMIT})
    yield s
    s.close()


def _raw(site: Site, head: str, body_chunks=(), wait: float = 10.0) -> tuple[str, int]:
    """Send ``head`` (request line + headers), then chunks until the server answers.
    Returns the status line and how many body bytes were sent before the answer came."""
    host, port = site.server.host, site.server.port
    sock = socket.create_connection((host, port), timeout=wait)
    sock.sendall(head.encode("latin-1"))
    sent = 0
    sock.setblocking(False)
    answer = b""
    pending = b""
    deadline = time.monotonic() + wait
    chunks = iter(body_chunks)
    try:
        while time.monotonic() < deadline and b"\r\n" not in answer:
            try:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
                continue
            except BlockingIOError:
                pass
            if not pending:
                pending = next(chunks, b"")
                if not pending:
                    time.sleep(0.02)
                    continue
            try:
                n = sock.send(pending)
                pending = pending[n:]
                sent += n
            except BlockingIOError:
                time.sleep(0.005)
            except (BrokenPipeError, ConnectionResetError):
                time.sleep(0.02)
    finally:
        sock.close()
    return answer.split(b"\r\n", 1)[0].decode("latin-1"), sent


def _head(site: Site, path: str, extra: str, auth: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", f"Host: {site.server.host}:{site.server.port}",
             "Content-Type: multipart/form-data; boundary=XyZ", extra]
    if auth:
        lines.append(f"Authorization: Bearer {auth}")
    return "\r\n".join(lines) + "\r\n\r\n"


def test_an_anonymous_200_mb_upload_gets_401_before_its_body(site):
    status, sent = _raw(site, _head(site, "/api/search", "Content-Length: 209715200"))
    assert status.startswith("HTTP/1.1 401"), status
    assert sent == 0


def test_a_declared_oversize_upload_gets_413_before_its_body(site):
    key = site.keys["investigator"]
    status, sent = _raw(site, _head(site, "/api/search", "Content-Length: 209715200", key))
    assert status.startswith("HTTP/1.1 413"), status
    assert sent == 0


def test_a_chunked_upload_is_cut_off_at_the_limit(site):
    key = site.keys["investigator"]
    part = (b"--XyZ\r\nContent-Disposition: form-data; name=\"probe\"; filename=\"p.jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n")
    total = 128 * 1024 * 1024
    step = 256 * 1024

    def chunks():
        first = part + b"\0" * (step - len(part))
        yield f"{len(first):x}\r\n".encode() + first + b"\r\n"
        for _ in range(total // step):
            yield f"{step:x}\r\n".encode() + b"\0" * step + b"\r\n"

    status, sent = _raw(site, _head(site, "/api/search", "Transfer-Encoding: chunked", key),
                        chunks(), wait=30)
    assert status.startswith("HTTP/1.1 413"), status
    # refused near the limit (plus what the kernel's socket buffers took), not at the end
    assert sent < LIMIT + 16 * 1024 * 1024 < total


def test_a_json_route_refuses_a_declared_oversize_body_before_reading(site):
    head = ("POST /api/keys HTTP/1.1\r\n"
            f"Host: {site.server.host}:{site.server.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n")
    status, sent = _raw(site, head)
    assert status.startswith("HTTP/1.1 413"), status
    assert sent == 0


def _big_probe(site: Site, tmp: Path) -> bytes:
    """A real face photo over 1 MiB (and under the limit): an LFW photo, upscaled, PNG."""
    image = Image.open(site.photo("Tony_Blair", 5)).convert("RGB").resize((1000, 1000))
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=0)
    data = buf.getvalue()
    assert 1024 * 1024 < len(data) < LIMIT
    return data


def _temp_files_of_this_process(tmpdir: str) -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(tmpdir):
            found.add(target)
    return found


def test_a_probe_over_1_mib_never_touches_the_disk(site, tmp_path, monkeypatch):
    # a temp dir of this test's own: the shared /tmp gets files from other programs (the
    # cluster services CI runs beside the tests), which are not the server's spills
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    tmpdir = tempfile.gettempdir()
    probe = _big_probe(site, tmp_path)
    before_files = set(os.listdir(tmpdir))
    before_fds = _temp_files_of_this_process(tmpdir)
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:  # the server runs in this process: its open files are ours to see
        while not done.is_set():
            seen.update(_temp_files_of_this_process(tmpdir) - before_fds)
            seen.update(set(os.listdir(tmpdir)) - before_files)
            time.sleep(0.002)

    def slow_body():
        body = (b"--b0\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\ntest\r\n"
                b"--b0\r\nContent-Disposition: form-data; name=\"case\"\r\n\r\nT-1\r\n"
                b"--b0\r\nContent-Disposition: form-data; name=\"probe\"; filename=\"p.png\""
                b"\r\nContent-Type: image/png\r\n\r\n" + probe + b"\r\n--b0--\r\n")
        for i in range(0, len(body), 128 * 1024):
            time.sleep(0.01)
            yield body[i:i + 128 * 1024]

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with site.client("investigator") as inv:
            r = inv.post("/api/search", content=slow_body(),
                         headers={"content-type": "multipart/form-data; boundary=b0"})
    finally:
        done.set()
        watcher.join()
    assert r.status_code == 200, r.text
    assert r.json()["faces"][0]["matches"][0]["photo_name"].startswith("Tony_Blair")
    assert not seen, f"the upload went to disk: {sorted(seen)}"


def test_an_uncalibrated_far_is_refused(site):
    probe = site.photo("Colin_Powell", 5)
    with site.client("investigator") as inv:
        for far in ("0.999", "0.5", "2e-5", "nan"):
            r = inv.post("/api/search", files=upload(probe, "probe"),
                         data={"purpose": "p", "case": "c", "far": far})
            assert r.status_code == 422, (far, r.text)
        r = inv.post("/api/search", files=upload(probe, "probe"),
                     data={"purpose": "p", "case": "c", "far": "0.999"})
        error = r.json()["error"]
        assert error["code"] == "uncalibrated_far" and "0.0001" in error["message"]
        ok = inv.post("/api/search", files=upload(probe, "probe"),
                      data={"purpose": "p", "case": "c", "far": "1e-3"})
        assert ok.status_code == 200 and ok.json()["far"] == 1e-3
        r = inv.post("/api/verify", data={"purpose": "p", "case": "c", "far": "0.999"},
                     files={**upload(probe, "a"), **upload(site.photo("Colin_Powell", 6), "b")})
        assert r.status_code == 422 and r.json()["error"]["code"] == "uncalibrated_far"
    with pytest.raises(UncalibratedFarError) as info:
        operating_point(site.store.pack, 0.999)
    assert info.value.allowed == (1e-5, 1e-4, 1e-3, 1e-2)
    assert operating_point(site.store.pack, 0.0001).far == 1e-4


def test_the_cli_shows_the_calibrated_values(site):
    result = CliRunner().invoke(main, [
        "--data", str(site.settings.data_dir), "--models-dir", str(site.settings.models_dir),
        "search", str(site.photo("Colin_Powell", 5)), "--far", "0.999", "--purpose", "p",
        "--case", "c"], env={"FACELEDGER_KEY_FILE": str(site.settings.key_file)})
    assert result.exit_code == 2, result.output
    assert "not a calibrated operating point" in result.output
    assert "1e-05, 0.0001, 0.001, 0.01" in result.output


@pytest.mark.parametrize("path", [
    "/api/photos/{}", "/api/photos/{}/image", "/api/faces/{}/crop", "/api/ingest/runs/{}",
])
@pytest.mark.parametrize("number", [2**70, 2**63, -1, 0])
def test_out_of_range_ids_give_404(site, path, number):
    role = "operator" if "ingest" in path else "investigator"
    with site.client(role) as client:
        r = client.get(path.format(number))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found"


def test_an_out_of_range_audit_position_is_a_clear_422(site):
    with site.client("auditor") as aud:
        r = aud.get("/api/audit", params={"since_seq": str(2**70)})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_the_server_still_works_after_all_that(site):
    with site.client("investigator") as inv:
        r = inv.post("/api/search", files=upload(site.photo("Colin_Powell", 5), "probe"),
                     data={"purpose": "p", "case": "c"})
    assert r.status_code == 200
    assert httpx.get(site.url + "/api/health").status_code == 200
