"""The rights-request register in a real browser: the admin records a request through the
page (a fetch carrying the session's CSRF token), an overdue request is flagged, the DPO
(auditor) reads the register without the form, an investigator is refused."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from faceledger.privacy.requests import RightsRequests

from .conftest import shot
from .test_browser import sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("the playwright package is not installed (pip install -e '.[test]')",
                allow_module_level=True)


@pytest.fixture(scope="module")
def overdue(site):
    reg = RightsRequests.of(site["app"].state.ctx.store)
    late = reg.open("erasure", "REQ-e2e-late", "letter", "e2e",
                    received_at=datetime.now(UTC) - timedelta(days=45))
    fresh = reg.open("access", "REQ-e2e-fresh", "email", "e2e")
    return late.id, fresh.id


def test_admin_sees_overdue_requests_flagged_and_records_one(page, site, overdue):
    late_id, fresh_id = overdue
    sign_in(page, site, "admin")
    page.goto(site["url"] + "/requests")
    late_row = page.locator(f'tr[data-request="{late_id}"]')
    expect(late_row.get_by_test_id("flag")).to_have_text("OVERDUE")
    assert "overdue" in (late_row.get_attribute("class") or "")
    expect(page.locator(f'tr[data-request="{fresh_id}"]').get_by_test_id("flag")).to_have_text("")
    assert "overdue" in page.get_by_test_id("overdue-count").inner_text()
    form = page.get_by_test_id("request-form")
    form.locator("select[name=kind]").select_option("objection")
    form.locator("input[name=subject]").fill("REQ-e2e-browser")
    form.locator("input[name=channel]").fill("web form")
    form.get_by_role("button", name="Record").click()
    expect(page.get_by_test_id("request-result")).to_contain_text("Recorded RR-")
    page.wait_for_load_state("networkidle")
    page.reload()
    expect(page.locator("tr", has_text="REQ-e2e-browser")).to_have_count(1)
    shot(page, "requests-admin")
    store = site["app"].state.ctx.store
    made = [v for v in RightsRequests.of(store).list() if v.request.subject == "REQ-e2e-browser"]
    assert len(made) == 1 and made[0].request.kind == "objection"
    assert made[0].request.opened_by.endswith(":e2e-admin")
    opened = [e for e in store.audit.entries() if e.case == made[0].request.id]
    assert [e.action for e in opened] == ["rights_request_open_intent", "rights_request_open"]
    assert opened[0].actor.endswith(":e2e-admin")


def test_the_dpo_reads_the_register_without_the_form(page, site, overdue):
    sign_in(page, site, "auditor")
    page.goto(site["url"] + "/requests")
    expect(page.locator(f'tr[data-request="{overdue[0]}"]').get_by_test_id("flag")) \
        .to_have_text("OVERDUE")
    expect(page.get_by_test_id("request-form")).to_have_count(0)
    shot(page, "requests-dpo")


def test_an_investigator_cannot_see_the_register(page, site):
    sign_in(page, site, "investigator")
    response = page.goto(site["url"] + "/requests")
    assert response.status == 403
