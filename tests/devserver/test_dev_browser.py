"""The newcomer's path in a real browser (Debian's Chromium, Playwright): the index page of the
stack started as `make dev` starts it, "Open API Studio", one call, and the webhook it causes back
on the index page. Screenshots go to test-output/; with ``UPDATE_SCREENSHOTS=1`` also to docs/,
where the README shows them."""

from __future__ import annotations

import os
import time

import pytest

from addon.testkit.processes import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = ROOT / "test-output"
DOCS = ROOT / "docs"


def screenshot(page, name: str, **options) -> None:
    """Save ``name`` under test-output/, and under docs/ when asked (``UPDATE_SCREENSHOTS=1``)."""
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / name), **options)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        page.screenshot(path=str(DOCS / name), **options)


@pytest.fixture
def browser_context():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        context.set_default_timeout(15_000)
        errors: list[str] = []
        context.on("page", lambda page: page.on("pageerror", lambda error: errors.append(str(error))))
        yield context
        context.close()
        browser.close()
        assert errors == [], f"JavaScript errors: {errors}"


def _reload_until(page, selector: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while page.locator(selector).count() == 0:
        assert time.monotonic() < deadline, f"{selector} never appeared on {page.url}"
        time.sleep(0.3)
        page.reload()


def test_index_open_api_studio_run_a_call_and_see_its_webhook(make_dev, browser_context):
    url, _log, _started = make_dev
    index = browser_context.new_page()
    index.goto(url + "/")
    _reload_until(index, 'td.bootstrap[data-status="completed"]')

    with browser_context.expect_page() as opened:
        index.click("text=Open API Studio as owner")
    studio = opened.value
    studio.wait_for_selector(".op-button", state="attached")
    assert studio.url == f"{url}/ui"  # the token left the address bar
    studio.fill("#search", "add a new project")
    studio.click("[data-operation-id=createNewProject]")
    studio.wait_for_selector("#op-form .field")
    studio.fill("[data-key='body:name']", "Launch plan")
    studio.click("#execute")
    studio.wait_for_selector("#confirm-panel:not([hidden])")
    studio.click("#confirm-send")
    studio.wait_for_selector("#response:not([hidden])")
    assert studio.text_content("#resp-status") == "201"
    assert '"name": "Launch plan"' in studio.text_content("#resp-body-box pre")
    screenshot(studio, "dev-studio.png")

    index.goto(url + "/")
    _reload_until(index, 'tr.event[data-event="NEW_PROJECT"][data-status="processed"]', timeout=10)
    assert "Launch plan" in index.text_content('tr.event[data-event="NEW_PROJECT"]')
    screenshot(index, "dev-index.png", full_page=True)
