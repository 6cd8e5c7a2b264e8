"""A real HTTP server on loopback that serves photos, and misbehaves on request.

``PhotoServer`` runs ``http.server`` in a thread on 127.0.0.1 (port chosen by the kernel) and
records every request path it is sent, so a test can assert what was (and was not) fetched.
Routes:

- ``/photos/NAME``: the file NAME from the served folder, as ``image/jpeg`` (or ``type=``);
- ``/redirect?to=URL[&code=302]``: a redirect to URL;
- ``/page.html``: HTML that links to every photo (a crawler would follow them);
- ``/declared-huge``: declares a terabyte body and sends nothing;
- ``/endless``: an image body with no length that never ends;
- ``/slow-headers`` and ``/slow-body``: one byte every ``gap`` seconds;
- ``/flaky/N/NAME``: 503 for the first N requests, then the photo;
- ``/reset/N/NAME``: the connection reset for the first N requests, then the photo;
- ``/status/CODE``: an empty answer with that status;
- ``/gzip/NAME``: the photo with ``Content-Encoding: gzip``.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class PhotoServer:
    def __init__(self, folder: Path, gap: float = 0.2) -> None:
        self.folder = folder
        self.gap = gap
        self.hits: list[str] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                with owner._lock:
                    owner.hits.append(self.path)
                    owner.counts[self.path] += 1
                    count = owner.counts[self.path]
                try:
                    owner.route(self, count)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PhotoServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def fetched(self, prefix: str) -> list[str]:
        return [h for h in self.hits if h.startswith(prefix)]

    # -- routes -------------------------------------------------------------------------
    def route(self, h: BaseHTTPRequestHandler, count: int) -> None:
        parts = urllib.parse.urlsplit(h.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        segments = parts.path.strip("/").split("/")
        head = segments[0]
        if head == "photos":
            self._send_file(h, segments[-1], query.get("type", "image/jpeg"))
        elif head == "redirect":
            h.send_response(int(query.get("code", "302")))
            h.send_header("Location", query.get("to", h.path))  # no target: a loop
            h.send_header("Content-Length", "0")
            h.end_headers()
        elif head == "page.html":
            links = "".join(f'<img src="/photos/{p.name}">' for p in sorted(self.folder.iterdir()))
            self._send(h, 200, f"<html>{links}</html>".encode(), "text/html")
        elif head == "declared-huge":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", str(10**12))
            h.end_headers()
            h.wfile.flush()
            time.sleep(2)
        elif head == "endless":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Connection", "close")
            h.end_headers()
            block = b"\xff" * 65536
            for _ in range(100_000):  # 6.5 GB if nobody stops reading
                h.wfile.write(block)
        elif head == "slow-headers":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Slow: " + b"a" * 10_000:
                h.wfile.write(bytes([byte]))
                h.wfile.flush()
                time.sleep(self.gap)
        elif head == "slow-body":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", "100000")
            h.end_headers()
            for _ in range(100_000):
                h.wfile.write(b"\xff")
                h.wfile.flush()
                time.sleep(self.gap)
        elif head == "flaky":
            if count <= int(segments[1]):
                self._send(h, 503, b"busy", "text/plain")
            else:
                self._send_file(h, segments[2], "image/jpeg")
        elif head == "reset":
            if count <= int(segments[1]):
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                h.connection.close()
                h.close_connection = True
            else:
                self._send_file(h, segments[2], "image/jpeg")
        elif head == "status":
            self._send(h, int(segments[1]), b"", "text/plain")
        elif head == "gzip":
            data = gzip.compress((self.folder / segments[1]).read_bytes())
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        else:
            self._send(h, 404, b"no such thing", "text/plain")

    def _send_file(self, h: BaseHTTPRequestHandler, name: str, media: str) -> None:
        path = self.folder / name
        if not path.is_file():
            self._send(h, 404, b"", "text/plain")
            return
        self._send(h, 200, path.read_bytes(), media)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, media: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", media)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
