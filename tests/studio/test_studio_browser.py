"""API Studio in a real browser: Debian's Chromium driven by Playwright against the real app
served over HTTP (werkzeug in a thread) and the fake Clockify."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WORKSPACE, ADDON_ID = "ws-studio-1", "addon-studio-1"


class _QuietHandler(WSGIRequestHandler):
    """No access log: the page URL carries a token."""

    def log_request(self, *args, **kwargs):
        pass


@pytest.fixture(scope="module")
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 360, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_default_timeout(10_000)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def open_studio(page, live_server, token):
    page.goto(f"{live_server}/ui?auth_token={token}")
    page.wait_for_selector(".op-button", state="attached")


def open_operation(page, search, operation_id):
    page.fill("#search", search)
    page.click(f"[data-operation-id={operation_id}]")
    page.wait_for_selector("#op-form .field")


def test_token_leaves_the_address_bar(page, live_server, signer, installation):
    token = signer.user_token(WORKSPACE, ADDON_ID)
    open_studio(page, live_server, token)
    assert page.url == f"{live_server}/ui"
    assert "166 operations" in page.text_content("#list-status")


def test_validation_error_is_shown_beside_its_field(page, live_server, signer, installation):
    open_studio(page, live_server, signer.user_token(WORKSPACE, ADDON_ID))
    open_operation(page, "get all projects", "getProjects")
    page.locator("[data-key='query:page']").fill("abc")
    page.click("#execute")
    field = page.locator(".field", has=page.locator("[data-key='query:page']"))
    error = field.locator(".field-error")
    error.wait_for(state="visible")
    assert error.text_content() == "Must be an integer."
    assert field.locator("input").get_attribute("aria-invalid") == "true"
    assert page.is_visible("#form-errors") and page.is_hidden("#response")


def test_expired_session_is_announced(page, live_server, signer, installation):
    token = signer.user_token(WORKSPACE, ADDON_ID, ttl=2)
    open_studio(page, live_server, token)
    page.wait_for_selector("#banner:not([hidden])", timeout=15_000)
    assert "expired" in page.text_content("#banner")
    assert page.is_disabled("#execute")


def test_fresh_token_from_the_parent_frame_replaces_the_old_one(page, live_server, signer, installation):
    short = signer.user_token(WORKSPACE, ADDON_ID, ttl=60)
    fresh = signer.user_token(WORKSPACE, ADDON_ID, ttl=1800)
    parent = f"{live_server}/__clockify_parent"
    html = f"""<!doctype html><body><iframe id="studio" src="/ui?auth_token={short}" width="360" height="800"></iframe>
    <script>
      window.refreshRequests = 0;
      window.addEventListener("message", (event) => {{
        let data = event.data;
        try {{ data = JSON.parse(data); }} catch (error) {{}}
        if (data && data.action === "refreshAddonToken") {{
          window.refreshRequests += 1;
          event.source.postMessage(JSON.stringify({{title: "ADDON_TOKEN", body: "{fresh}"}}), "*");
        }}
      }});
    </script></body>"""
    page.route(parent, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.goto(parent)
    frame = page.frame_locator("#studio")
    frame.locator(".op-button").first.wait_for(state="attached")
    page.wait_for_function("window.refreshRequests > 0")
    # The fresh token lasts 30 minutes; the first one had one minute left.
    frame.locator("#session-line", has_text="session ends in 30 min").wait_for()
    assert frame.locator("#banner").is_hidden()


def test_write_call_asks_for_confirmation_first(page, live_server, signer, installation, app):
    from addon.extensions import db
    from addon.models import ApiCall

    open_studio(page, live_server, signer.user_token(WORKSPACE, ADDON_ID))
    open_operation(page, "add a new project", "createNewProject")
    page.locator("[data-key='body:name']").fill("Apollo")
    page.click("#execute")
    page.wait_for_selector("#confirm-panel:not([hidden])")
    assert "POST /v1/workspaces/{workspaceId}/projects" in page.text_content("#confirm-text")
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(ApiCall)).scalar() == 0
    page.click("#confirm-cancel")
    assert page.is_hidden("#confirm-panel")


def test_screenshot_of_the_operation_list(page, live_server, signer, installation):
    OUTPUT.mkdir(exist_ok=True)
    open_studio(page, live_server, signer.user_token(WORKSPACE, ADDON_ID, theme="DARK"))
    assert page.get_attribute("html", "data-theme") == "dark"
    page.fill("#search", "project")
    page.screenshot(path=str(OUTPUT / "studio-list-dark.png"), full_page=True)
