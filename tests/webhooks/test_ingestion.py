"""POST /webhooks/<category>: routing of every event, the inbox row, dedupe, and the answers."""

import io
import json
import logging

import pytest
from prometheus_client import REGISTRY

from addon.clockify.event_types import ALL_EVENTS, CATEGORIES, category_of
from addon.jobs import schedule
from addon.testkit.webhooks import entity_payload


def _other_category(event: str) -> str:
    own = category_of(event)
    return next(c for c in CATEGORIES if c != own)


def _deliveries(event: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("addon_webhook_deliveries_total", {"event": event, "outcome": outcome}) or 0.0


def test_contract_has_51_events():
    assert len(ALL_EVENTS) == 51 == len(set(ALL_EVENTS))


@pytest.mark.parametrize("event", ALL_EVENTS)
def test_every_event_is_accepted_on_its_route_and_refused_on_another(event, workspace, deliver, stored_events,
                                                                   queued_jobs):
    payload = entity_payload(workspace.workspace_id, name=event)
    wrong = deliver(workspace, event, payload, category=_other_category(event),
                    token=workspace.tokens[_other_category(event)])
    assert wrong.status_code == 400
    assert wrong.get_json()["error"] == "wrong_category"

    response = deliver(workspace, event, payload)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body == {"status": "accepted", "id": body["id"]}
    [row] = stored_events()
    assert str(row.id) == body["id"]
    assert (row.workspace_id, row.event_type, row.route, row.known_event, row.status) == (
        workspace.workspace_id, event, category_of(event), True, "received")
    assert queued_jobs("high") == [("process_received_events", (workspace.workspace_id,))]


def test_inbox_row_keeps_raw_body_and_headers_without_the_token(workspace, deliver, stored_events):
    raw = b'{"workspaceId": "ws-alpha",  "id": "p1", "name": "Caf\xc3\xa9"}'
    response = deliver(workspace, "NEW_PROJECT", body=raw, headers={"X-Trace": "t-1", "Authorization": "Bearer x"})
    assert response.status_code == 200
    [row] = stored_events()
    assert row.payload == raw.decode("utf-8")
    assert row.headers["X-Trace"] == "t-1"
    assert row.headers["Clockify-Webhook-Event-Type"] == "NEW_PROJECT"
    names = {name.lower() for name in row.headers}
    assert "clockify-signature" not in names and "authorization" not in names
    assert workspace.tokens["project"] not in json.dumps(row.headers)
    assert row.received_at is not None and row.attempts == 0


def test_identical_redelivery_is_a_duplicate_and_enqueues_nothing(workspace, deliver, stored_events, queued_jobs,
                                                                 rq_connection):
    payload = entity_payload(workspace.workspace_id, name="Once")
    first = deliver(workspace, "NEW_PROJECT", payload)
    # As if that job had started: a new event would enqueue another one now.
    rq_connection.delete(schedule.received_job_flag(workspace.workspace_id))
    before = _deliveries("NEW_PROJECT", "duplicate")
    second = deliver(workspace, "NEW_PROJECT", payload)
    assert first.status_code == second.status_code == 200
    assert second.get_json() == {"status": "duplicate", "duplicate": True, "id": first.get_json()["id"]}
    assert len(stored_events()) == 1
    assert queued_jobs("high") == [("process_received_events", (workspace.workspace_id,))]
    assert _deliveries("NEW_PROJECT", "duplicate") == before + 1


def test_create_then_update_of_one_entry_are_two_rows(workspace, deliver, stored_events):
    entry = entity_payload(workspace.workspace_id, "te-1", description="draft")
    created = deliver(workspace, "NEW_TIME_ENTRY", entry)
    updated = deliver(workspace, "TIME_ENTRY_UPDATED", {**entry, "description": "final"})
    assert created.get_json()["status"] == updated.get_json()["status"] == "accepted"
    assert [r.event_type for r in stored_events()] == ["NEW_TIME_ENTRY", "TIME_ENTRY_UPDATED"]


def test_same_body_with_another_event_type_is_a_new_event(workspace, deliver, stored_events):
    entry = entity_payload(workspace.workspace_id, "te-2")
    assert deliver(workspace, "NEW_TIMER_STARTED", entry).get_json()["status"] == "accepted"
    assert deliver(workspace, "TIMER_STOPPED", entry).get_json()["status"] == "accepted"
    assert len(stored_events()) == 2


def test_delivery_id_header_is_the_dedupe_key(workspace, deliver, stored_events):
    first = deliver(workspace, "NEW_TAG", entity_payload(workspace.workspace_id, "t1"),
                    headers={"Clockify-Delivery-Id": "delivery-123"})
    again = deliver(workspace, "NEW_TAG", entity_payload(workspace.workspace_id, "t1", retried=True),
                    headers={"Clockify-Delivery-Id": "delivery-123"})
    assert again.get_json() == {"status": "duplicate", "duplicate": True, "id": first.get_json()["id"]}
    assert stored_events()[0].dedupe_key.startswith("delivery:")


def test_x_request_id_is_not_a_dedupe_key(workspace, deliver, stored_events):
    for name in ("a", "b"):
        response = deliver(workspace, "NEW_TAG", entity_payload(workspace.workspace_id, name),
                           headers={"X-Request-ID": "same-request-id"})
        assert response.get_json()["status"] == "accepted"
    assert len(stored_events()) == 2


def test_unknown_event_is_stored_on_generic_and_logged(workspace, deliver, stored_events, caplog):
    caplog.set_level(logging.WARNING, logger="addon.web.webhooks")
    before = _deliveries("UNKNOWN", "accepted")
    response = deliver(workspace, "BRAND_NEW_EVENT", entity_payload(workspace.workspace_id), category="generic",
                       token=workspace.tokens["generic"])
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"
    [row] = stored_events()
    assert (row.event_type, row.known_event, row.route) == ("BRAND_NEW_EVENT", False, "generic")
    assert any("unknown webhook event BRAND_NEW_EVENT" in r.getMessage() for r in caplog.records)
    assert _deliveries("UNKNOWN", "accepted") == before + 1


@pytest.mark.parametrize("category", [c for c in CATEGORIES if c != "generic"])
def test_unknown_event_is_refused_outside_generic(category, workspace, deliver, stored_events):
    response = deliver(workspace, "BRAND_NEW_EVENT", category=category, token=workspace.tokens[category])
    assert response.status_code == 400 and response.get_json()["error"] == "wrong_category"
    assert stored_events() == []


def test_event_type_falls_back_to_the_body(workspace, deliver, stored_events):
    payload = entity_payload(workspace.workspace_id, eventType="NEW_CLIENT")
    response = deliver(workspace, None, payload, category="project", token=workspace.tokens["project"])
    assert response.status_code == 200
    assert stored_events()[0].event_type == "NEW_CLIENT"


def test_event_type_fallback_still_checks_the_route(workspace, deliver):
    payload = entity_payload(workspace.workspace_id, eventType="NEW_CLIENT")
    response = deliver(workspace, None, payload, category="time", token=workspace.tokens["time"])
    assert response.status_code == 400 and response.get_json()["error"] == "wrong_category"


@pytest.mark.parametrize("header", [None, "", "new_project", "NEW-PROJECT", "X" * 65])
def test_missing_or_malformed_event_type_is_400(header, workspace, deliver, stored_events):
    headers = {} if header is None else {"Clockify-Webhook-Event-Type": header}
    response = deliver(workspace, None, entity_payload(workspace.workspace_id), category="project",
                       token=workspace.tokens["project"], headers=headers)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_event_type"
    assert stored_events() == []


@pytest.mark.parametrize("body", [b"{not json", b"", b'{"a": 1', b"\xff\xfe{}", b'{"a": "\x00"}'])
def test_malformed_json_is_400(body, workspace, deliver, stored_events):
    response = deliver(workspace, "NEW_PROJECT", body=body)
    assert response.status_code == 400
    assert response.get_json()["error"] == "malformed_json"
    assert stored_events() == []


def test_json_that_is_not_an_object_is_accepted_as_is(workspace, deliver, stored_events):
    response = deliver(workspace, "USERS_INVITED_TO_WORKSPACE",
                       [entity_payload(workspace.workspace_id, "u1"), entity_payload(workspace.workspace_id, "u2")])
    assert response.status_code == 200
    assert json.loads(stored_events()[0].payload)[1]["id"] == "u2"


def test_body_over_the_limit_is_413_from_content_length(workspace, deliver, app, stored_events):
    limit = app.config["SETTINGS"].webhook_max_payload_bytes
    big = json.dumps({"workspaceId": workspace.workspace_id, "pad": "x" * limit}).encode()
    response = deliver(workspace, "NEW_PROJECT", body=big)
    assert response.status_code == 413 and response.get_json()["error"] == "payload_too_large"
    assert stored_events() == []


def test_chunked_body_over_the_limit_is_413(workspace, client, app, stored_events):
    limit = app.config["SETTINGS"].webhook_max_payload_bytes
    response = client.post(
        "/webhooks/project", input_stream=io.BytesIO(b"[" + b"1," * limit + b"1]"),
        headers={"Clockify-Webhook-Event-Type": "NEW_PROJECT", "Clockify-Signature": workspace.tokens["project"],
                 "Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 413
    assert stored_events() == []


def test_chunked_body_under_the_limit_is_read(workspace, client, stored_events):
    body = json.dumps(entity_payload(workspace.workspace_id, "chunked")).encode()
    response = client.post(
        "/webhooks/project", input_stream=io.BytesIO(body),
        headers={"Clockify-Webhook-Event-Type": "NEW_PROJECT", "Clockify-Signature": workspace.tokens["project"],
                 "Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 200
    assert stored_events()[0].payload == body.decode()


def test_body_exactly_at_the_limit_is_read(base_overrides, workspace, deliver, stored_events):
    from addon import create_app

    body = json.dumps(entity_payload(workspace.workspace_id, "edge")).encode()
    small = create_app({**base_overrides, "WEBHOOK_MAX_PAYLOAD_BYTES": str(len(body))})
    assert deliver(workspace, "NEW_PROJECT", body=body, app_client=small.test_client()).status_code == 200
    over = create_app({**base_overrides, "WEBHOOK_MAX_PAYLOAD_BYTES": str(len(body) - 1)})
    assert deliver(workspace, "NEW_PROJECT", body=body, app_client=over.test_client()).status_code == 413
    assert len(stored_events()) == 1


def test_get_on_a_webhook_route_is_not_allowed(client):
    assert client.get("/webhooks/time").status_code == 405


def test_unknown_category_is_404(workspace, client):
    response = client.post("/webhooks/projects", json=entity_payload(workspace.workspace_id),
                           headers={"Clockify-Webhook-Event-Type": "NEW_PROJECT",
                                    "Clockify-Signature": workspace.tokens["project"]})
    assert response.status_code == 404


def test_accepted_deliveries_are_counted(workspace, deliver):
    before = _deliveries("NEW_CLIENT", "accepted")
    deliver(workspace, "NEW_CLIENT")
    assert _deliveries("NEW_CLIENT", "accepted") == before + 1
