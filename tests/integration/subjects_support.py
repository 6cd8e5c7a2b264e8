"""Helpers for the subjects and watches tests: a real HTTP server on loopback that records
what it receives and answers from a script, and a store with a watchlist source."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from faceledger import ActionContext, init_store

from ..conftest import lfw_image
from .rights_support import settings_for, source_kwargs

OP = ActionContext(actor="operator-3", purpose="access control at the front desk", case="AC-1")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Hook:
    """A webhook receiver: ``script`` is the status (or ("redirect", url)) for each request
    in turn; after it runs out, 200."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    script: list = field(default_factory=list)
    got: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self) -> list[dict]:
        return [json.loads(r.body) for r in self.received]


def start_hook() -> Hook:
    hook: Hook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            hook.received.append(Received(self.path, {k.lower(): v for k, v in
                                                      self.headers.items()}, body))
            step = hook.script.pop(0) if hook.script else 200
            if isinstance(step, tuple):
                self.send_response(307)
                self.send_header("Location", step[1])
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_response(step)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")
            hook.got.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook = Hook(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hook


def copy_photos(root: Path, lfw_dir: Path, picks: dict[str, range]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, numbers in picks.items():
        (root / name).mkdir(exist_ok=True)
        for n in numbers:
            src = lfw_image(lfw_dir, name, n)
            if src.exists():
                shutil.copy(src, root / name)
    return root


def subjects_store(tmp_path: Path, models_dir: Path, lfw_dir: Path, allowed: str = "", **kw):
    """A store with a gallery source, an empty watchlist source and a later source."""
    settings = settings_for(tmp_path, models_dir, webhook_allowed_hosts=allowed,
                            webhook_retry_base_s=1.0, **kw)
    store = init_store(settings)
    gallery = copy_photos(tmp_path / "gallery", lfw_dir,
                          {"Tony_Blair": range(1, 3), "Serena_Williams": range(1, 3)})
    store.add_source("events", **source_kwargs(gallery))
    (tmp_path / "watchlist").mkdir()
    store.add_source("watchlist", **{**source_kwargs(tmp_path / "watchlist"),
                                     "lawful_basis": "legitimate-interests",
                                     "special_category_condition": "substantial-public-interest",
                                     "purpose": "access control at the front desk"})
    store.ingest("events", workers=1)
    return store
