"""A URL list fetches only its listed URLs, only from the hosts its source declares.

Hostile lists and hostile servers, against a real HTTP server on loopback: URLs that name
another host in disguise (user info, IP spellings, suffixes, backslashes, other schemes and
ports), redirects out of the declared hosts or to file://, names that resolve to loopback,
bodies that are huge, endless or dripped a byte at a time, HTML pages with links, encoded
bodies, and transient failures that deserve a retry (and 4xx that do not).
"""

from __future__ import annotations

import time
import urllib.parse

import pytest

from faceledger.errors import (
    ImageTooLargeError,
    LawfulBasisError,
    PhotoFetchError,
    PhotoRefusedError,
)
from faceledger.pipeline.http_fetch import HttpLimits, fetch_url
from faceledger.privacy.declared_hosts import check_url, parse_declared_host, parse_declared_hosts

from ..photo_server import PhotoServer
from .conftest import BASIS, copy_photos, ingest_within, photo_rows

MB = 1 << 20
FAST = HttpLimits(connect_seconds=2, read_seconds=2, total_seconds=6, retries=3,
                  backoff_seconds=0.05, max_redirects=3)


@pytest.fixture()
def served(tmp_path, lfw_dir):
    folder = tmp_path / "served"
    photos = copy_photos(lfw_dir, folder, 3)
    with PhotoServer(folder, gap=0.2) as server:
        server.photos = photos
        yield server


def hosts_of(server: PhotoServer):
    return parse_declared_hosts([server.base])


def refused(url: str, hosts, phrase: str) -> None:
    with pytest.raises(PhotoRefusedError) as info:
        check_url(url, hosts)
    assert phrase in info.value.message, info.value.message


# -- the URL itself ---------------------------------------------------------------------
def test_urls_that_name_another_host_in_disguise_are_refused_before_any_request():
    hosts = parse_declared_hosts(["http://127.0.0.1:8123", "https://photos.example.org"])
    undeclared = "is not a host this source declares"
    cases = {
        "http://127.0.0.1:8123@evil.example/a.jpg": "user info",
        "http://user:pw@127.0.0.1:8123/a.jpg": "user info",
        "http://evil.example/#@127.0.0.1:8123/a.jpg": undeclared,
        "http://127.0.0.1:8123\\@evil.example/a.jpg": "backslash",
        "http://127.1:8123/a.jpg": "non-canonical",
        "http://0x7f.0.0.1:8123/a.jpg": "non-canonical",
        "http://2130706433:8123/a.jpg": "non-canonical",
        "http://0177.0.0.1:8123/a.jpg": "non-canonical",
        "http://127.000.000.001:8123/a.jpg": "non-canonical",
        "http://[::ffff:127.0.0.1]:8123/a.jpg": "IPv4 address written as IPv6",
        "http://[::1]:8123/a.jpg": undeclared,
        "http://[fe80::1%25eth0]:8123/a.jpg": "zone id",
        "http://localhost:8123/a.jpg": undeclared,
        "http://127.0.0.1:8124/a.jpg": undeclared,  # another port
        "https://127.0.0.1:8123/a.jpg": undeclared,  # another scheme on the declared port
        "http://photos.example.org/a.jpg": undeclared,  # https declared, not http
        "https://photos.example.org.evil.example/a.jpg": undeclared,
        "https://evilphotos.example.org/a.jpg": undeclared,
        "https://xn--phtos-jua.example.org/a.jpg": undeclared,
        "https://phötos.example.org/a.jpg": "not a plain host name",
        "https://photos%2eexample.org/a.jpg": "not a plain host name",
        "https://photos.example.org:99999/a.jpg": "invalid port",
        "https://photos.example.org/a b.jpg": "whitespace",
        "ftp://127.0.0.1:8123/a.jpg": "scheme",
        "gopher://127.0.0.1:8123/_GET": "scheme",
        "file:///etc/passwd": "scheme",
        "data:image/jpeg;base64,/9j/4AAQ": "scheme",
        "javascript:alert(1)": "scheme",
    }
    for url, phrase in cases.items():
        refused(url, hosts, phrase)
    # the same host in other spellings is the same host
    for url in ("HTTP://127.0.0.1:8123/a.jpg", "https://PHOTOS.example.org./a.jpg",
                "https://photos.example.org:443/a.jpg"):
        check_url(url, hosts)


def test_declared_hosts_are_checked_when_the_source_is_added(tmp_path, new_store):
    for text, phrase in {
        "http://user:secret@photos.example.org": "user info",
        "https://photos.example.org/photos": "path",
        "ftp://photos.example.org": "scheme",
        "127.1": "non-canonical",
        "http://*.example.org": "not a plain host name",
    }.items():
        with pytest.raises(LawfulBasisError) as info:
            parse_declared_host(text)
        assert phrase in info.value.message, (text, info.value.message)
    assert str(parse_declared_host("photos.example.org")) == "https://photos.example.org:443"
    store = new_store()
    listing = tmp_path / "list.txt"
    listing.write_text("https://photos.example.org/a.jpg\n")
    with pytest.raises(LawfulBasisError, match="user info"):
        store.add_source("bad", location=listing, kind="urls",
                         hosts=["http://u:p@photos.example.org"], **BASIS)
    with pytest.raises(LawfulBasisError, match="root directory"):
        store.add_source("none", location=listing, kind="urls", **BASIS)
    with pytest.raises(LawfulBasisError, match="only for a URL list"):
        store.add_source("folder", location=tmp_path, hosts=["photos.example.org"], **BASIS)
    info = store.add_source("web", location=listing, kind="urls",
                            hosts=["PHOTOS.example.org", "http://127.0.0.1:8080/"], **BASIS)
    assert info.hosts == ("https://photos.example.org:443", "http://127.0.0.1:8080")
    assert store.source("web").hosts == info.hosts  # stored with the source


# -- against a real server ----------------------------------------------------------------
def test_a_listed_photo_is_fetched_and_a_page_with_links_is_not_crawled(served):
    hosts = hosts_of(served)
    photo = served.photos[0]
    assert fetch_url(served.url(f"/photos/{photo.name}"), hosts, 5 * MB, FAST) == \
        photo.read_bytes()
    with pytest.raises(PhotoRefusedError, match="'text/html', not an image type"):
        fetch_url(served.url("/page.html"), hosts, 5 * MB, FAST)
    with pytest.raises(PhotoRefusedError, match="'text/plain', not an image type"):
        fetch_url(served.url(f"/photos/{photo.name}?type=text/plain"), hosts, 5 * MB, FAST)
    assert served.hits == [f"/photos/{photo.name}", "/page.html",
                           f"/photos/{photo.name}?type=text/plain"]  # no link followed


def test_redirects_stay_on_the_declared_hosts(served, tmp_path):
    hosts = hosts_of(served)
    name = served.photos[0].name
    inside = served.url("/redirect?to=" + urllib.parse.quote(f"/photos/{name}"))
    assert fetch_url(inside, hosts, 5 * MB, FAST) == served.photos[0].read_bytes()
    with PhotoServer(tmp_path) as other:  # a second server: never reached
        targets = {
            other.url(f"/photos/{name}"): "is not a host this source declares",
            f"http://localhost:{served.port}/photos/{name}": "is not a host",
            f"http://127.0.0.1:{served.port}@{'127.0.0.2'}/x.jpg": "user info",
            "file:///etc/passwd": "scheme 'file' is not fetched",
            f"https://127.0.0.1:{served.port}/photos/{name}": "is not a host",
            "gopher://127.0.0.1:70/x": "scheme",
        }
        for target, phrase in targets.items():
            for code in (301, 302, 307):
                url = served.url(f"/redirect?code={code}&to=" + urllib.parse.quote(target))
                with pytest.raises(PhotoRefusedError) as info:
                    fetch_url(url, hosts, 5 * MB, FAST)
                assert "redirects to" in info.value.message and phrase in info.value.message
        assert other.hits == []
    loop = served.url("/redirect")
    with pytest.raises(PhotoRefusedError, match="more than 3 redirects"):
        fetch_url(loop, hosts, 5 * MB, FAST)


def test_a_declared_name_that_resolves_to_loopback_is_refused(served):
    hosts = parse_declared_hosts([f"http://localhost:{served.port}"])
    with pytest.raises(PhotoRefusedError, match="not a public address"):
        fetch_url(f"http://localhost:{served.port}/photos/{served.photos[0].name}", hosts,
                  5 * MB, FAST)
    assert served.hits == []  # refused before connecting


def test_huge_and_endless_bodies_are_cut_off(served):
    hosts = hosts_of(served)
    with pytest.raises(ImageTooLargeError, match="declares 1000000000000 bytes"):
        fetch_url(served.url("/declared-huge"), hosts, 5 * MB, FAST)
    with pytest.raises(ImageTooLargeError, match="runs past the limit of 1048576 bytes"):
        fetch_url(served.url("/endless"), hosts, MB, FAST)
    with pytest.raises(ImageTooLargeError, match="declares"):
        fetch_url(served.url(f"/photos/{served.photos[0].name}"), hosts, 100, FAST)


@pytest.mark.parametrize("path", ["/slow-headers", "/slow-body"])
def test_a_server_that_drips_bytes_is_cut_off_at_the_deadline(served, path):
    hosts = hosts_of(served)
    limits = HttpLimits(connect_seconds=1, read_seconds=1, total_seconds=1.5, retries=3,
                        backoff_seconds=0.05)
    started = time.monotonic()
    with pytest.raises(PhotoFetchError, match="took longer than 1.5 s"):
        fetch_url(served.url(path), hosts, 5 * MB, limits)
    assert time.monotonic() - started < 4  # the deadline held, not the drip's 2000 s
    assert served.counts[path] == 1  # a missed deadline is not retried


def test_transient_failures_are_retried_and_4xx_are_not(served):
    hosts = hosts_of(served)
    name = served.photos[0].name
    data = served.photos[0].read_bytes()
    assert fetch_url(served.url(f"/flaky/2/{name}"), hosts, 5 * MB, FAST) == data
    assert served.counts[f"/flaky/2/{name}"] == 3
    assert fetch_url(served.url(f"/reset/1/{name}"), hosts, 5 * MB, FAST) == data
    assert served.counts[f"/reset/1/{name}"] == 2
    with pytest.raises(PhotoFetchError, match="503 Service Unavailable .*after 4 attempts"):
        fetch_url(served.url(f"/flaky/99/{name}"), hosts, 5 * MB, FAST)
    assert served.counts[f"/flaky/99/{name}"] == 4
    for code in (403, 404, 410, 429):
        with pytest.raises(PhotoRefusedError, match=f"answered {code}.*not retried"):
            fetch_url(served.url(f"/status/{code}"), hosts, 5 * MB, FAST)
        assert served.counts[f"/status/{code}"] == 1
    with pytest.raises(PhotoRefusedError, match="content encoding 'gzip'"):
        fetch_url(served.url(f"/gzip/{name}"), hosts, 5 * MB, FAST)


def test_a_closed_port_is_retried_then_reported(served):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hosts = parse_declared_hosts([f"http://127.0.0.1:{port}"])
    with pytest.raises(PhotoFetchError, match="cannot connect.*after 4 attempts"):
        fetch_url(f"http://127.0.0.1:{port}/a.jpg", hosts, MB, FAST)


def test_an_ingest_refuses_each_hostile_entry_per_photo_and_reads_the_rest(
        served, tmp_path, new_store):
    store = new_store()
    good = [served.url(f"/photos/{p.name}") for p in served.photos[:2]]
    bad = {
        f"http://127.0.0.1:{served.port}@127.0.0.2/x.jpg": "user info",
        f"http://localhost:{served.port}/photos/{served.photos[2].name}": "not a host",
        f"http://127.1:{served.port}/photos/{served.photos[2].name}": "non-canonical",
        served.url("/page.html"): "not an image type",
        served.url("/declared-huge"): "declares 1000000000000 bytes",
        served.url("/status/404"): "answered 404",
        served.url("/redirect?to=file:///etc/passwd"): "redirects to",
        "file:///etc/passwd": "declares no root directory",
        "ftp://127.0.0.1/x.jpg": "only absolute file:// URIs",
    }
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join([*good, *bad]) + "\n")
    store.add_source("web", location=listing, kind="urls", hosts=[served.base], **BASIS)

    report = ingest_within(store, "web", timeout=120)

    assert report.status == "completed"
    assert report.errors == len(bad) and report.photos == len(good) + len(bad)
    rows = photo_rows(store, "web")
    assert all(rows[u]["status"] == "ok" for u in good)  # the stored URI is the URL
    for url, phrase in bad.items():
        assert rows[url]["status"] == "error" and phrase in rows[url]["error"], (url, rows[url])
    assert all(h.startswith(("/photos/", "/page.html", "/declared-huge", "/status/",
                             "/redirect")) for h in served.hits)
    assert f"/photos/{served.photos[2].name}" not in served.hits
    assert "/etc/passwd" not in "".join(r["error"] or "" for r in rows.values()
                                        if r["uri"] != "file:///etc/passwd"
                                        and "redirect" not in r["uri"])
