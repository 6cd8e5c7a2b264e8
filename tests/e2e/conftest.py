"""Browser tests: Debian's Chromium driven by Playwright against a real uvicorn server.

Chromium comes from ``scripts/install-browser.sh`` (apt), never from ``playwright install``.
Without /usr/bin/chromium the tests skip with a reason, except in CI (``CI`` set), where a
missing browser is a failure. Screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from faceledger import Settings, init_store
from faceledger.api import create_app
from faceledger.api.keys import KEY_ROLES
from faceledger.api.server import BackgroundServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium at /usr/bin/chromium: run scripts/install-browser.sh")
        pytest.skip("no Chromium at /usr/bin/chromium (scripts/install-browser.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                     headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-final.png"), full_page=True)
    context.close()


def image_width(img, timeout_ms: float = 15_000) -> int:
    """The natural width of the ``<img>`` that locator ``img`` finds, once the browser has
    finished with it: loaded (its width) or failed (0). Reading it at once races the fetch:
    an image still on its way reads 0 like a broken one (seen once in CI, 2026-12-08)."""
    img.scroll_into_view_if_needed(timeout=timeout_ms)  # a lazy image loads once in view
    img.page.wait_for_function("img => img.complete", arg=img.element_handle(),
                               timeout=timeout_ms)
    return img.evaluate("img => img.naturalWidth")


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def site(tmp_path_factory, lfw_dir, models_dir):
    """A store with a small LFW gallery (first two photos of 10 people; their third photo is
    the probe), a second source left for the operator to ingest, a key per role, a server."""
    data = tmp_path_factory.mktemp("e2e-store")
    settings = Settings(data_dir=data, models_dir=models_dir, workers=1)
    people: dict[str, list[Path]] = {}
    extra: list[Path] = []
    for person in sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 3 and len(people) < 10:
            people[person.name] = photos[:3]
        elif len(photos) == 1 and len(extra) < 12:
            extra.append(photos[0])
        if len(people) >= 10 and len(extra) >= 12:
            break
    basis = dict(controller="faceledger e2e tests", lawful_basis="legitimate-interests",
                 special_category_condition="archiving-research",
                 purpose="test the web UI on a research dataset", retention_days=30,
                 minors_policy="none-expected", kind="urls", root=lfw_dir / "images")
    store = init_store(settings)
    gallery = data / "gallery.txt"
    gallery.write_text("".join(p.as_uri() + "\n" for ps in people.values() for p in ps[:2]))
    later = data / "later.txt"
    later.write_text("".join(p.as_uri() + "\n" for p in extra))
    store.add_source("e2e-gallery", location=gallery, **basis)
    store.add_source("e2e-later", location=later, **basis)
    store.ingest("e2e-gallery", workers=1)
    app = create_app(settings, store=store)
    keys = {r.value: app.state.ctx.keys.create(f"e2e-{r.value}", r).secret for r in KEY_ROLES}
    with BackgroundServer(app) as server:
        yield {"url": server.url, "keys": keys, "people": people, "app": app}
    store.close()
