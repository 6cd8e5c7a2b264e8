"""Hostile input to named subjects, watches and webhooks (issue 14, req. 5 and 6).

- names: control, bidirectional-override and zero-width characters, overlong, empty or
  non-text names are refused with a message naming the field; nothing is stored;
- webhook URLs (SSRF): only http(s) to a host:port the operator allowed; user info,
  fragments, spaces and newlines (header injection), backslashes, other ports, metadata
  addresses, numeric IP spellings, IPv6 loopback, non-ASCII hosts are refused when the
  watch is registered; a redirect off the allowed host is not followed; a host withdrawn
  from the allow-list after registration is not called;
- ids in URLs: out of range, negative, not numbers: 404 or 422, never a server error;
- tokens: a watch needs a ``watch`` token whose selfie passes the 1:1 check; a bad webhook
  URL is refused before an attempt is spent; the withdrawal credential is checked in
  constant time, refusals are rate-limited and audited; secrets and templates never come
  back from the API.
Real LFW photos, real models, a real server and a real webhook receiver on loopback.
"""

from __future__ import annotations

import json

import pytest

from faceledger.config import Settings
from faceledger.errors import InvalidRequestError
from faceledger.subjects.validate import subject_name
from faceledger.subjects.webhooks import check_webhook_url, deliver_due

from ..integration.subjects_support import start_hook
from .api_support import Site, upload

PERSON, OTHER = "Colin_Powell", "Hugo_Chavez"


@pytest.fixture(scope="module")
def hook():
    h = start_hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory, lfw_dir, models_dir, hook):
    s = Site(tmp_path_factory.mktemp("subjects-sec"), lfw_dir, models_dir,
             settings={"webhook_allowed_hosts": f"127.0.0.1:{hook.port}",
                       "webhook_retry_base_s": 0.0})
    yield s
    s.close()


def enrol(site: Site, name: str, consent: str = "form F-1", person: str = PERSON):
    with site.client("operator") as op:
        return op.post("/api/subjects", data={"name": name, "source": "events",
                                              "consent": consent, "case": "SEC-1"},
                       files={"photo1": (f"{person}.jpg", site.photo(person, 1).read_bytes(),
                                         "image/jpeg")})


HOSTILE_NAMES = ["", "   ", "Jane\x00Roe", "Jane\nRoe", "Jane\u202eeoR", "Ja\u200bne",
                 "x" * 201, "Jane\u2028Roe"]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_names_are_refused(name):
    with pytest.raises(InvalidRequestError, match="name"):
        subject_name(name)


def test_hostile_names_over_http_store_nothing(site):
    for name in ["Jane\u202eeoR", "Jane\x07Roe", "y" * 1200]:
        r = enrol(site, name)
        assert r.status_code == 422, r.text
        assert "name" in r.text
    assert not [s for s in site.store.subjects() if "Jane" in s.name or "y" * 50 in s.name]
    assert enrol(site, "<script>alert(1)</script>").status_code == 201
    with site.client("operator") as op:
        page = op.get("/subjects")
    assert "<script>alert(1)</script>" not in page.text  # escaped by the template
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def _settings(port: int) -> Settings:
    return Settings(webhook_allowed_hosts=f"127.0.0.1:{port},hooks.example.org")


BAD_URLS = [
    "file:///etc/passwd", "gopher://127.0.0.1:{port}/", "ftp://127.0.0.1:{port}/",
    "javascript:alert(1)", "//127.0.0.1:{port}/hook", "127.0.0.1:{port}/hook",
    "http://user:pw@127.0.0.1:{port}/hook", "http://127.0.0.1:{port}@169.254.169.254/",
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:1/hook",
    "http://127.0.0.1/hook", "http://localhost:{port}/hook", "http://[::1]:{port}/hook",
    "http://2130706433:{port}/", "http://0x7f000001:{port}/", "http://127.1:{port}/",
    "http://127.0.0.1:{port}/hook#frag", "http://127.0.0.1:{port}/ho ok",
    "http://127.0.0.1:{port}/hook\r\nX-Injected: 1", "http://127.0.0.1:{port}\\@evil.org/",
    "http://hooks.example.org.evil.org/", "http://hooks.exämple.org/",
    "http://127.0.0.1:{port}/" + "a" * 2100, "http://127.0.0.1:99999/", "",
]


@pytest.mark.parametrize("url", BAD_URLS, ids=range(len(BAD_URLS)))
def test_webhook_urls_outside_the_allow_list_are_refused(url):
    with pytest.raises(InvalidRequestError):
        check_webhook_url(url.format(port=8123), _settings(8123))


def test_allowed_urls_pass_and_an_empty_allow_list_refuses_everything():
    s = _settings(8123)
    assert check_webhook_url("http://127.0.0.1:8123/hook?x=1", s)
    assert check_webhook_url("https://hooks.example.org/fl", s)  # any port for a bare host
    assert check_webhook_url("HTTPS://HOOKS.EXAMPLE.ORG:8443/fl", s)
    with pytest.raises(InvalidRequestError, match="no webhook host is allowed"):
        check_webhook_url("https://hooks.example.org/fl", Settings())


def test_watch_urls_over_http_and_consent(site, hook):
    sid = enrol(site, "Watch Target").json()["id"]
    nocon = enrol(site, "No Consent", consent="").json()["id"]
    body = {"days": 7, "purpose": "front desk", "case": "SEC-2"}
    with site.client("operator") as op:
        for url in ["http://169.254.169.254/", "file:///etc/passwd",
                    f"http://127.0.0.1:{hook.port}/a\nb", f"http://x@127.0.0.1:{hook.port}/"]:
            r = op.post(f"/api/subjects/{sid}/watches", json={**body, "webhook_url": url})
            assert r.status_code == 422, (url, r.text)
        r = op.post(f"/api/subjects/{nocon}/watches", json={**body, "webhook_url": hook.url})
        assert r.status_code == 422 and "consent" in r.text
        r = op.post(f"/api/subjects/{sid}/watches", json={**body, "webhook_url": hook.url,
                                                          "days": 100000})
        assert r.status_code == 422
        r = op.post(f"/api/subjects/{sid}/watches", json={**body, "webhook_url": hook.url})
        assert r.status_code == 201, r.text
        secret = r.json()["webhook_secret"]
        listed = op.get("/api/watches").text
    assert secret not in listed and "template" not in listed and "withdraw" not in listed
    site.store.withdraw_watch(r.json()["watch"]["id"])


@pytest.mark.parametrize("path", ["/api/subjects/0", "/api/subjects/-1",
                                  f"/api/subjects/{2**70}", "/api/subjects/abc",
                                  "/api/subjects/1e3", "/api/subjects/99999999"])
def test_hostile_ids(site, path):
    with site.client("operator") as op:
        for method in ("GET", "DELETE"):
            r = op.request(method, path)
            assert r.status_code in (404, 422), (method, path, r.status_code, r.text)
        r = op.delete(path.replace("subjects", "watches"))
        assert r.status_code in (404, 422), r.text
        r = op.post(path + "/watches", json={"webhook_url": "http://x/", "days": 1,
                                             "purpose": "p", "case": "c"})
        assert r.status_code in (404, 422), r.text


def _token(site: Site, kind: str, person: str = PERSON) -> str:
    with site.client("admin") as admin:
        r = admin.post("/api/subject-tokens", data={"subject": f"REQ-{kind}", "kind": kind},
                       files=upload(site.photo(person, 4), "reference"))
    assert r.status_code == 201, r.text
    return r.json()["token"]


def _self_watch(site: Site, token: str, selfie, url: str):
    with site.client(headers={"Authorization": f"Bearer {token}"}) as c:
        return c.post("/api/rights/watch", data={"webhook_url": url, "days": "30"},
                      files=upload(selfie, "selfie"))


def test_a_data_subjects_watch_needs_a_watch_token_and_their_own_face(site, hook):
    access = _token(site, "access")
    r = _self_watch(site, access, site.photo(PERSON, 5), hook.url)
    assert r.status_code == 403 and "watch" in r.text
    token = _token(site, "watch")
    r = _self_watch(site, token, site.photo(PERSON, 5), "http://169.254.169.254/")
    assert r.status_code == 422
    with site.client(headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get("/api/rights/token").json()["attempts_left"] == 3  # not spent on it
    r = _self_watch(site, token, site.photo(OTHER, 1), hook.url)
    assert r.status_code == 403 and "identity not verified" in r.text
    before = len(site.store.watches())
    assert before == 0
    r = _self_watch(site, token, site.photo(PERSON, 5), hook.url)
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["watch"]["owner"] == "subject" and data["withdraw_credential"].startswith("flw_")
    assert _self_watch(site, token, site.photo(PERSON, 5), hook.url).status_code == 401
    strictest = min(site.store.pack.thresholds)
    assert data["watch"]["far"] == strictest

    cred = data["withdraw_credential"]
    wid = data["watch"]["id"]
    with site.client() as anyone:
        for bad in ["", "flw_", f"flw_{wid}_", f"flw_{wid}_wrong", f"flw_{wid + 1}_x" + cred[-5:],
                    "fls_1_x", f"flw_{'9' * 40}_x", "flw_-1_x", cred + "x"]:
            r = anyone.post("/api/watches/withdraw", json={"credential": bad})
            assert r.status_code in (401, 422), (bad, r.text)
        assert [w.id for w in site.store.watches()] == [wid]
        r = anyone.post("/api/watches/withdraw", json={"credential": cred})
        assert r.status_code == 200 and r.json() == {"withdrawn": [wid]}
        assert anyone.post("/api/watches/withdraw",
                           json={"credential": cred}).status_code == 401
    assert site.store.watches() == []
    site.ctx.refusals.flush_all()
    refused = [e for e in site.store.audit.entries() if e.action.startswith("api_key_refus")
               and "/api/watches/withdraw" in json.dumps(e.inputs)]
    assert refused, "refused withdrawal credentials are audited"


def test_redirects_off_host_and_withdrawn_hosts_are_not_called(site, hook, tmp_path):
    row = site.store.enrol_subject("Redirected", "events", [site.photo(PERSON, 2)],
                                   consent="form F-9")
    from faceledger.types import ActionContext

    ctx = ActionContext("sec", "front desk", "SEC-3")
    new = site.store.add_watch(row.id, hook.url, 7, ctx)
    face_id = site.store.catalog.face_ids(site.store.pack.name)[0]
    from faceledger.store.subjects import SubjectTables

    SubjectTables(site.store.catalog).add_alerts([(new.watch.id, face_id, 0.9)],
                                                 "2026-01-01T00:00:00+00:00", 0.0)
    hook.received.clear()
    hook.script = [("redirect", "http://169.254.169.254/latest/meta-data/")]
    site.ctx.webhooks.stop()  # this test drives the deliveries itself
    site.ctx.webhooks = site.store.webhook_dispatcher = None
    try:
        counts = deliver_due(site.store)
        assert counts["retried"] == 1 and len(hook.received) == 1
        alert = [a for a in site.store.alerts() if a.watch_id == new.watch.id][0]
        assert alert.last_error == "redirect to another host refused"
        # the operator withdraws the host: the pending delivery is not sent any more
        site.store.settings = site.store.settings.with_(webhook_allowed_hosts="hooks.example.org")
        deliver_due(site.store)
        assert len(hook.received) == 1
        alert = [a for a in site.store.alerts() if a.watch_id == new.watch.id][0]
        assert "not one the operator allowed" in (alert.last_error or "")
        body = json.dumps([e.outputs for e in site.store.audit.entries()
                           if e.action == "webhook_delivery"])
        assert new.webhook_secret not in body
    finally:
        site.store.settings = site.settings
        site.ctx.start_webhooks()
