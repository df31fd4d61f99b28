"""Fixtures of the API Studio tests: an installed workspace and users' tokens for it."""

from __future__ import annotations

import threading
import time

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from addon.extensions import db
from addon.models import Installation

WORKSPACE = "ws-studio-1"
ADDON_ID = "addon-studio-1"
OTHER_WORKSPACE = "ws-other-9"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def installation(app, signer):
    """An ACTIVE installation of WORKSPACE (committed, so live servers see it too)."""
    with app.app_context():
        row = Installation(workspace_id=WORKSPACE, addon_id=ADDON_ID,
                           installation_token=signer.installation_token(WORKSPACE, ADDON_ID),
                           api_url=signer.backend_url, reports_url=signer.reports_url)
        db.session.add(row)
        db.session.commit()
        db.session.expunge(row)
    return row


@pytest.fixture
def user_token(signer, installation):
    """A user token factory: ``user_token(role="OWNER", **claims)``."""
    def make(role: str = "OWNER", user_id: str = "user-1", **claims) -> str:
        if claims:
            base = {"workspaceId": WORKSPACE, "addonId": ADDON_ID, "user": user_id, "workspaceRole": role,
                    "theme": "DEFAULT", "language": "EN", "backendUrl": signer.backend_url,
                    "reportsUrl": signer.reports_url, "exp": int(time.time()) + 1800}
            base.update(claims)
            return signer.make_token(**base)
        return signer.user_token(WORKSPACE, ADDON_ID, user_id=user_id, role=role)
    return make


@pytest.fixture
def auth_headers(user_token):
    """Headers of an OWNER's XHR call."""
    return {"Authorization": f"Bearer {user_token()}"}


class _QuietHandler(WSGIRequestHandler):
    """No access log: the page URL carries a token."""

    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture(scope="module")
def live_server(app):
    """The app over real HTTP on a free port of 127.0.0.1 (werkzeug in a thread)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (skipped when Playwright is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A 360-px wide page; the test fails if the page raised a JavaScript error."""
    context = browser.new_context(viewport={"width": 360, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def sized_page(browser):
    """``sized_page(width)``: a page of that width; the test fails on any JavaScript error."""
    contexts, errors = [], []

    def make(width: int):
        context = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(context)
        new_page = context.new_page()
        new_page.on("pageerror", lambda error: errors.append(str(error)))
        new_page.set_default_timeout(10_000)
        return new_page
    yield make
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def fake_token(signer, installation, fake_clockify):
    """A user token whose backendUrl/reportsUrl point at the fake Clockify."""
    return signer.make_token(workspaceId=WORKSPACE, addonId=ADDON_ID, user="user-1", workspaceRole="OWNER",
                             theme="DEFAULT", language="EN", backendUrl=fake_clockify.api_url,
                             reportsUrl=fake_clockify.reports_url, exp=int(time.time()) + 1800)
