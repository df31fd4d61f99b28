"""API Studio's Events tab: the webhook inbox of the token's workspace, for owners and admins
only; payloads without secrets; Retry re-enqueues a failed event the way ``flask webhooks
replay`` does, and a real RQ worker then runs it."""

from __future__ import annotations

import hashlib
import json

import pytest
import redis

from addon.clockify.deliveries import DedupeKey
from addon.extensions import db
from addon.models import WebhookEvent
from addon.queueing import PRIORITY_ORDER, get_queue
from addon.store import webhook_events
from addon.webhook_handlers import registry
from addon.workers import AppSimpleWorker

WORKSPACE, OTHER_WORKSPACE = "ws-studio-1", "ws-other-9"
SECRET_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA"



def _dedupe(name: str, body: str) -> DedupeKey:
    """A dedupe key of its own for each stored event (a delivery id names it)."""
    return DedupeKey("delivery:" + hashlib.sha256(name.encode()).hexdigest(), hashlib.sha256(body.encode()).hexdigest(),
                     False)

def _store(app, workspace_id, event_type="NEW_PROJECT", status="received", last_error=None, payload=None, key=None):
    with app.app_context():
        body = json.dumps(payload if payload is not None else {"id": "p1", "workspaceId": workspace_id})
        stored = webhook_events.record(workspace_id, event_type=event_type, route="project", known_event=True,
                               dedupe=_dedupe(key or f"{event_type}-{status}-{body}", body), window_seconds=3600,
                               payload=body, headers={"clockify-signature": SECRET_JWT})
        db.session.execute(db.update(WebhookEvent).where(WebhookEvent.id == stored.id)
                           .values(status=status, last_error=last_error, attempts=3 if status == "failed" else 1))
        db.session.commit()
        return stored.id


@pytest.fixture
def inbox(app, installation):
    return {
        "processed": _store(app, WORKSPACE, "NEW_PROJECT", "processed"),
        "failed": _store(app, WORKSPACE, "NEW_CLIENT", "failed", last_error=f"boom with token {SECRET_JWT}",
                         payload={"id": "c1", "authToken": "plain-secret", "name": "Acme"}),
        "elsewhere": _store(app, OTHER_WORKSPACE, "NEW_PROJECT", "failed"),
    }


def _headers(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("role", ["TEAM_MANAGER", "PROJECT_MANAGER", "USER"])
@pytest.mark.parametrize(("method", "path"), [("GET", "/ui/events"), ("GET", "/ui/events/{failed}"),
                                              ("POST", "/ui/events/{failed}/retry")])
def test_regular_users_are_refused(client, user_token, inbox, role, method, path):
    response = client.open(path.format(**inbox), method=method, headers=_headers(user_token(role=role)))
    assert response.status_code == 403
    assert response.get_json()["error"] == "admin_required"


@pytest.mark.parametrize(("method", "path"), [("GET", "/ui/events"), ("GET", "/ui/events/1"),
                                              ("POST", "/ui/events/1/retry")])
def test_a_token_is_required(client, installation, method, path):
    assert client.open(path, method=method).status_code == 401


@pytest.mark.parametrize("role", ["OWNER", "ADMIN"])
def test_admins_list_their_workspaces_events_newest_first(client, user_token, inbox, role):
    response = client.get("/ui/events", headers=_headers(user_token(role=role)))
    assert response.status_code == 200
    data = response.get_json()
    assert [item["id"] for item in data["items"]] == [inbox["failed"], inbox["processed"]]
    assert data["total"] == 2 and data["eventTypes"] == ["NEW_CLIENT", "NEW_PROJECT"]
    failed = data["items"][0]
    assert (failed["eventType"], failed["status"], failed["attempts"]) == ("NEW_CLIENT", "failed", 3)
    assert failed["lastError"].startswith("boom with token")
    text = response.get_data(as_text=True)
    assert SECRET_JWT not in text and "clockify-signature" not in text.lower()


@pytest.mark.parametrize(("params", "expected"), [
    ({"status": "failed"}, ["failed"]), ({"status": "processed"}, ["processed"]), ({"status": "received"}, []),
    ({"eventType": "NEW_PROJECT"}, ["processed"]), ({"eventType": "NEW_CLIENT", "status": "processed"}, []),
    ({"page": "2", "pageSize": "1"}, ["processed"]),
])
def test_filters_and_paging(client, user_token, inbox, params, expected):
    data = client.get("/ui/events", query_string=params, headers=_headers(user_token())).get_json()
    assert [item["id"] for item in data["items"]] == [inbox[name] for name in expected]


@pytest.mark.parametrize("params", [{"status": "duplicate"}, {"status": "FAILED"}, {"page": "0"},
                                    {"pageSize": "101"}, {"eventType": "x" * 65}])
def test_bad_filters_are_named(client, user_token, inbox, params):
    response = client.get("/ui/events", query_string=params, headers=_headers(user_token()))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == next(iter(params))


def test_the_payload_is_shown_without_secrets(client, user_token, inbox):
    response = client.get(f"/ui/events/{inbox['failed']}", headers=_headers(user_token()))
    assert response.status_code == 200
    data = response.get_json()
    assert data["payload"]["name"] == "Acme" and data["payload"]["authToken"] == "[REDACTED]"
    text = response.get_data(as_text=True)
    assert "plain-secret" not in text and SECRET_JWT not in text


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("POST", "/retry")])
def test_another_workspaces_event_is_not_found(client, user_token, inbox, method, suffix):
    response = client.open(f"/ui/events/{inbox['elsewhere']}{suffix}", method=method, headers=_headers(user_token()))
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_event"


@pytest.mark.parametrize("method, suffix", [("GET", ""), ("POST", "/retry")])
@pytest.mark.parametrize("event_id", ["0", str(2**63), "28516515437449063065190400", "-1", "1e3", "٣"])
def test_ids_no_event_can_have_are_not_found(client, user_token, inbox, method, suffix, event_id):
    """Found by fuzzing: an id past 64 bits overflowed the database query (500)."""
    response = client.open(f"/ui/events/{event_id}{suffix}", method=method, headers=_headers(user_token()))
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.is_json


def test_only_failed_events_are_retried(client, user_token, inbox):
    response = client.post(f"/ui/events/{inbox['processed']}/retry", headers=_headers(user_token()))
    assert response.status_code == 409
    assert response.get_json()["error"] == "not_failed"


def test_retry_reenqueues_and_a_worker_processes_it(app, client, user_token, inbox, base_overrides, request):
    ran = []

    def record(event):
        ran.append((event.workspace_id, event.event_type))
    registry.on("NEW_CLIENT")(record)
    request.addfinalizer(lambda: registry.remove(record))
    response = client.post(f"/ui/events/{inbox['failed']}/retry", headers=_headers(user_token()))
    assert response.status_code == 202
    data = response.get_json()
    assert data["enqueued"] is True and data["event"]["status"] == "received"

    # Asked again while its job waits: nothing more is enqueued, the event is no longer failed.
    assert client.post(f"/ui/events/{inbox['failed']}/retry", headers=_headers(user_token())).status_code == 409

    connection = redis.Redis.from_url(base_overrides["REDIS_URL"])
    worker = AppSimpleWorker([get_queue(name, connection) for name in PRIORITY_ORDER], connection=connection, app=app)
    worker.work(burst=True, logging_level="WARNING")
    assert ran == [(WORKSPACE, "NEW_CLIENT")]
    with app.app_context():
        row = db.session.get(WebhookEvent, inbox["failed"])
        assert row.status == "processed" and row.attempts == 4
        assert db.session.get(WebhookEvent, inbox["elsewhere"]).status == "failed"
