"""Helpers for the server-side security tests: a real store over LFW photos, a real uvicorn
server on 127.0.0.1, keys per role, and a sign-in done the way a browser does it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from faceledger import Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import KEY_ROLES
from faceledger.api.server import BackgroundServer

from ..conftest import lfw_image

PEOPLE = ["Colin_Powell", "Tony_Blair", "Gerhard_Schroeder", "Hugo_Chavez", "Serena_Williams"]
GALLERY = range(1, 4)  # photos 1-3 of each person are in the store; 4.. are theirs to bring

SOURCE = dict(controller="Acme Photo Ltd", lawful_basis="consent",
              special_category_condition="explicit-consent",
              purpose="attendees find their photos", retention_days=30,
              minors_policy="none-expected")


class Site:
    """A store with an LFW gallery behind a real server; ``photo(name, n)`` gives LFW files."""

    def __init__(self, root: Path, lfw_dir: Path, models_dir: Path, people=PEOPLE,
                 settings: dict | None = None, **app_kwargs) -> None:
        self.lfw_dir = lfw_dir
        self.settings = Settings(data_dir=root / "data", models_dir=models_dir, workers=1,
                                 key_file=root / "keys" / "store.key", **(settings or {}))
        self.store = init_store(self.settings)
        listing = root / "gallery.txt"
        listing.write_text("".join(self.photo(p, n).as_uri() + "\n"
                                   for p in people for n in GALLERY))
        self.store.add_source("events", location=listing, kind="urls",
                              root=lfw_dir / "images", **SOURCE)
        self.store.ingest("events", workers=1)
        self.app = create_app(self.settings, store=self.store, **app_kwargs)
        self.ctx = self.app.state.ctx
        self.keys = {r.value: self.ctx.keys.create(f"sec-{r.value}", r).secret for r in KEY_ROLES}
        self.server = BackgroundServer(self.app).start()
        self.url = self.server.url

    def photo(self, name: str, n: int) -> Path:
        return lfw_image(self.lfw_dir, name, n)

    def client(self, role: str | None = None, headers: dict | None = None,
               **kw) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.keys[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers={**auth, **(headers or {})},
                            timeout=60, **kw)

    def close(self) -> None:
        self.server.stop()
        self.store.close()


def upload(path: Path, field: str) -> dict:
    return {field: (path.name, path.read_bytes(), "image/jpeg")}


def browser_sign_in(site: Site, role: str) -> tuple[httpx.Client, str]:
    """Sign in through the form as a same-origin browser would; the client keeps the
    session cookie. Returns the client and the session's CSRF token (from the page)."""
    client = httpx.Client(base_url=site.url, timeout=60)
    page = client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/signin", data={"key": site.keys[role], "csrf_token": token, "next": ""},
                    headers=same_origin(site), follow_redirects=False)
    assert r.status_code == 303, r.text
    home = client.get(r.headers["location"])
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text).group(1)
    return client, csrf


def same_origin(site: Site) -> dict[str, str]:
    return {"Origin": site.url, "Sec-Fetch-Site": "same-origin"}
