"""Found in the outsider pass of 2026-12-01 (docs/security.md, "Outsider pass"): a client
that sent half a request body and disconnected made the server print a full traceback
("Exception in ASGI application"), 40 lines per connection, so anyone with a key could
flood the server log. A real server on 127.0.0.1, raw sockets.
"""

from __future__ import annotations

import logging
import socket
import time

import pytest

from .api_support import Site


@pytest.fixture(scope="module")
def site(tmp_path_factory, lfw_dir, models_dir):
    s = Site(tmp_path_factory.mktemp("outsider"), lfw_dir, models_dir,
             people=["Colin_Powell"])
    yield s
    s.close()


def _half_request(site: Site, head: bytes) -> None:
    host, port = site.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        time.sleep(0.3)  # the server is reading the body now


@pytest.mark.parametrize("route", ["multipart", "json"])
def test_a_client_leaving_mid_body_is_not_a_server_error(site, caplog, route):
    if route == "multipart":
        head = (b"POST /api/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + site.keys["investigator"].encode()
                + b"\r\nContent-Type: multipart/form-data; boundary=XX\r\n"
                  b"Content-Length: 100000\r\n\r\n--XX\r\nContent-Disposition: form-data; "
                  b"name=\"probe\"; filename=\"a.jpg\"\r\n\r\n\xff\xd8\xff")
    else:
        head = (b"POST /api/keys HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                + site.keys["admin"].encode()
                + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                  b"{\"name\": \"x")
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            _half_request(site, head)
        time.sleep(1.0)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
    with site.client("investigator") as inv:  # and the server is fine
        assert inv.get("/api/whoami").status_code == 200
