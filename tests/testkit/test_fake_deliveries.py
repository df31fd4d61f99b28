"""The fake Clockify as the sandbox runs it: seeded, stateful, delivering each entity write as a
signed webhook to the subscriptions of the manifest and of the API, like Clockify."""

from __future__ import annotations

import json
import time

import pytest
import requests

from addon.testkit.fake_clockify import FakeClockify
from addon.testkit.fake_webhooks import API, MANIFEST, Subscription, WebhookDeliverer
from addon.testkit.seed_workspace import build_workspace

WS = "64b7f1a2c3d4e5f6a7b8c9d0"
HEADERS = {"X-Addon-Token": "any-token"}


@pytest.fixture
def workspace():
    return build_workspace(WS)


@pytest.fixture
def sandbox_fake(signer, workspace, recorder):
    """(fake, deliverer, recorder): every event of the writes below subscribed through the manifest."""
    with FakeClockify(signer=signer, stateful=True) as fake:
        for collection, items in workspace.collections().items():
            fake.seed(WS, collection, items)
        deliverer = WebhookDeliverer(fake)
        deliverer.subscribe_manifest(WS, [
            Subscription(event, f"{recorder.url}/webhooks/{event.lower()}", f"token-{event}", MANIFEST)
            for event in ("NEW_PROJECT", "NEW_TAG", "NEW_CLIENT", "NEW_TASK", "TASK_DELETED", "NEW_TIME_ENTRY",
                          "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED", "TAG_UPDATED", "CLIENT_DELETED")])
        yield fake, deliverer, recorder
        deliverer.close()


def test_the_seeded_workspace_is_realistic(workspace):
    counts = workspace.counts()
    assert counts["users"] >= 5 and counts["clients"] == 3 and counts["projects"] == 20 and counts["tags"] == 10
    assert counts["time-entries"] == 200 and all(len(tasks) >= 1 for tasks in workspace.tasks.values())
    starts = sorted(e["timeInterval"]["start"] for entries in workspace.time_entries.values() for e in entries)
    span = time.mktime(time.strptime(starts[-1], "%Y-%m-%dT%H:%M:%SZ")) - \
        time.mktime(time.strptime(starts[0], "%Y-%m-%dT%H:%M:%SZ"))
    assert 20 * 86400 < span <= 31 * 86400
    assert build_workspace(WS).collections() == workspace.collections()  # the same on every start


def _wait_for(recorder, count: int, timeout: float = 5.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(recorder.requests) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return recorder.requests


def _recorded(deliverer, timeout: float = 5.0) -> list:
    """The deliverer's record, once it has one: it notes a delivery after the answer, which the
    receiving end may have seen a moment earlier."""
    deadline = time.monotonic() + timeout
    while not deliverer.deliveries() and time.monotonic() < deadline:
        time.sleep(0.02)
    return deliverer.deliveries()


def _entry(workspace):
    return workspace.time_entries[workspace.owner["id"]][0]


WRITES = [
    # (method, path below the workspace, body, event delivered, what the entity must carry)
    ("POST", "projects", {"name": "New one"}, "NEW_PROJECT", {"name": "New one"}),
    ("POST", "tags", {"name": "fresh"}, "NEW_TAG", {"name": "fresh"}),
    ("PUT", "tags/{tag}", {"name": "renamed"}, "TAG_UPDATED", {"name": "renamed"}),
    ("POST", "clients", {"name": "Umbrella"}, "NEW_CLIENT", {"name": "Umbrella"}),
    ("DELETE", "clients/{client}", None, "CLIENT_DELETED", {"name": "Acme Corp"}),
    ("POST", "projects/{project}/tasks", {"name": "Deploy"}, "NEW_TASK", {"name": "Deploy"}),
    ("DELETE", "projects/{project}/tasks/{task}", None, "TASK_DELETED", {"name": "Planning"}),
    ("POST", "time-entries", {"start": "2026-01-01T09:00:00Z", "description": "x"}, "NEW_TIME_ENTRY",
     {"description": "x"}),
    ("PUT", "time-entries/{entry}", {"description": "edited", "start": "2026-01-02T09:00:00Z"},
     "TIME_ENTRY_UPDATED", {"description": "edited"}),
    ("DELETE", "time-entries/{entry}", None, "TIME_ENTRY_DELETED", {}),
]


@pytest.mark.parametrize(("method", "path", "body", "event", "carried"), WRITES,
                         ids=[f"{w[0]} {w[1]}" for w in WRITES])
def test_a_write_changes_the_fake_and_comes_back_as_its_signed_webhook(sandbox_fake, workspace, method, path,
                                                                       body, event, carried):
    fake, _deliverer, recorder = sandbox_fake
    project = workspace.projects[0]
    names = {"tag": workspace.tags[0]["id"], "client": workspace.clients[0]["id"], "project": project["id"],
             "task": workspace.tasks[project["id"]][0]["id"], "entry": _entry(workspace)["id"]}
    answer = requests.request(method, f"{fake.api_url}/v1/workspaces/{WS}/{path.format(**names)}", json=body,
                              headers=HEADERS, timeout=5)
    assert answer.status_code in (200, 201, 204), answer.text
    [delivery] = _wait_for(recorder, 1)
    assert delivery["path"] == f"/webhooks/{event.lower()}"
    assert delivery["headers"]["Clockify-Signature"] == f"token-{event}"
    assert delivery["headers"]["Clockify-Webhook-Event-Type"] == event
    entity = json.loads(delivery["body"])
    assert entity["workspaceId"] == WS and entity["id"]
    assert carried.items() <= entity.items()
    listing_path = {"TIME_ENTRY_UPDATED": f"user/{workspace.owner['id']}/time-entries",
                    "TIME_ENTRY_DELETED": f"user/{workspace.owner['id']}/time-entries",
                    "NEW_TIME_ENTRY": f"user/{workspace.owner['id']}/time-entries",
                    "NEW_TASK": f"projects/{project['id']}/tasks", "TASK_DELETED": f"projects/{project['id']}/tasks",
                    }.get(event, path.split("/")[0])
    held = {item["id"]: item for item in fake.entities(WS, listing_path)}
    if method == "DELETE":
        assert entity["id"] not in held
    else:
        assert carried.items() <= held[entity["id"]].items()


def test_an_event_nobody_subscribes_to_is_not_delivered(sandbox_fake, workspace):
    fake, _deliverer, recorder = sandbox_fake
    project = workspace.projects[1]
    answer = requests.put(f"{fake.api_url}/v1/workspaces/{WS}/projects/{project['id']}", json={"name": "Renamed"},
                          headers=HEADERS, timeout=5)
    assert answer.status_code == 200 and answer.json()["name"] == "Renamed"
    time.sleep(0.3)
    assert recorder.requests == []  # PROJECT_UPDATED is not subscribed


def test_a_webhook_registered_through_the_api_is_delivered_with_its_token(sandbox_fake, workspace):
    fake, deliverer, recorder = sandbox_fake
    registered = requests.post(f"{fake.api_url}/v1/workspaces/{WS}/webhooks", headers=HEADERS, timeout=5, json={
        "name": "p", "url": f"{recorder.url}/webhooks/project", "webhookEvent": "PROJECT_DELETED",
        "triggerSourceType": "WORKSPACE_ID", "triggerSource": [WS]}).json()
    assert "PROJECT_DELETED" in deliverer.subscribed_events(WS)
    requests.delete(f"{fake.api_url}/v1/workspaces/{WS}/projects/{workspace.projects[2]['id']}", headers=HEADERS,
                    timeout=5)
    [delivery] = _wait_for(recorder, 1)
    assert delivery["headers"]["Clockify-Signature"] == registered["authToken"]
    [recorded] = _recorded(deliverer)
    assert recorded.source == API and recorded.status == 200


def test_an_unknown_id_is_echoed_and_delivers_nothing(sandbox_fake):
    fake, _deliverer, recorder = sandbox_fake
    answer = requests.delete(f"{fake.api_url}/v1/workspaces/{WS}/tags/nope", headers=HEADERS, timeout=5)
    assert answer.json()["fake"] is True
    time.sleep(0.2)
    assert recorder.requests == []
