"""The web UI attacks of issue 9 (finding 7), in Chromium: a page served from another port
of the same host (same site, another origin) tries to make a signed-in investigator run a
search, and to sign the victim in with the attacker's key. Both reached the server on the
old code (the cookie held the key, no CSRF token, no Origin check). And every page works
under the Content-Security-Policy, without a violation.
"""

from __future__ import annotations

import base64
import os
import time

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from faceledger.api.server import BackgroundServer

from .test_browser import sign_in

try:
    from playwright.sync_api import expect  # noqa: F401
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("the playwright package is not installed (pip install -e '.[test]')",
                allow_module_level=True)

SEARCH_ATTACK = """<!doctype html><html><head>{meta}<title>cute cats</title></head><body>
<script>
const bin = atob("{jpeg}");
const bytes = new Uint8Array(bin.length);
for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
const form = new FormData();
form.append("probe", new Blob([bytes], {{type: "image/jpeg"}}), "p.jpg");
form.append("purpose", "planted by another page");
form.append("case", "CSRF-ATTACK");
fetch("{target}/api/search", {{method: "POST", body: form, mode: "no-cors",
                               credentials: "include"}})
  .finally(() => {{ document.title = "done"; }});
</script></body></html>"""

LOGIN_ATTACK = """<!doctype html><html><head>{meta}<title>win a prize</title></head><body>
<form id="f" method="post" action="{target}/signin">
<input name="key" value="{key}"><input name="next" value="/search">
<input name="csrf_token" value="guess"></form>
<script>document.getElementById("f").submit();</script></body></html>"""

NO_REFERRER = '<meta name="referrer" content="no-referrer">'  # makes the browser send Origin: null


@pytest.fixture(scope="module")
def attacker(site):
    """A server on another port of 127.0.0.1: same site as the victim's, another origin."""
    store = site["app"].state.ctx.store
    attacker_key = site["app"].state.ctx.keys.create("attacker", "investigator").secret
    photo = next(iter(site["people"].values()))[2]
    jpeg = base64.b64encode(photo.read_bytes()).decode()

    def page(template: str, **values):
        async def endpoint(request):
            meta = NO_REFERRER if request.query_params.get("null") else ""
            return HTMLResponse(template.format(meta=meta, target=site["url"], **values))
        return endpoint

    app = Starlette(routes=[
        Route("/search.html", page(SEARCH_ATTACK, jpeg=jpeg)),
        Route("/login.html", page(LOGIN_ATTACK, key=attacker_key)),
    ])
    with BackgroundServer(app) as server:
        yield {"url": server.url, "store": store}


def _searches_by(store, case: str) -> int:
    return sum(1 for e in store.audit.entries() if e.action == "search" and e.case == case)


def _refusals(store, code: str) -> int:
    return sum(1 for e in store.audit.entries()
               if e.action.startswith("api_key_refused") and code in str(e.outputs))


@pytest.mark.parametrize("null_origin", [False, True])
def test_a_page_on_another_port_cannot_search_as_the_signed_in_investigator(
        page, site, attacker, null_origin):
    store = attacker["store"]
    sign_in(page, site, "investigator")
    before, refused = _searches_by(store, "CSRF-ATTACK"), _refusals(store, "cross_origin")
    page.goto(attacker["url"] + "/search.html" + ("?null=1" if null_origin else ""))
    page.wait_for_function("document.title === 'done'")
    deadline = time.monotonic() + 10
    while (_refusals(store, "cross_origin") == refused
           and _searches_by(store, "CSRF-ATTACK") == before and time.monotonic() < deadline):
        time.sleep(0.1)
    assert _searches_by(store, "CSRF-ATTACK") == before, "the planted search ran"
    assert _refusals(store, "cross_origin") > refused  # it reached the server, and was refused
    page.goto(site["url"] + "/search")  # the investigator is still themselves
    assert page.get_by_test_id("who").inner_text().startswith("e2e-investigator")


@pytest.mark.parametrize("null_origin", [False, True])
def test_a_cross_site_login_form_cannot_plant_the_attackers_key(page, site, attacker,
                                                                 null_origin):
    page.goto(attacker["url"] + "/login.html" + ("?null=1" if null_origin else ""))
    page.wait_for_url(site["url"] + "/**")  # the form went to the victim's server
    page.goto(site["url"] + "/")
    assert page.url.endswith("/signin")  # not signed in, least of all as the attacker
    assert page.get_by_test_id("who").count() == 0


def test_every_page_runs_under_the_csp(page, site):
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)
    page.on("pageerror", lambda e: violations.append(str(e)))
    page.goto(site["url"] + "/signin")
    page.goto(site["url"] + "/rights")
    for role, home in (("admin", "/admin"), ("operator", "/ingest"),
                       ("investigator", "/search"), ("auditor", "/audit")):
        sign_in(page, site, role)
        assert page.url.endswith(home)
        page.wait_for_load_state("networkidle")
        page.goto(site["url"] + "/sources")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(site["url"] + "/signin")
    assert not violations, violations
