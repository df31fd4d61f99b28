"""API Studio in a real browser: Debian's Chromium driven by Playwright against the real app
served over HTTP (werkzeug in a thread) and the fake Clockify."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
WORKSPACE, ADDON_ID = "ws-studio-1", "addon-studio-1"


def open_studio(page, live_server, token):
    page.goto(f"{live_server}/ui?auth_token={token}")
    page.wait_for_selector(".op-button", state="attached")


def wait_for_response(page):
    """Wait until the call is answered; a refusal shown in the form fails with its message."""
    page.wait_for_selector("#response:not([hidden]), #form-errors:not([hidden])")
    assert page.is_hidden("#form-errors"), page.text_content("#form-errors")


def show_optional(page):
    """Unfold the collapsed optional fields, as a user would."""
    for summary in page.locator("details.optional:not([open]) > summary").all():
        summary.click()


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
    assert page.is_hidden("[data-key='query:page']")
    show_optional(page)
    page.locator("[data-key='query:page']").fill("abc")
    page.click("details.optional > summary")  # folded again: the error must unfold it
    page.click("#execute")
    field = page.locator(".field", has=page.locator("[data-key='query:page']"))
    error = field.locator(".field-error")
    error.wait_for(state="visible")
    assert error.text_content() == "Must be an integer."
    assert field.locator("input").get_attribute("aria-invalid") == "true"
    assert page.is_visible("#form-errors") and page.is_hidden("#response")
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "studio-validation.png"))


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


def test_search_fill_execute_and_see_the_response(page, live_server, fake_token, fake_clockify):
    fake_clockify.seed(WORKSPACE, "projects", [{"id": "p1", "name": "Apollo"}])
    open_studio(page, live_server, fake_token)
    page.fill("#search", "get all projects")
    visible = page.locator(".op-button:visible")
    assert 1 <= visible.count() < 10 and page.is_visible("[data-operation-id=getProjects]")
    # Keyboard: the operation is a button; Enter opens it.
    page.focus("[data-operation-id=getProjects]")
    page.keyboard.press("Enter")
    page.wait_for_selector("#op-form .field")
    assert page.text_content("#op-title") == "Get all projects on a workspace"
    assert page.input_value("[data-key='path:workspaceId']") == WORKSPACE
    show_optional(page)
    page.fill("[data-key='query:name']", "Apollo")
    page.select_option("[data-key='query:archived']", label="false")
    page.click("#execute")
    wait_for_response(page)
    assert page.text_content("#resp-status") == "200"
    assert '"name": "Apollo"' in page.text_content("#resp-body-box pre")
    assert page.text_content("#resp-url").startswith(f"GET {fake_clockify.api_url}/v1/workspaces/{WORKSPACE}/projects")
    [sent] = fake_clockify.requests()
    assert sent.query == {"name": ["Apollo"], "archived": ["false"]}
    assert sent.headers["x-addon-token"] == fake_token
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "studio-response.png"), full_page=True)
    page.locator("#response").screenshot(path=str(OUTPUT / "studio-response-viewer.png"))


def test_write_call_runs_after_confirmation(page, live_server, fake_token, fake_clockify):
    open_studio(page, live_server, fake_token)
    open_operation(page, "add a new project", "createNewProject")
    page.fill("[data-key='body:name']", "Apollo")
    page.click("#execute")
    page.wait_for_selector("#confirm-panel:not([hidden])")
    assert fake_clockify.requests() == []
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "studio-confirm.png"))
    page.click("#confirm-send")
    wait_for_response(page)
    assert page.text_content("#resp-status") == "201"
    [sent] = fake_clockify.requests(method="POST")
    assert sent.body == {"name": "Apollo"}


def test_script_in_a_response_is_rendered_inert(page, live_server, fake_token, fake_clockify):
    hostile = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
    fake_clockify.seed(WORKSPACE, "projects", [{"id": "p1", "name": hostile}])
    open_studio(page, live_server, fake_token)
    open_operation(page, "get all projects", "getProjects")
    page.click("#execute")
    wait_for_response(page)
    assert "<script>window.__pwned = 1</script>" in page.text_content("#resp-body-box pre")
    assert page.locator("#response script, #response img").count() == 0
    page.wait_for_timeout(200)  # give an injected onerror handler the time it would need
    assert page.evaluate("window.__pwned") is None


def test_raw_json_overrides_the_form(page, live_server, fake_token, fake_clockify):
    open_studio(page, live_server, fake_token)
    open_operation(page, "get all projects", "getProjects")
    page.click("#raw-json summary")
    page.check("#use-raw")
    page.fill("#raw-editor", '{"pathParams": {}, "query": {"name": "Gemini", "page": 2}}')
    page.click("#execute")
    wait_for_response(page)
    assert fake_clockify.requests()[0].query == {"name": ["Gemini"], "page": ["2"]}


@pytest.mark.parametrize(("language", "start"), [
    ("curl", "curl -X GET '{url}/v1/workspaces/{ws}/projects?name=O%27Neil"),
    ("python", "import requests"),
    ("javascript", 'const response = await fetch("{url}/v1/workspaces/{ws}/projects?name=O%27Neil'),
])
def test_copy_as_code_uses_an_api_key_placeholder(page, live_server, fake_token, fake_clockify, language, start):
    open_studio(page, live_server, fake_token)
    open_operation(page, "get all projects", "getProjects")
    show_optional(page)
    page.fill("[data-key='query:name']", "O'Neil")
    page.select_option("#copy-language", language)
    page.click("#copy-code")
    page.wait_for_selector("#code-text:not([hidden])")
    code = page.input_value("#code-text")
    assert code.startswith(start.format(url=fake_clockify.api_url, ws=WORKSPACE))
    assert "<your API key>" in code and fake_token not in code
    assert fake_clockify.requests() == []


def test_workspace_data_panel(app, page, live_server, fake_token):
    from datetime import UTC, datetime, timedelta

    from addon.extensions import db
    from addon.models import BootstrapRun, CheckpointState
    from addon.store import bootstrap_runs, workspace_data
    from addon.store.bootstrap_runs import Checkpoint

    with app.app_context():
        workspace_data.upsert(WORKSPACE, "projects", [("p1", {"id": "p1", "name": "<b>Apollo</b>"}),
                                                      ("p2", {"id": "p2", "name": "Gemini"})])
        db.session.commit()
    open_studio(page, live_server, fake_token)
    page.click("#tab-data")
    page.wait_for_selector("#bootstrap-status >> text=No bootstrap has run")
    page.click("text=projects (2)")
    page.wait_for_selector("#data-items table.data tbody tr")
    names = page.locator("#data-items th[data-column=name]").evaluate("th => th.cellIndex")
    cells = [row.locator("td").nth(names).text_content() for row in page.locator("#data-items tbody tr").all()]
    assert cells == ["<b>Apollo</b>", "Gemini"]
    assert page.locator("#data-items b").count() == 0
    page.fill("#data-search", "gem")
    page.locator("#data-items h3", has_text="1 item matching").wait_for()

    page.click("#bootstrap-start")  # the token is an OWNER's
    page.wait_for_selector("#bootstrap-message >> text=Bootstrap started.")
    with app.app_context():
        run = db.session.execute(db.select(BootstrapRun).filter_by(workspace_id=WORKSPACE)).scalar_one()
        run.status, run.operations_total = "running", 10
        for index in range(3):
            bootstrap_runs.save_checkpoint(run.id, WORKSPACE, f"op{index}", "projects",
                                           Checkpoint(2, 40, CheckpointState.DONE))
        db.session.commit()
        run_id = run.id
    page.click("#bootstrap-refresh")
    page.wait_for_selector("#bootstrap-status >> text=3 of 10 operations")
    assert page.get_attribute("#bootstrap-status progress", "value") == "3"
    assert page.locator("#data-freshness li").count() >= 10  # every collection says how it stays fresh
    with app.app_context():
        bootstrap_runs.hand_over(run_id, "bootstrap-next", datetime.now(UTC) + timedelta(hours=1))
        db.session.commit()
    page.click("#bootstrap-refresh")
    page.wait_for_selector("#bootstrap-status >> text=Clockify is throttling this workspace")
    assert page.locator("#bootstrap-status strong").first.text_content() == "waiting"
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "studio-data.png"), full_page=True)


def test_members_do_not_see_the_bootstrap_button(page, live_server, signer, installation):
    open_studio(page, live_server, signer.user_token(WORKSPACE, ADDON_ID, role="TEAM_MANAGER"))
    page.click("#tab-data")
    page.wait_for_selector("#bootstrap-status p")
    assert page.is_hidden("#bootstrap-start")


def test_large_bodies_are_collapsed(page, live_server, fake_token, fake_clockify):
    fake_clockify.seed(WORKSPACE, "projects", [{"id": f"p{i}", "name": "x" * 200} for i in range(200)])
    open_studio(page, live_server, fake_token)
    open_operation(page, "get all projects", "getProjects")
    show_optional(page)
    page.fill("[data-key='query:page-size']", "200")
    page.click("#execute")
    wait_for_response(page)
    details = page.locator("#resp-body-box details")
    assert details.count() == 1 and details.get_attribute("open") is None
    assert "KB" in details.locator("summary").text_content()
    details.locator("summary").click()
    # (wait_for_function would need eval, which the page's CSP rightly refuses)
    details.locator("pre", has_text='"id"').wait_for()
    assert details.locator("pre").text_content().count('"id"') == 200
