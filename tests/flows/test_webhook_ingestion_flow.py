"""Webhook ingestion called as a plain function: a delivery stored and queued, a repeat
answered as a duplicate, each refusal raised and counted under the event it was about."""

from __future__ import annotations

import json

import pytest
from prometheus_client import REGISTRY

from addon.clockify.deliveries import EVENT_TYPE_HEADER
from addon.clockify.event_types import route_path
from addon.errors import AddonError, PayloadTooLarge
from addon.extensions import db
from addon.flows import lifecycle
from addon.flows.webhook_ingestion import Ingested, ingest
from addon.models import WebhookEvent
from addon.queueing import HIGH, get_queue
from addon.testkit import clockify_payloads as calls

WS, ADDON = "ws-ingest-1", "addon-ingest-1"
PROJECT = route_path("project")


@pytest.fixture
def token(plain, signer, settings):
    """The project route's webhook token of WS, installed through the lifecycle flow."""
    issued = signer.webhook_token(WS, ADDON)
    payload = calls.installed_payload(signer, WS, ADDON,
                                      webhooks=[{"path": PROJECT, "authToken": issued, "webhookType": "ADDON"}])
    lifecycle.install(json.dumps(payload).encode(), signer.lifecycle_token(WS, ADDON), settings)
    return issued


def _body(payload: dict):
    raw = json.dumps(payload).encode()
    return lambda limit: raw


def _delivered(label: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("addon_webhook_deliveries_total", {"event": label, "outcome": outcome}) or 0.0


def _ingest(token, settings, event="NEW_PROJECT", payload=None, path=PROJECT, read_body=None, **headers):
    headers = {EVENT_TYPE_HEADER: event, **headers} if event else headers
    return ingest("project", read_body or _body(payload or {"id": "p1", "workspaceId": WS, "name": "Apollo"}),
                  token=token, path=path, headers=headers, settings=settings)


def test_a_delivery_is_stored_and_queued_once(token, settings):
    queue = get_queue(HIGH)
    before = _delivered("NEW_PROJECT", "accepted")
    stored = _ingest(token, settings, **{"Clockify-Delivery-Id": "delivery-1"})
    assert stored == Ingested(stored.id, duplicate=False)
    assert stored.answer() == {"status": "accepted", "id": str(stored.id)}
    row = db.session.get(WebhookEvent, stored.id)
    assert (row.workspace_id, row.event_type, row.route, row.status) == (WS, "NEW_PROJECT", "project", "received")
    assert queue.count == 1 and _delivered("NEW_PROJECT", "accepted") == before + 1

    repeat = _ingest(token, settings, **{"Clockify-Delivery-Id": "delivery-1"})
    assert repeat == Ingested(stored.id, duplicate=True)
    assert repeat.answer() == {"status": "duplicate", "duplicate": True, "id": str(stored.id)}
    assert db.session.execute(db.select(db.func.count()).select_from(WebhookEvent)).scalar_one() == 1
    assert queue.count == 1


def _too_large(limit):
    raise PayloadTooLarge(f"The body is larger than {limit} bytes.", limit=limit)


# kwargs of _ingest -> (status, code, the metric's event label, outcome)
REFUSALS = {
    "a body over the limit": ({"read_body": _too_large}, 413, "payload_too_large", "NEW_PROJECT",
                              "rejected_payload_too_large"),
    "the token of another route": ({"path": route_path("time")}, 401, "invalid_token", "NEW_PROJECT",
                                   "rejected_webhook_token"),
    "another workspace in the payload": ({"payload": {"id": "p1", "workspaceId": "ws-someone-else"}}, 403,
                                         "workspace_mismatch", "NEW_PROJECT", "rejected_workspace_mismatch"),
    "an event of another route, named in the body": (
        {"event": None, "payload": {"id": "c1", "workspaceId": WS, "eventType": "NEW_TIMER_STARTED"}}, 400,
        "wrong_category", "NEW_TIMER_STARTED", "rejected_wrong_category"),
    "no event type at all": ({"event": None}, 400, "invalid_event_type", "UNKNOWN", "rejected_invalid_event_type"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_refusals_are_raised_and_counted(case, token, settings):
    arguments, status, code, label, outcome = REFUSALS[case]
    before = _delivered(label, outcome)
    with pytest.raises(AddonError) as refused:
        _ingest(token, settings, **arguments)
    assert (refused.value.status, refused.value.code) == (status, code)
    assert _delivered(label, outcome) == before + 1
    assert db.session.execute(db.select(db.func.count()).select_from(WebhookEvent)).scalar_one() == 0


def test_an_inactive_installation_refuses_with_410(token, signer, settings):
    payload = calls.status_changed_payload(WS, ADDON, "INACTIVE")
    lifecycle.change_status(json.dumps(payload).encode(), signer.lifecycle_token(WS, ADDON), settings)
    with pytest.raises(AddonError) as refused:
        _ingest(token, settings)
    assert (refused.value.status, refused.value.code, refused.value.extra) == (
        410, "installation_inactive", {"status_value": "INACTIVE"})
