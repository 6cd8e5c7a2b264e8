"""The Subjects and Alerts pages in a real browser against a real server: an operator enrols
a subject with consent through the page, recognises them in a new photo, registers a watch
whose webhook is a real HTTP server on loopback; a later ingest raises alerts that the
server's background dispatcher delivers, signed; the Alerts page shows them delivered; the
operator withdraws the watch and its template and alerts are gone. An auditor reads both
pages without the forms; an investigator cannot open them."""

from __future__ import annotations

import os
import time

import pytest

from faceledger import Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import KEY_ROLES
from faceledger.api.server import BackgroundServer
from faceledger.subjects.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature

from ..conftest import lfw_image
from ..integration.subjects_support import copy_photos, start_hook
from .conftest import shot
from .test_browser import sign_in

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - the test extra installs it
    if os.environ.get("CI"):
        raise
    pytest.skip("the playwright package is not installed (pip install -e '.[test]')",
                allow_module_level=True)

PERSON = "Colin_Powell"


@pytest.fixture(scope="module")
def hook():
    h = start_hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture(scope="module")
def subjects_site(tmp_path_factory, lfw_dir, models_dir, hook):
    root = tmp_path_factory.mktemp("e2e-subjects")
    settings = Settings(data_dir=root / "data", models_dir=models_dir, workers=1,
                        webhook_allowed_hosts=f"127.0.0.1:{hook.port}")
    store = init_store(settings)
    basis = dict(controller="faceledger e2e tests", lawful_basis="legitimate-interests",
                 special_category_condition="substantial-public-interest",
                 purpose="access control at the front desk", retention_days=30,
                 minors_policy="none-expected")
    (root / "watchlist").mkdir()
    store.add_source("watchlist", location=root / "watchlist", **basis)
    later = copy_photos(root / "later", lfw_dir, {PERSON: range(5, 8), "Hugo_Chavez": range(1, 3)})
    store.add_source("later", location=later, **basis)
    app = create_app(settings, store=store)
    keys = {r.value: app.state.ctx.keys.create(f"e2e-{r.value}", r).secret for r in KEY_ROLES}
    with BackgroundServer(app) as server:
        yield {"url": server.url, "keys": keys, "app": app, "store": store}
    store.close()


def test_operator_enrols_recognises_watches_and_withdraws(page, subjects_site, lfw_dir, hook):
    site = subjects_site
    sign_in(page, site, "operator")
    page.goto(site["url"] + "/subjects")
    form = page.get_by_test_id("enrol-form")
    form.locator("input[name=name]").fill("Colin Powell")
    form.locator("select[name=source]").select_option("watchlist")
    form.locator("input[name=consent]").fill("signed form F-12")
    form.locator("input[name=case]").fill("AC-e2e")
    page.get_by_test_id("enrol-photos").set_input_files(
        [str(lfw_image(lfw_dir, PERSON, 1)), str(lfw_image(lfw_dir, PERSON, 2))])
    form.get_by_role("button", name="Enrol").click()
    expect(page.get_by_test_id("enrol-result")).to_contain_text("Enrolled Colin Powell")
    page.wait_for_load_state("networkidle")
    page.reload()
    row = page.locator("tr[data-subject]", has_text="Colin Powell")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("signed form F-12")
    expect(row).to_contain_text("legitimate interests")

    rec = page.get_by_test_id("recognize-form")
    page.get_by_test_id("recognize-photo").set_input_files(str(lfw_image(lfw_dir, PERSON, 10)))
    rec.locator("input[name=purpose]").fill("access control at the front desk")
    rec.locator("input[name=case]").fill("AC-e2e")
    rec.get_by_role("button", name="Recognise").click()
    expect(page.get_by_test_id("recognized-face").first).to_be_visible()
    labels = page.get_by_test_id("label").all_inner_texts()
    decisions = page.get_by_test_id("decision").all_inner_texts()
    assert ("Colin Powell", "match") in list(zip(labels, decisions))
    shot(page, "subjects-recognised")

    row.get_by_test_id("watch-open").click()
    watch = page.get_by_test_id("watch-form")
    watch.locator("input[name=webhook_url]").fill("http://169.254.169.254/latest/meta-data")
    watch.locator("input[name=purpose]").fill("front desk alerts")
    watch.locator("input[name=case]").fill("AC-e2e")
    watch.get_by_role("button", name="Register watch").click()
    expect(page.get_by_test_id("watch-result")).to_contain_text("not one the operator allowed")
    watch.locator("input[name=webhook_url]").fill(hook.url)
    watch.get_by_role("button", name="Register watch").click()
    expect(page.get_by_test_id("watch-result")).to_contain_text("shown once")
    secret = bytes.fromhex(page.get_by_test_id("watch-result").inner_text().rsplit(" ", 1)[-1])
    shot(page, "subjects-watch")

    store = site["store"]
    store.ingest("later", workers=1)  # a CLI-style ingest beside the running server
    deadline = time.time() + 20
    while time.time() < deadline and len(hook.received) < 3:
        time.sleep(0.2)
    assert len(hook.received) == 3, "the server's dispatcher delivered each alert"
    for got in hook.received:
        assert verify_signature(secret, got.headers[TIMESTAMP_HEADER.lower()], got.body,
                                got.headers[SIGNATURE_HEADER.lower()])

    page.goto(site["url"] + "/alerts")
    rows = page.locator("tr[data-alert]")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("delivery").first).to_have_text("delivered")
    assert all("Colin_Powell" in t for t in page.locator("tr[data-alert] td:nth-child(5)")
               .all_inner_texts())
    shot(page, "alerts-delivered")
    page.get_by_test_id("watch-withdraw").first.click()
    expect(page.get_by_test_id("alerts-status")).to_contain_text("withdrawn")
    page.wait_for_load_state("networkidle")
    page.reload()
    expect(page.locator("tr[data-watch]")).to_have_count(0)
    expect(page.locator("tr[data-alert]")).to_have_count(0)
    assert store.watches() == [] and store.alerts() == []
    actions = [e.action for e in store.audit.entries()]
    assert {"subject_enrol", "recognize", "watch_add", "watch_alert", "webhook_delivery",
            "watch_delete"} <= set(actions)


def test_auditor_reads_without_forms_and_investigator_is_refused(page, subjects_site):
    sign_in(page, subjects_site, "auditor")
    page.goto(subjects_site["url"] + "/subjects")
    expect(page.get_by_test_id("subjects")).to_be_visible()
    expect(page.get_by_test_id("enrol-form")).to_have_count(0)
    expect(page.get_by_test_id("recognize-form")).to_have_count(0)
    page.goto(subjects_site["url"] + "/alerts")
    expect(page.get_by_test_id("watches")).to_be_visible()
    expect(page.get_by_test_id("watch-withdraw")).to_have_count(0)
    page.context.clear_cookies()
    sign_in(page, subjects_site, "investigator")
    assert page.goto(subjects_site["url"] + "/subjects").status == 403
    assert page.goto(subjects_site["url"] + "/alerts").status == 403


def test_a_data_subject_watches_themselves_and_stops_it_on_the_rights_page(
        page, subjects_site, lfw_dir, hook):
    from faceledger.api.subject_tokens import issue_subject_token

    site = subjects_site
    store = site["store"]
    issued = issue_subject_token(store, site["app"].state.ctx.keys.tokens, "REQ-e2e-watch",
                                 "watch", lfw_image(lfw_dir, PERSON, 4), "e2e-admin")
    page.goto(site["url"] + "/rights")
    page.get_by_test_id("token").fill(issued.secret)
    page.get_by_test_id("selfie").set_input_files(str(lfw_image(lfw_dir, PERSON, 8)))
    page.get_by_test_id("kind-watch").check()
    page.get_by_test_id("webhook-url").fill(hook.url)
    page.get_by_test_id("watch-days").fill("14")
    page.get_by_test_id("rights-submit").click()
    expect(page.get_by_test_id("rights-status")).to_contain_text("Watching until")
    secrets_text = page.get_by_test_id("watch-secrets").inner_text()
    credential = secrets_text.rsplit(" ", 1)[-1]
    assert credential.startswith("flw_")
    [watch] = store.watches()
    assert watch.owner == "subject" and watch.label == "REQ-e2e-watch"
    shot(page, "rights-watch")
    page.get_by_test_id("withdraw-credential").fill(credential + "x")
    page.get_by_test_id("withdraw-submit").click()
    expect(page.get_by_test_id("withdraw-status")).to_contain_text("unknown watch withdrawal")
    assert len(store.watches()) == 1
    page.get_by_test_id("withdraw-credential").fill(credential)
    page.get_by_test_id("withdraw-submit").click()
    expect(page.get_by_test_id("withdraw-status")).to_contain_text("stopped")
    assert store.watches() == []
