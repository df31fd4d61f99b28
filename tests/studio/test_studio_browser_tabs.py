"""The API Studio tabs of the second step in a real browser (Debian's Chromium through
Playwright), against the real app over HTTP and the fake Clockify: History, Events, code
snippets, the response viewer, all pages and workspace data. Each tab is also shown in the light
theme at 1280 px and the dark theme at 400 px, with a screenshot saved under ``test-output/``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
WORKSPACE, ADDON_ID = "ws-studio-1", "addon-studio-1"
LAYOUTS = [pytest.param(1280, "DEFAULT", id="light-1280"), pytest.param(400, "DARK", id="dark-400")]


@pytest.fixture
def studio_token(signer, installation, fake_clockify):
    """``studio_token(role="OWNER", theme="DEFAULT", user="user-1")`` pointing at the fake Clockify."""
    def make(role="OWNER", theme="DEFAULT", user="user-1"):
        return signer.make_token(workspaceId=WORKSPACE, addonId=ADDON_ID, user=user, workspaceRole=role,
                                 theme=theme, language="EN", backendUrl=fake_clockify.api_url,
                                 reportsUrl=fake_clockify.reports_url, exp=int(time.time()) + 1800)
    return make


def open_studio(page, live_server, token):
    page.goto(f"{live_server}/ui?auth_token={token}")
    page.wait_for_selector(".op-button", state="attached")


def screenshot(page, name):
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / name), full_page=True)


def execute_via_api(client, token, body):
    response = client.post("/ui/api-explorer/execute", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(("width", "theme"), LAYOUTS)
def test_history_lists_open_and_run_again(sized_page, live_server, client, studio_token, fake_clockify,
                                          width, theme):
    token = studio_token(theme=theme)
    execute_via_api(client, token, {"operationId": "getProjects", "query": {"name": "Apollo", "page": 2}})
    execute_via_api(client, studio_token(user="user-2"), {"operationId": "getClients"})
    fake_clockify.clear_requests()
    page = sized_page(width)
    open_studio(page, live_server, token)
    page.click("#tab-history")
    page.wait_for_selector(".history-item")
    assert page.locator(".history-item").count() == 1  # user-2's call is not mine
    item = page.locator(".history-item").first
    assert "getProjects" in item.text_content() and "200" in item.text_content()
    item.locator("summary").click()
    assert '"name": "Apollo"' in item.locator("pre").text_content()
    screenshot(page, f"studio-history-{'dark' if theme == 'DARK' else 'light'}-{width}.png")

    item.get_by_role("button", name="Open").click()
    page.wait_for_selector("#op-form .field")
    assert page.is_visible("#panel-operations") and page.get_attribute("#tab-operations", "aria-selected") == "true"
    assert page.input_value("[data-key='query:name']") == "Apollo"
    assert page.input_value("[data-key='query:page']") == "2"
    assert fake_clockify.requests() == []

    page.click("#tab-history")
    page.get_by_role("button", name="Run getProjects again").click()
    page.wait_for_selector("#response:not([hidden])")
    [sent] = fake_clockify.requests()
    assert sent.query == {"name": ["Apollo"], "page": ["2"]}


def test_history_run_again_of_a_write_asks_for_confirmation(page, live_server, client, studio_token, fake_clockify):
    token = studio_token()
    body = {"operationId": "createNewProject", "body": {"name": "Apollo"}, "confirm": True}
    execute_via_api(client, token, body)
    fake_clockify.clear_requests()
    open_studio(page, live_server, token)
    page.click("#tab-history")
    page.get_by_role("button", name="Run createNewProject again").click()
    page.wait_for_selector("#confirm-panel:not([hidden])")
    assert fake_clockify.requests() == []
    page.click("#confirm-send")
    page.wait_for_selector("#response:not([hidden])")
    [sent] = fake_clockify.requests(method="POST")
    assert sent.body == {"name": "Apollo"}


def test_history_filters_and_keyboard(page, live_server, client, studio_token, fake_clockify):
    token = studio_token()
    execute_via_api(client, token, {"operationId": "getProjects"})
    execute_via_api(client, token, {"operationId": "getClients"})
    open_studio(page, live_server, token)
    page.focus("#tab-operations")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-history"
    page.wait_for_selector(".history-item")
    assert page.locator(".history-item").count() == 2
    page.fill("#history-search", "clients")
    page.locator("#history-summary", has_text="1 call").wait_for()
    assert "getClients" in page.locator(".history-item").first.text_content()
    page.select_option("#history-status", "4xx")
    page.locator("#history-summary", has_text="No calls match").wait_for()
