"""Finding 7: no CSP, nosniff or frame headers.

Every response now carries a Content-Security-Policy without inline script,
X-Content-Type-Options: nosniff, frame-ancestors 'none' and X-Frame-Options: DENY, and
Referrer-Policy: no-referrer: pages, JSON, static files, redirects, errors, and the
refusals that the outer middlewares send themselves (413, 429). The templates hold no
inline script, event handler or style attribute, so the policy costs the UI nothing
(the browser tests run under it; ``tests/e2e/test_csrf.py`` checks for violations).
"""

from __future__ import annotations

import re
from importlib import resources

import pytest
from fastapi.testclient import TestClient

from faceledger import Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import Role
from faceledger.api.ratelimit import AuthRateLimiter

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    data = tmp_path_factory.mktemp("headers")
    store = init_store(Settings(data_dir=data))
    app = create_app(Settings(data_dir=data), store=store, preload_models=False,
                     limiter=AuthRateLimiter(burst=1, per_second=0.01))
    keys = {r: app.state.ctx.keys.create(f"h-{r.value}", r).secret for r in Role
            if r is not Role.SUBJECT}
    with TestClient(app, raise_server_exceptions=False) as c:
        c.keys = keys
        yield c
    store.close()


def _requests(client):
    inv = {"Authorization": f"Bearer {client.keys[Role.INVESTIGATOR]}"}
    admin = {"Authorization": f"Bearer {client.keys[Role.ADMIN]}"}
    html = {"accept": "text/html"}
    return {
        "sign-in page": client.get("/signin"),
        "rights page": client.get("/rights"),
        "redirect": client.get("/", follow_redirects=False),
        "page redirect to sign-in": client.get("/search", headers=html, follow_redirects=False),
        "html error page": client.get("/admin", headers={**html, **inv}),
        "static script": client.get("/static/app.js"),
        "static style": client.get("/static/style.css"),
        "api json": client.get("/api/sources", headers=inv),
        "api 401": client.get("/api/sources"),
        "api 404": client.get("/api/photos/5", headers=inv),
        "api 422": client.post("/api/search", headers=inv),
        "openapi": client.get("/openapi.json"),
        "unknown route": client.get("/nowhere"),
        "middleware 413": client.post("/api/keys", headers={**admin, "content-length": "9999999"},
                                      content=b"{}"),
        "bogus key": client.get("/api/health", headers={"Authorization": "Bearer flk_a_b"}),
        "rate limited 429": [client.get("/api/sources",
                                        headers={"Authorization": "Bearer flk_0_x"})
                             for _ in range(3)][-1],
    }


def test_every_response_has_the_security_headers(client):
    responses = _requests(client)
    assert responses["middleware 413"].status_code == 413
    assert responses["rate limited 429"].status_code == 429
    assert "Retry-After" in responses["rate limited 429"].headers
    for what, r in responses.items():
        for name, value in EXPECTED.items():
            assert r.headers.get(name) == value, (what, r.status_code, name, r.headers)
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (what, csp)
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp, (what, csp)
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp, (what, csp)


def test_the_api_docs_keep_their_own_narrow_policy(client):
    r = client.get("/docs")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "https://cdn.jsdelivr.net" in csp
    assert r.headers["x-frame-options"] == "DENY"


def test_the_templates_hold_no_inline_script_or_style():
    templates = resources.files("faceledger") / "web" / "templates"
    for page in templates.iterdir():
        text = page.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert re.search(r'\bsrc="/static/', tag), (page.name, tag)
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", text), page.name  # no inline body
        assert not re.search(r"\son[a-z]+\s*=", text), page.name  # no onclick= etc.
        assert not re.search(r"\sstyle\s*=", text), page.name
        assert "<style" not in text, page.name
        assert "javascript:" not in text, page.name
