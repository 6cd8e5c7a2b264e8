"""The People, person and photo pages in Chromium: merge and split by selection, rename,
"not this person", and the photo page that says why the engine may hold the photo."""

from __future__ import annotations

import os
import re

import pytest

from .conftest import image_width, shot
from .test_browser import sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("the playwright package is not installed", allow_module_level=True)


def _count(text: str) -> int:
    return int(re.search(r"(\d+) faces", text).group(1))


def test_people_merge_rename_split_and_not_this(page, site):
    sign_in(page, site, "investigator")
    page.goto(site["url"] + "/people")
    cards = page.get_by_test_id("person")
    expect(cards.first).to_be_visible()
    assert cards.count() >= len(site["people"])  # 10 people, two photos each
    width = image_width(cards.first.locator("img"))
    assert width > 0  # the cover face really loaded
    shot(page, "people")
    a, b = cards.nth(0), cards.nth(1)
    total = _count(a.get_by_test_id("person-count").inner_text()) + _count(
        b.get_by_test_id("person-count").inner_text())
    a.get_by_test_id("pick").check()
    b.get_by_test_id("pick").check()
    page.get_by_test_id("merge").click()
    page.wait_for_url(re.compile(r"/people/\d+$"))
    assert _count(page.get_by_test_id("person-count").inner_text()) == total
    merged_url = page.url

    page.get_by_test_id("rename-input").fill("Two people, merged")
    page.get_by_test_id("rename").click()
    expect(page.get_by_test_id("person-title")).to_have_text("Two people, merged")
    shot(page, "person-merged")

    page.get_by_test_id("face").first.get_by_test_id("pick-face").check()
    page.get_by_test_id("split").click()
    page.wait_for_url(lambda url: url != merged_url and "/people/" in url)
    assert _count(page.get_by_test_id("person-count").inner_text()) == 1

    page.goto(merged_url)
    before = _count(page.get_by_test_id("person-count").inner_text())
    page.get_by_test_id("not-this").first.click()
    page.wait_for_function(
        f"() => !document.querySelector('[data-testid=person-count]').textContent"
        f".startsWith('{before} ')")
    assert _count(page.get_by_test_id("person-count").inner_text()) == before - 1
    page.goto(site["url"] + "/people")
    assert "Two people, merged" in page.get_by_test_id("people").inner_text()


def test_photo_page_says_why_it_is_held(page, site):
    sign_in(page, site, "investigator")
    page.goto(site["url"] + "/people")
    page.get_by_test_id("person-name").first.click()
    page.get_by_test_id("photo-link").first.click()
    page.wait_for_url(re.compile(r"/photos/\d+$"))
    expect(page.get_by_test_id("facebox").first).to_be_attached()
    assert page.get_by_test_id("face-person").count() >= 1
    why = page.get_by_test_id("why").inner_text()
    assert "faceledger e2e tests" in why and "legitimate-interests" in why
    assert "30 days" in page.get_by_test_id("retention").inner_text()
    width = image_width(page.locator("[data-testid=photo] img"))
    assert width > 0
    shot(page, "photo-page")


def test_people_pages_refuse_other_roles(page, site):
    sign_in(page, site, "auditor")
    response = page.goto(site["url"] + "/people")
    assert response is not None and response.status == 403
