"""``make dev`` end to end: the sandbox started as the Makefile starts it, in a subprocess on a
free port, with no Redis and no database configured. Within 60 s of the start the bootstrap has
completed against the fake Clockify, a project created through API Studio's own endpoints has come
back as a NEW_PROJECT webhook and been processed, and the index page lists it."""

from __future__ import annotations

import re
import time
import uuid
from html import unescape

import pytest
import requests

from addon.testkit.processes import ROOT
from addon.testkit.sandbox import WORKSPACE_ID

START_BUDGET_SECONDS = 60  # the same budget as the make_dev fixture

SANDBOX_COMMAND = "$(PY) -m addon.testkit.sandbox --port $(PORT)"


def test_make_dev_runs_the_sandbox_module():
    recipe = ROOT.joinpath("Makefile").read_text().split("\ndev:", 1)[1].split("\ntest:", 1)[0]
    assert SANDBOX_COMMAND in recipe and "ADDON_ENV = development" in recipe


def _until(deadline: float, what: str, probe):
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {START_BUDGET_SECONDS} s of the start: {what}")
        time.sleep(0.2)


def _owner_token(page: str) -> str:
    link = re.search(r'href="[^"]*/ui\?auth_token=([^"]+)"[^>]*data-role="OWNER"', page, re.S)
    assert link, "no 'Open API Studio as owner' link on the index page"
    return unescape(link.group(1))


@pytest.mark.slow
def test_bootstrap_then_a_studio_write_comes_back_as_a_processed_webhook(make_dev):
    url, log, started = make_dev
    deadline = started + START_BUDGET_SECONDS

    page = _until(deadline, "bootstrap completed on the index page", lambda: (
        text if 'data-status="completed"' in (text := requests.get(url + "/", timeout=5).text) else None))
    assert "projects&nbsp;20" in page and "time-entries&nbsp;200" in page and "users&nbsp;6" in page

    name = f"Round trip {uuid.uuid4().hex[:6]}"
    answer = requests.post(url + "/ui/api-explorer/execute", timeout=10,
                           headers={"Authorization": f"Bearer {_owner_token(page)}"},
                           json={"operationId": "createNewProject", "pathParams": {"workspaceId": WORKSPACE_ID},
                                 "body": {"name": name}, "confirm": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == 201 and answer.json()["body"]["name"] == name
    created_at = time.monotonic()

    def processed():
        items = requests.get(url + "/webhooks", params={"event": "NEW_PROJECT"}, timeout=5).json()["items"]
        return [e for e in items if name in str(e["payload"]) and e["status"] == "processed"]

    [event] = _until(deadline, "NEW_PROJECT webhook processed", processed)
    assert time.monotonic() - created_at < 5
    assert event["workspace_id"] == WORKSPACE_ID

    page = requests.get(url + "/", timeout=5).text
    row = re.search(r'<tr class="event" data-event="NEW_PROJECT" data-status="processed">.*?</tr>', page, re.S)
    assert row and name in row.group(0)
    assert "projects&nbsp;21" in page  # the cached workspace data gained the project
    assert time.monotonic() - started < START_BUDGET_SECONDS
    text = log.read_text()
    assert "sandbox ready" in text and "api.clockify.me" not in text
    assert "POST /webhooks/project 200" in text and "eyJ" not in text  # request lines, never a token
    assert not any(line.lstrip().startswith("{") for line in text.splitlines())  # development logs are text
