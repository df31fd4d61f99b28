"""The API Studio tabs of the second step in a real browser (Debian's Chromium through
Playwright), against the real app over HTTP and the fake Clockify: History, Events, code
snippets, the response viewer, all pages and workspace data. Each tab is also shown in the light
theme at 1280 px and the dark theme at 400 px, with a screenshot saved under ``test-output/``."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from addon.clockify.deliveries import DedupeKey

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
WORKSPACE, ADDON_ID = "ws-studio-1", "addon-studio-1"
LAYOUTS = [pytest.param(1280, "DEFAULT", id="light-1280"), pytest.param(400, "DARK", id="dark-400")]


def _dedupe(name: str, body: str) -> DedupeKey:
    """A dedupe key of its own for each stored event (a delivery id names it)."""
    return DedupeKey("delivery:" + hashlib.sha256(name.encode()).hexdigest(), hashlib.sha256(body.encode()).hexdigest(),
                     False)


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
    page.get_by_role("button", name="Run again: getProjects").click()
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
    page.get_by_role("button", name="Run again: createNewProject").click()
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


def _store_event(app, event_type, status, payload, last_error=None):
    from addon.extensions import db
    from addon.models import WebhookEvent
    from addon.store import webhook_events

    with app.app_context():
        body = json.dumps(payload)
        stored = webhook_events.record(WORKSPACE, event_type=event_type, route="project", known_event=True,
                               dedupe=_dedupe(f"{event_type}-{body}", body), window_seconds=3600,
                               payload=body, headers={})
        db.session.execute(db.update(WebhookEvent).where(WebhookEvent.id == stored.id)
                           .values(status=status, last_error=last_error, attempts=3))
        db.session.commit()
        return stored.id


@pytest.mark.parametrize(("width", "theme"), LAYOUTS)
def test_events_tab_lists_shows_payload_and_retries(app, sized_page, live_server, studio_token, width, theme):
    _store_event(app, "NEW_PROJECT", "processed", {"id": "p1", "name": "Apollo"})
    failed = _store_event(app, "NEW_CLIENT", "failed", {"id": "c1", "name": "Acme", "authToken": "plain-secret"},
                          last_error="handler raised KeyError")
    page = sized_page(width)
    open_studio(page, live_server, studio_token(theme=theme))
    page.click("#tab-events")
    page.wait_for_selector("[data-event-id]")
    assert page.locator("[data-event-id]").count() == 2
    row = page.locator(f"[data-event-id='{failed}']")
    assert "NEW_CLIENT" in row.text_content() and "handler raised KeyError" in row.text_content()
    row.get_by_role("button", name=f"Payload of event {failed}").click()
    row.locator(".viewer pre").wait_for()
    assert '"name": "Acme"' in row.locator(".viewer pre").text_content()
    assert "plain-secret" not in page.content()
    screenshot(page, f"studio-events-{'dark' if theme == 'DARK' else 'light'}-{width}.png")

    page.select_option("#events-status", "processed")
    page.locator("#events-summary", has_text="1 event").wait_for()
    page.select_option("#events-status", "")
    page.locator("#events-summary", has_text="2 events").wait_for()
    page.get_by_role("button", name=f"Retry event {failed}").click()
    page.locator("#events-message", has_text="queued again").wait_for()
    assert page.locator(f"[data-event-id='{failed}'] .status").text_content() == "received"


@pytest.mark.parametrize("role", ["TEAM_MANAGER", "USER"])
def test_regular_users_do_not_see_the_events_tab(page, live_server, studio_token, role):
    open_studio(page, live_server, studio_token(role=role))
    assert page.is_hidden("#tab-events")
    page.focus("#tab-operations")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-data"


@pytest.mark.parametrize(("width", "theme"), LAYOUTS)
def test_response_viewer_tree_table_and_downloads_with_5000_items(sized_page, live_server, studio_token,
                                                                   fake_clockify, width, theme):
    fake_clockify.seed(WORKSPACE, "projects", [
        {"id": f"p{i:04d}", "name": f"Project {4999 - i}", "estimate": {"type": "AUTO", "hours": i % 7}}
        for i in range(5000)])
    page = sized_page(width)
    open_studio(page, live_server, studio_token(theme=theme))
    page.fill("#search", "get all projects")
    page.click("[data-operation-id=getProjects]")
    page.wait_for_selector("#op-form .field")
    for summary in page.locator("details.optional:not([open]) > summary").all():
        summary.click()
    page.fill("[data-key='query:page-size']", "5000")
    page.click("#execute")
    page.wait_for_selector("#response:not([hidden]), #form-errors:not([hidden])")
    assert page.is_hidden("#form-errors"), page.text_content("#form-errors")

    started = time.monotonic()
    page.click(".viewer-toolbar [data-view=table]")
    page.wait_for_selector("table.data tbody tr")
    headers = page.locator("table.data th").all_text_contents()
    # The add-on's JSON answer has its keys sorted: the columns come in that order.
    assert headers == ["estimate.hours", "estimate.type", "id", "name"]
    assert "5000 rows, 4 columns" in page.text_content(".viewer-panel")
    page.click("th[data-column=name] button")
    assert page.get_attribute("th[data-column=name]", "aria-sort") == "ascending"
    assert page.locator("table.data tbody tr").first.locator("td").nth(3).text_content() == "Project 0"
    page.click("th[data-column=name] button")
    # Numbers inside text sort as numbers: 4999 after 999.
    assert page.locator("table.data tbody tr").first.locator("td").nth(3).text_content() == "Project 4999"
    assert time.monotonic() - started < 10  # smooth enough: 5,000 rows sorted twice in well under that
    screenshot(page, f"studio-table-{'dark' if theme == 'DARK' else 'light'}-{width}.png")

    with page.expect_download() as download_info:
        page.click("text=Download CSV")
    csv_text = Path(download_info.value.path()).read_text()
    lines = csv_text.splitlines()
    assert lines[0] == "estimate.hours,estimate.type,id,name" and len(lines) == 5001
    assert lines[1] == "0,AUTO,p0000,Project 4999"

    page.click(".viewer-toolbar [data-view=tree]")
    page.wait_for_selector(".tree")
    assert page.locator(".tree > li > details > ul > li").count() == 101  # 100 items and "Show more"
    page.locator(".tree > li > details > ul > li").first.locator("summary").click()
    page.locator(".tree", has_text='"p0000"').wait_for()


def _open_projects(page, live_server, token):
    open_studio(page, live_server, token)
    page.fill("#search", "get all projects")
    page.click("[data-operation-id=getProjects]")
    page.wait_for_selector("#op-form .field")
    for summary in page.locator("details.optional:not([open]) > summary").all():
        summary.click()


@pytest.mark.parametrize(("width", "theme"), LAYOUTS)
def test_fetch_all_pages_merges_them_into_the_viewer(sized_page, live_server, studio_token, fake_clockify,
                                                     width, theme):
    fake_clockify.seed(WORKSPACE, "projects", [{"id": f"p{i:03d}", "name": f"P{i}"} for i in range(250)])
    page = sized_page(width)
    _open_projects(page, live_server, studio_token(theme=theme))
    page.fill("[data-key='query:page-size']", "100")
    page.click("#fetch-all")
    page.locator("#pages-status", has_text="all pages fetched").wait_for()
    assert page.text_content("#pages-status").startswith("3 pages, 250 items")
    page.click(".viewer-toolbar [data-view=table]")
    assert "250 rows" in page.text_content(".viewer-panel")
    assert [r.param("page") for r in fake_clockify.requests()] == ["1", "2", "3"]
    screenshot(page, f"studio-all-pages-{'dark' if theme == 'DARK' else 'light'}-{width}.png")


def test_fetch_all_pages_can_be_cancelled(page, live_server, studio_token, fake_clockify):
    from addon.testkit.fake_clockify import Fault

    fake_clockify.seed(WORKSPACE, "projects", [{"id": f"p{i:04d}"} for i in range(3000)])
    fake_clockify.inject(f"/api/v1/workspaces/{WORKSPACE}/projects", *[Fault.slow(0.3)] * 60)
    _open_projects(page, live_server, studio_token())
    page.fill("[data-key='query:page-size']", "10")
    page.click("#fetch-all")
    page.locator("#pages-status", has_text="2 pages").wait_for()
    page.click("#pages-cancel")
    page.locator("#pages-status", has_text="Cancelled.").wait_for()
    page.wait_for_timeout(1500)  # the server notices at its next write
    count = len(fake_clockify.requests())
    page.wait_for_timeout(1000)
    assert len(fake_clockify.requests()) == count < 10
    assert page.is_enabled("#fetch-all") and page.is_hidden("#pages-cancel")


@pytest.mark.parametrize(("width", "theme"), LAYOUTS)
def test_workspace_data_tab_browses_and_searches_a_collection(app, sized_page, live_server, studio_token,
                                                              width, theme):
    from addon.extensions import db
    from addon.store import workspace_data

    with app.app_context():
        workspace_data.upsert(WORKSPACE, "projects", [
            (f"p{i}", {"id": f"p{i}", "name": f"Project {i}", "client": {"name": "NASA" if i % 2 else "ESA"}})
            for i in range(120)])
        workspace_data.upsert(WORKSPACE, "tags", [("t1", {"id": "t1", "name": "Urgent"})])
        db.session.commit()
    page = sized_page(width)
    open_studio(page, live_server, studio_token(theme=theme))
    page.click("#tab-data")
    page.click("text=projects (120)")
    page.wait_for_selector("#data-items table.data tbody tr")
    assert page.locator("#data-items th").all_text_contents() == ["client.name", "id", "name"]  # sorted JSON keys
    assert "120 items" in page.text_content("#data-items h3") and "page 1 of 3" in page.text_content("#data-items h3")
    page.fill("#data-search", "esa")
    page.locator("#data-items h3", has_text="60 items matching").wait_for()
    page.click("#data-items th[data-column=name] button")
    assert page.get_attribute("#data-items th[data-column=name]", "aria-sort") == "ascending"
    screenshot(page, f"studio-data-{'dark' if theme == 'DARK' else 'light'}-{width}.png")
    page.get_by_role("button", name="Next").click()
    page.locator("#data-items h3", has_text="page 2 of 2").wait_for()


AXE_SOURCE = ROOT / "tests" / "studio" / "assets" / "axe-core" / "axe.min.js"
BLOCKING_IMPACTS = ("serious", "critical")


def axe_violations(page) -> list[dict]:
    """Run axe-core on the page (injected through the DevTools protocol, which the page's CSP does
    not govern) and return its serious and critical violations."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text())
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [{"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
            for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]


@pytest.mark.parametrize(("width", "theme"), LAYOUTS)
def test_no_serious_accessibility_violations_on_any_tab(app, client, sized_page, live_server, studio_token,
                                                        fake_clockify, width, theme):
    from addon.extensions import db
    from addon.store import workspace_data

    token = studio_token(theme=theme)
    fake_clockify.seed(WORKSPACE, "projects", [{"id": f"p{i}", "name": f"P{i}", "client": {"name": "C"}}
                                               for i in range(30)])
    execute_via_api(client, token, {"operationId": "getProjects"})
    _store_event(app, "NEW_CLIENT", "failed", {"id": "c1"}, last_error="boom")
    with app.app_context():
        workspace_data.upsert(WORKSPACE, "projects", [("p1", {"id": "p1", "name": "Apollo"})])
        db.session.commit()
    page = sized_page(width)
    open_studio(page, live_server, token)
    found = {"operation list": axe_violations(page)}

    page.fill("#search", "get all projects")
    page.click("[data-operation-id=getProjects]")
    page.wait_for_selector("#op-form .field")
    page.click("#execute")
    page.wait_for_selector("#response:not([hidden])")
    found["operation and response"] = axe_violations(page)
    page.click(".viewer-toolbar [data-view=table]")
    found["table view"] = axe_violations(page)
    page.click(".viewer-toolbar [data-view=tree]")
    found["tree view"] = axe_violations(page)

    page.click("#tab-history")
    page.wait_for_selector(".history-item")
    found["history"] = axe_violations(page)
    page.click("#tab-events")
    page.wait_for_selector("[data-event-id]")
    found["events"] = axe_violations(page)
    page.click("#tab-data")
    page.click("text=projects (1)")
    page.wait_for_selector("#data-items table.data")
    found["workspace data"] = axe_violations(page)
    blocking = {where: v for where, v in found.items() if v}
    assert not blocking, json.dumps(blocking, indent=1)


def _focused(page) -> str:
    return page.evaluate("(e => e.id || e.dataset.operationId || e.textContent.trim())(document.activeElement)")


def _tab_until(page, target: str, limit: int = 80) -> None:
    """Press Tab until the element with id or text ``target`` has the focus (fail after ``limit``)."""
    for _ in range(limit):
        if _focused(page) == target:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{target!r} never got the focus; last: {_focused(page)!r}")


def test_keyboard_only_from_list_to_confirmed_write_to_history(page, live_server, studio_token, fake_clockify):
    open_studio(page, live_server, studio_token())
    _tab_until(page, "search")
    page.keyboard.type("add a new project")
    page.keyboard.press("Tab")  # the first matching group is open: its first operation
    _tab_until(page, "createNewProject")
    page.keyboard.press("Enter")
    page.wait_for_selector("#op-form .field")
    assert _focused(page) == "op-title"
    page.focus("[data-key='body:name']")  # a labelled input: type into it as a keyboard user would
    page.keyboard.type("Apollo")
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_selector("#confirm-panel:not([hidden])")
    assert _focused(page) == "confirm-send"
    page.keyboard.press("Escape")
    assert page.is_hidden("#confirm-panel") and _focused(page) == "execute"
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm-panel:not([hidden])")
    page.keyboard.press("Enter")  # "Send it" has the focus
    page.wait_for_selector("#response:not([hidden])")
    assert [r.body for r in fake_clockify.requests(method="POST")] == [{"name": "Apollo"}]

    page.focus("#tab-operations")
    page.keyboard.press("End")
    assert _focused(page) == "tab-data"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert _focused(page) == "tab-history"
    page.wait_for_selector(".history-item")
    _tab_until(page, "Open")
    page.keyboard.press("Enter")
    page.wait_for_selector("#op-form .field")
    assert page.input_value("[data-key='body:name']") == "Apollo"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focused element shows it
