"""Finding 7: 300 requests with bogus keys wrote 300 audit entries in 3.6 s.

Now refused credentials are rate-limited per client address (a token bucket: 429 with
Retry-After once it is empty, without the key being checked), and their audit entries are
aggregated: one entry at a client's first refusal in a window, one summary with the count
when the window ends. A real server on 127.0.0.1; the attacker connects from 127.0.0.2 (a
second loopback address), so the limit is seen to be per client.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from faceledger.api.ratelimit import AuthRateLimiter

from .api_support import Site, same_origin

BURST = 10
RATE = 2.0  # refills per second
WINDOW_S = 2.0


def refilled(started: float) -> int:
    """How many refusals the bucket may have let through since ``started`` (a slow, shared
    machine makes the run longer, and the bucket refills meanwhile)."""
    return BURST + int((time.monotonic() - started) * RATE) + 1


@pytest.fixture(scope="module")
def site(tmp_path_factory, lfw_dir, models_dir):
    s = Site(tmp_path_factory.mktemp("ratelimit"), lfw_dir, models_dir, people=["Tony_Blair"],
             limiter=AuthRateLimiter(burst=BURST, per_second=RATE), refusal_window_s=WINDOW_S)
    yield s
    s.close()


def from_address(site: Site, address: str) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=site.url, transport=transport, timeout=30)


def refusal_entries(site: Site, since: int) -> list:
    return [e for e in site.store.audit.entries(since)
            if e.action in ("api_key_refused", "api_key_refused_summary")]


def test_300_bogus_keys_cost_the_audit_log_two_entries(site):
    since = site.store.audit.head()[0]
    statuses = []
    started = time.monotonic()
    with from_address(site, "127.0.0.2") as attacker:
        for i in range(300):
            r = attacker.get("/api/sources", headers={"Authorization": f"Bearer flk_{i:012x}_x"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
                assert r.json()["error"]["code"] == "rate_limited"
    assert BURST <= statuses.count(401) <= refilled(started)
    assert statuses.count(429) >= 300 - refilled(started)
    # another client is not locked out by the attacker
    with from_address(site, "127.0.0.1") as client:
        ok = client.get("/api/sources", headers={"Authorization": f"Bearer {site.keys['auditor']}"})
        assert ok.status_code == 200
    assert len(refusal_entries(site, since)) == 1  # the first refusal, written at once
    time.sleep(WINDOW_S + 0.2)
    with from_address(site, "127.0.0.1") as client:  # any request closes due windows
        client.get("/api/health")
        client.get("/api/sources", headers={"Authorization": "Bearer flk_000000000000_nope"})
    entries = [e for e in refusal_entries(site, since) if e.inputs.get("client") == "127.0.0.2"]
    assert [e.action for e in entries] == ["api_key_refused", "api_key_refused_summary"]
    summary = entries[1]
    assert 1 + summary.outputs["refused"] == 300  # every refusal counted, none written alone
    assert set(summary.outputs["codes"]) <= {"unauthorized", "rate_limited"}
    assert summary.outputs["codes"]["rate_limited"] == statuses.count(429)
    assert site.store.audit.verify().ok


def test_the_bucket_refills(site):
    with from_address(site, "127.0.0.3") as client:
        bogus = {"Authorization": "Bearer flk_000000000000_nope"}
        started = time.monotonic()
        codes = []
        while 429 not in codes and len(codes) < 100:
            codes.append(client.get("/api/sources", headers=bogus).status_code)
        assert codes[-1] == 429 and BURST <= codes.count(401) <= refilled(started)
        time.sleep(1.5 / RATE)
        assert client.get("/api/sources", headers=bogus).status_code == 401


def test_sign_in_guessing_is_limited_too(site):
    with from_address(site, "127.0.0.4") as browser:
        statuses = []
        started = time.monotonic()
        for i in range(BURST + 30):
            if 429 in statuses:
                break
            page = browser.get("/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            r = browser.post("/signin", headers=same_origin(site),
                             data={"key": f"flk_{i:012x}_guess", "csrf_token": token})
            statuses.append(r.status_code)
        assert statuses[:BURST] == [401] * BURST and statuses[-1] == 429
        assert statuses.count(401) <= refilled(started)
        assert "Retry-After" in r.headers


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_bucket(
        tmp_path_factory, lfw_dir, models_dir):
    """The proxy (127.0.0.3 here) forwards two clients; one exhausting its bucket does not
    lock the other out, and a client cannot escape its bucket by writing the header itself."""
    s = Site(tmp_path_factory.mktemp("proxied"), lfw_dir, models_dir, people=["Tony_Blair"],
             settings={"trusted_proxies": "127.0.0.3"},
             limiter=AuthRateLimiter(burst=BURST, per_second=0.01), refusal_window_s=WINDOW_S)
    try:
        bogus = {"Authorization": "Bearer flk_000000000000_x"}
        with from_address(s, "127.0.0.3") as proxy:
            attacker = {**bogus, "X-Forwarded-For": "198.51.100.7"}
            codes = [proxy.get("/api/sources", headers=attacker).status_code
                     for _ in range(BURST + 3)]
            assert codes[-1] == 429, codes
            # the attacker writes its own header; the proxy appends the address it saw
            spoof = {**bogus, "X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
            assert proxy.get("/api/sources", headers=spoof).status_code == 429
            other = {**bogus, "X-Forwarded-For": "198.51.100.8"}
            assert proxy.get("/api/sources", headers=other).status_code == 401
        with from_address(s, "127.0.0.2") as direct:  # not a proxy: its header is ignored
            forged = {**bogus, "X-Forwarded-For": "198.51.100.8"}
            codes = [direct.get("/api/sources", headers=forged).status_code
                     for _ in range(BURST + 3)]
            assert codes[-1] == 429, codes
        with from_address(s, "127.0.0.3") as proxy:  # 198.51.100.8's bucket was not touched
            other = {**bogus, "X-Forwarded-For": "198.51.100.8"}
            assert proxy.get("/api/sources", headers=other).status_code == 401
    finally:
        s.close()
