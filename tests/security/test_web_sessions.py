"""Finding 7: the web UI's cookie held the raw API key; a page on another port of the same
host made a signed-in investigator run a search; a cross-site login form planted the
attacker's key.

Now: a server-side session (random id in the cookie, HttpOnly, SameSite=Strict, expiry,
revoked on sign-out, stored hashed in keys.db), a CSRF token on every state-changing form
and fetch, and an Origin check that refuses other origins, other ports included. HTTP-level
tests on a real server; ``tests/e2e/test_csrf.py`` runs the same attacks in Chromium.
"""

from __future__ import annotations

import hashlib
import re
import time

import httpx
import pytest

from faceledger.api.server import free_port

from .api_support import Site, browser_sign_in, same_origin, upload


@pytest.fixture(scope="module")
def site(tmp_path_factory, lfw_dir, models_dir):
    s = Site(tmp_path_factory.mktemp("sessions"), lfw_dir, models_dir,
             people=["Tony_Blair", "Colin_Powell"])
    yield s
    s.close()


def other_origin(site: Site) -> str:
    return f"http://{site.server.host}:{free_port()}"


def searches(site: Site) -> int:
    return sum(1 for e in site.store.audit.entries() if e.action == "search")


def _search(client: httpx.Client, site: Site, headers: dict) -> httpx.Response:
    return client.post("/api/search", headers=headers,
                       files=upload(site.photo("Tony_Blair", 5), "probe"),
                       data={"purpose": "web test", "case": "W-1"})


def test_the_cookie_holds_a_session_id_never_the_key(site):
    client = httpx.Client(base_url=site.url, timeout=60)
    page = client.get("/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/signin", headers=same_origin(site), follow_redirects=False,
                    data={"key": site.keys["investigator"], "csrf_token": token})
    assert r.status_code == 303
    set_cookie = r.headers["set-cookie"]
    assert "faceledger_session=" in set_cookie
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/", "Max-Age="):
        assert attribute.lower() in set_cookie.lower(), set_cookie
    secret = site.keys["investigator"].split("_", 2)[2]
    assert secret not in set_cookie and site.keys["investigator"] not in set_cookie
    session_id = client.cookies["faceledger_session"]
    raw = b"".join(p.read_bytes() for p in site.ctx.keys.path.parent.glob("keys.db*"))
    assert session_id.encode() not in raw  # only its hash is kept
    assert hashlib.sha256(session_id.encode()).hexdigest().encode() in raw
    assert client.get("/api/whoami").json()["role"] == "investigator"


def test_the_old_raw_key_cookie_opens_nothing(site):
    for name in ("faceledger_key", "faceledger_session"):
        with httpx.Client(base_url=site.url, cookies={name: site.keys["admin"]}) as c:
            assert c.get("/api/whoami").status_code == 401


def test_sign_out_revokes_the_session_on_the_server(site):
    client, csrf = browser_sign_in(site, "auditor")
    session_id = client.cookies["faceledger_session"]
    refused = client.post("/signout", headers=same_origin(site), data={"csrf_token": "nope"})
    assert refused.status_code == 403  # a forged sign-out is refused too
    r = client.post("/signout", headers=same_origin(site), data={"csrf_token": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    with httpx.Client(base_url=site.url, cookies={"faceledger_session": session_id}) as replay:
        assert replay.get("/api/whoami").status_code == 401


def test_revoking_a_key_ends_its_sessions(site):
    issued = site.ctx.keys.create("short-lived", "operator")
    site.keys["short-lived"] = issued.secret
    client, _ = browser_sign_in(site, "short-lived")
    assert client.get("/api/whoami").status_code == 200
    with site.client("admin") as admin:
        assert admin.delete(f"/api/keys/{issued.key.id}").status_code == 200
    assert client.get("/api/whoami").status_code == 401


def test_sessions_expire(site):
    sessions = site.ctx.keys.sessions
    old = sessions.ttl_s
    sessions.ttl_s = 4.0
    try:
        client, _ = browser_sign_in(site, "auditor")
        session_id = client.cookies["faceledger_session"]
        assert client.get("/api/whoami").status_code == 200
        time.sleep(4.5)
        # the browser would drop the cookie now; the server refuses it anyway
        with httpx.Client(base_url=site.url, cookies={"faceledger_session": session_id}) as c:
            r = c.get("/api/whoami")
        assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    finally:
        sessions.ttl_s = old


def test_a_search_through_the_session_needs_its_csrf_token(site):
    client, csrf = browser_sign_in(site, "investigator")
    before = searches(site)
    r = _search(client, site, same_origin(site))
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
    r = _search(client, site, {**same_origin(site), "X-CSRF-Token": "forged"})
    assert r.status_code == 403
    assert searches(site) == before
    r = _search(client, site, {**same_origin(site), "X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    assert searches(site) == before + 1


@pytest.mark.parametrize("evidence", ["other-port origin", "same-site fetch", "null origin",
                                      "other-port referer", "no browser evidence"])
def test_another_origin_cannot_use_the_session_even_with_the_token(site, evidence):
    client, csrf = browser_sign_in(site, "investigator")
    headers = {
        "other-port origin": {"Origin": other_origin(site)},
        "same-site fetch": {"Sec-Fetch-Site": "same-site", "Origin": other_origin(site)},
        "null origin": {"Origin": "null"},
        "other-port referer": {"Referer": other_origin(site) + "/attack.html"},
        "no browser evidence": {},
    }[evidence]
    before = searches(site)
    r = _search(client, site, {**headers, "X-CSRF-Token": csrf})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "cross_origin"
    assert searches(site) == before


def test_a_cross_origin_login_form_cannot_plant_a_key(site):
    attacker = site.ctx.keys.create("attacker", "investigator").secret
    # the attacker fetches a valid form/cookie pair for themselves and tosses the cookie
    # into the victim's browser (cookies do not keep ports apart): the Origin still gives
    # them away
    own = httpx.Client(base_url=site.url)
    token = re.search(r'name="csrf_token" value="([^"]+)"', own.get("/signin").text).group(1)
    victim = httpx.Client(base_url=site.url, cookies={"faceledger_signin": token})
    for headers in ({"Origin": other_origin(site)},
                    {"Origin": "null", "Sec-Fetch-Site": "same-site"},
                    {"Origin": other_origin(site), "Sec-Fetch-Site": "same-site"}):
        r = victim.post("/signin", headers=headers, follow_redirects=False,
                        data={"key": attacker, "csrf_token": token})
        assert r.status_code == 400, r.text
        assert "faceledger_session" not in r.headers.get("set-cookie", "")
    # and same-origin without the pre-session pair is refused as well
    r = httpx.post(site.url + "/signin", headers=same_origin(site), follow_redirects=False,
                   data={"key": attacker, "csrf_token": token})
    assert r.status_code == 400
    assert "faceledger_session" not in victim.cookies


def test_another_origin_cannot_read_the_api_with_the_session(site):
    client, _ = browser_sign_in(site, "investigator")
    r = client.get("/api/sources", headers={"Sec-Fetch-Site": "same-site",
                                            "Sec-Fetch-Mode": "no-cors"})
    assert r.status_code == 403
    assert client.get("/api/sources", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200


def test_api_keys_in_headers_need_no_csrf_token(site):
    with site.client("investigator") as inv:  # a script or curl: no cookie, no Origin
        r = _search(inv, site, {})
        assert r.status_code == 200, r.text
