"""Slow clients (slowloris) cannot hold the server's connections: the request head has a
deadline, the body a total deadline and a longest gap (``api/slow_clients.py``). Found in the
outsider pass of 2026-12-01 (docs/security.md): 60 connections dripping a header byte every
4 s stayed open for as long as the clients liked. A real server on 127.0.0.1, raw sockets;
the deadlines are shortened here so the test takes seconds.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from faceledger.api.server import BackgroundServer
from faceledger.api.slow_clients import DeadlineH11Protocol, guarded_protocol

from .api_support import Site

HEAD, BODY, GAP = 1.0, 4.0, 1.0


@pytest.fixture(scope="module")
def site(tmp_path_factory, lfw_dir, models_dir):
    s = Site(tmp_path_factory.mktemp("slow"), lfw_dir, models_dir, people=["Colin_Powell"])
    yield s
    s.close()


@pytest.fixture(scope="module")
def guarded(site):
    with BackgroundServer(site.app, http=guarded_protocol(HEAD, BODY, GAP)) as server:
        yield server


def _connect(server: BackgroundServer) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _drip(sock: socket.socket, first: bytes, drop: bytes, every: float,
          limit: float = 10.0) -> tuple[float, bytes]:
    """Send ``first``, then ``drop`` every ``every`` s until the server closes the connection;
    (seconds until closed, what the server sent)."""
    start = time.monotonic()
    sock.sendall(first)
    sock.settimeout(every)
    got = b""
    while time.monotonic() - start < limit:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            try:
                sock.sendall(drop)
            except OSError:  # closed under us
                break
            continue
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    return time.monotonic() - start, got


def test_the_servers_use_the_guarded_protocol(site):
    assert issubclass(site.server._server.config.http, DeadlineH11Protocol)
    assert site.server._server.config.http.head_timeout == 10.0


def test_a_head_dripped_byte_by_byte_is_cut_at_its_deadline(guarded):
    with _connect(guarded) as sock:
        took, got = _drip(sock, b"GET /api/health HTTP/1.1\r\nHost: x\r\n", b"X-a: b\r\n", 0.3)
    assert took < HEAD + 1.5, took  # the bytes kept coming; the deadline held anyway
    assert got.startswith(b"HTTP/1.1 408"), got


def test_a_silent_connection_is_closed(guarded):
    with _connect(guarded) as sock:
        took, got = _drip(sock, b"", b"", 5.0)
    assert took < HEAD + 1.5 and got == b"", (took, got)


def test_a_stalled_body_is_cut_after_the_longest_gap(site, guarded):
    head = (b"POST /api/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + site.keys["investigator"].encode()
            + b"\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
              b"Content-Length: 100000\r\n\r\n--XX\r\n")
    with _connect(guarded) as sock:
        took, _ = _drip(sock, head, b"", 5.0)  # sends nothing after the head
    assert took < GAP + 1.5, took


def test_a_body_dripped_within_the_gap_is_cut_at_the_total_deadline(site, guarded):
    head = (b"POST /api/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + site.keys["investigator"].encode()
            + b"\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
              b"Content-Length: 100000\r\n\r\n--XX\r\n")
    with _connect(guarded) as sock:
        took, _ = _drip(sock, head, b"x", 0.3)
    assert BODY - 0.5 < took < BODY + 2.0, took


def test_ordinary_requests_and_keep_alive_are_untouched(site, guarded):
    with httpx.Client(base_url=guarded.url, timeout=30,
                      headers={"Authorization": f"Bearer {site.keys['investigator']}"}) as c:
        assert c.get("/api/health").status_code == 200
        time.sleep(HEAD / 2)
        assert c.get("/api/whoami").status_code == 200  # the same connection, reused
        photo = site.photo("Colin_Powell", 5)
        r = c.post("/api/search", files={"probe": (photo.name, photo.read_bytes(),
                                                    "image/jpeg")},
                   data={"purpose": "test", "case": "T-1", "k": "3"})
        assert r.status_code == 200, r.text
        assert r.json()["faces"][0]["matches"]
