"""``GET /`` and its actions: development only; links that open API Studio with fresh tokens,
installations with their bootstrap, webhooks with their status, buttons that make the fake
Clockify deliver a subscribed event."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from addon import auth, create_app
from addon.extensions import db

ROUTES = [("GET", "/"), ("POST", "/dev/webhooks/send"), ("POST", "/dev/replay")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_absent_outside_development(method, path, client):
    response = client.open(path, method=method, json={"event": "NEW_TAG", "workspace": "ws"})
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_absent_in_production(method, path, base_overrides):
    production = create_app({**base_overrides, "ADDON_ENV": "production",
                             "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/unused"})
    response = production.test_client().open(path, method=method, json={"event": "NEW_TAG"})
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"
    with production.app_context():
        db.engine.dispose()


def _links(page: str) -> dict[str, str]:
    found = re.findall(r'href="([^"]*/ui\?auth_token=[^"]+)"[^>]*data-role="(\w+)"', page, re.S)
    return {role: unescape(href) for href, role in found}


def test_page_opens_api_studio_as_owner_and_as_member_with_fresh_tokens(sandboxed):
    dev_app, url, sandbox = sandboxed
    response = requests.get(url + "/", timeout=5)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/html")
    assert response.headers["Cache-Control"] == "no-store"
    links = _links(response.text)
    assert set(links) == {"OWNER", "USER"}
    for role, href in links.items():
        assert href.startswith(url + "/ui?")
        [token] = parse_qs(urlsplit(href).query)["auth_token"]
        with dev_app.app_context():
            claims = dev_app.extensions[auth.EXTENSION_KEY].verify(token, workspace_id=sandbox.workspace_id)
        assert claims.workspace_role == role and claims.backend_url == sandbox.fake.api_url
        assert requests.get(href, timeout=5).status_code == 200  # API Studio opens with it


def test_page_shows_installation_bootstrap_counts_buttons_and_commands(sandboxed):
    _dev_app, url, sandbox = sandboxed
    page = requests.get(url + "/", timeout=5).text
    assert sandbox.workspace_id in page and sandbox.fake.api_url in page
    assert re.search(r'class="bootstrap" data-status="(pending|running|completed|none)"', page)
    assert 'href="/manifest"' in page and 'href="/installations"' in page and 'href="/webhooks"' in page
    assert 'id="counts"' in page
    # The same worker and backlog figures as /ready (this app has Redis and no worker running).
    assert re.search(r'id="jobs".*high: 0 workers, \d+ waiting.*bootstrap: 0 workers', page, re.S)
    buttons = re.findall(r'name="event" value="([A-Z_]+)"', page)
    assert "NEW_PROJECT" in buttons and "BALANCE_UPDATED" not in buttons  # API registration has not run here
    assert f"flask webhooks replay --workspace {sandbox.workspace_id}" in page
    assert "flask clockify simulate ui" in page and "<script" not in page and "https://" not in page


def test_a_button_delivers_the_event_signed_and_the_page_shows_it(sandboxed):
    _dev_app, url, _sandbox = sandboxed
    response = requests.post(url + "/dev/webhooks/send", data={"event": "NEW_TAG"}, allow_redirects=False,
                             timeout=15)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/?sent=NEW_TAG&statuses=200")
    page = requests.get(url + response.headers["Location"], timeout=5).text
    assert "Sent <strong>NEW_TAG</strong>: the add-on answered 200" in page
    assert re.search(r'<tr class="event" data-event="NEW_TAG" data-status="received">', page)
    assert re.search(r"received&nbsp;1", page)


def test_json_send_answers_the_statuses(sandboxed):
    _dev_app, url, sandbox = sandboxed
    response = requests.post(url + "/dev/webhooks/send", timeout=15, json={
        "event": "NEW_CLIENT", "payload": {"id": "c-1", "workspaceId": sandbox.workspace_id, "name": "X"}})
    assert response.status_code == 200 and response.json() == {"event": "NEW_CLIENT", "statuses": [200]}


@pytest.mark.parametrize("body", [{"event": "PROJECT_UPDATED"}, {"event": "NOT_AN_EVENT"}, {"event": ""}, {}])
def test_an_unsubscribed_event_is_refused(sandboxed, body):
    _dev_app, url, _sandbox = sandboxed
    response = requests.post(url + "/dev/webhooks/send", json=body, timeout=5)
    assert response.status_code == 400 and response.json()["error"] == "not_subscribed"


@pytest.mark.parametrize("payload", [[1], "text", 3])
def test_a_payload_that_is_not_an_object_is_refused(sandboxed, payload):
    _dev_app, url, _sandbox = sandboxed
    response = requests.post(url + "/dev/webhooks/send", json={"event": "NEW_TAG", "payload": payload}, timeout=5)
    assert response.status_code == 422


def test_send_without_a_sandbox_says_so(app, base_overrides):
    dev_app = create_app({**base_overrides, "ADDON_ENV": "development"})
    response = dev_app.test_client().post("/dev/webhooks/send", data={"event": "NEW_TAG"})
    assert response.status_code == 404 and response.get_json()["error"] == "no_sandbox"
    assert dev_app.test_client().get("/").status_code == 200  # the page itself works without one


@pytest.mark.parametrize("body", [None, {}, {"workspace": ""}, {"workspace": 3}, {"workspace": "ws", "since": "x"},
                                  {"workspace": "ws", "event": 5}, {"workspace": "ws\x00"}])
def test_replay_refuses_bad_bodies(app, base_overrides, body):
    dev_app = create_app({**base_overrides, "ADDON_ENV": "development"})
    response = dev_app.test_client().post("/dev/replay", json=body)
    assert response.status_code == 422 and response.get_json()["error"] == "validation_failed"
