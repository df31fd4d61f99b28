"""Dedupe drops redeliveries, never real changes: a delivery is a duplicate only when it repeats
the latest one stored for its entity, the same event type and body; without an entity id, only
when the same body arrived within WEBHOOK_DEDUPE_WINDOW_SECONDS; a delivery id header decides
first. Sequences of event types on one entity: test_dedupe_sequences.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from addon.clockify import deliveries
from addon.extensions import db
from addon.json_bodies import decode_json
from addon.models import LatestDelivery, utcnow
from addon.store import webhook_events
from addon.testkit.webhooks import entity_payload

ENTRY = "te-dedupe"


def _entry(workspace, **fields) -> dict:
    return entity_payload(workspace.workspace_id, ENTRY, **fields)


def _statuses(deliver, workspace, event, payloads) -> list[str]:
    answers = [deliver(workspace, event, payload) for payload in payloads]
    assert [a.status_code for a in answers] == [200] * len(payloads), [a.get_json() for a in answers]
    return [a.get_json()["status"] for a in answers]


def test_a_state_seen_earlier_but_not_latest_is_a_new_event(workspace, deliver, stored_events):
    a, b, c = (_entry(workspace, description=text) for text in ("A", "B", "C"))
    assert _statuses(deliver, workspace, "TIME_ENTRY_UPDATED", [a, b, c, b]) == ["accepted"] * 4
    assert [json.loads(row.payload)["description"] for row in stored_events()] == ["A", "B", "C", "B"]


def test_billable_toggled_four_times_gives_five_events(workspace, deliver, stored_events):
    states = [_entry(workspace, billable=bool(n % 2)) for n in range(5)]  # off, on, off, on, off
    assert _statuses(deliver, workspace, "TIME_ENTRY_UPDATED", states) == ["accepted"] * 5
    assert len(stored_events()) == 5


def test_an_immediate_repeat_is_a_duplicate_answering_the_latest_row(workspace, deliver, stored_events):
    a, b = _entry(workspace, description="A"), _entry(workspace, description="B")
    answers = [deliver(workspace, "TIME_ENTRY_UPDATED", p).get_json() for p in (a, b, b, b)]
    assert [x["status"] for x in answers] == ["accepted", "accepted", "duplicate", "duplicate"]
    assert answers[2]["id"] == answers[3]["id"] == answers[1]["id"]
    assert len(stored_events()) == 2


def test_same_body_under_another_event_type_or_entity_is_new(workspace, deliver, stored_events):
    body = _entry(workspace, description="same")
    assert _statuses(deliver, workspace, "NEW_TIME_ENTRY", [body]) == ["accepted"]
    assert _statuses(deliver, workspace, "TIME_ENTRY_UPDATED", [body]) == ["accepted"]
    other = entity_payload(workspace.workspace_id, "te-other", description="same")
    assert _statuses(deliver, workspace, "TIME_ENTRY_UPDATED", [other, body]) == ["accepted", "duplicate"]


def test_the_latest_state_stays_a_duplicate_however_late_it_comes(app, workspace, deliver, monkeypatch):
    state = _entry(workspace, description="A")
    assert _statuses(deliver, workspace, "TIME_ENTRY_UPDATED", [state]) == ["accepted"]
    later = utcnow() + timedelta(days=30)
    monkeypatch.setattr(webhook_events, "utcnow", lambda: later)
    assert _statuses(deliver, workspace, "TIME_ENTRY_UPDATED", [state]) == ["duplicate"]


@pytest.mark.parametrize(("age_seconds", "status"), [(0, "duplicate"), (3599, "duplicate"), (3601, "accepted")])
def test_a_body_without_entity_id_is_a_duplicate_only_within_the_window(workspace, deliver, monkeypatch,
                                                                       age_seconds, status):
    invited = [{"email": "a@example.com"}, {"email": "b@example.com"}]
    assert _statuses(deliver, workspace, "USERS_INVITED_TO_WORKSPACE", [invited]) == ["accepted"]
    later = utcnow() + timedelta(seconds=age_seconds)
    monkeypatch.setattr(webhook_events, "utcnow", lambda: later)
    assert _statuses(deliver, workspace, "USERS_INVITED_TO_WORKSPACE", [invited]) == [status]


def test_the_window_is_configurable(make_app, workspace, deliver, monkeypatch):
    short = make_app(WEBHOOK_DEDUPE_WINDOW_SECONDS="60").test_client()
    body = {"userId": "u-1", "balance": 3}  # BALANCE_UPDATED names no entity id of its own
    answers = [deliver(workspace, "BALANCE_UPDATED", body, app_client=short)]
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(webhook_events, "utcnow", lambda: later)
    answers.append(deliver(workspace, "BALANCE_UPDATED", body, app_client=short))
    assert [a.get_json()["status"] for a in answers] == ["accepted", "accepted"]


def test_a_delivery_id_decides_first(workspace, deliver, stored_events):
    first = deliver(workspace, "TIME_ENTRY_UPDATED", _entry(workspace, description="A"),
                    headers={"Clockify-Delivery-Id": "d-1"})
    # Another body under the same delivery id is the same delivery; the same body under a new id is new.
    again = deliver(workspace, "TIME_ENTRY_UPDATED", _entry(workspace, description="B"),
                    headers={"Clockify-Delivery-Id": "d-1"})
    fresh = deliver(workspace, "TIME_ENTRY_UPDATED", _entry(workspace, description="A"),
                    headers={"Clockify-Delivery-Id": "d-2"})
    assert [r.get_json()["status"] for r in (first, again, fresh)] == ["accepted", "duplicate", "accepted"]
    assert again.get_json()["id"] == first.get_json()["id"]


def test_concurrent_copies_of_a_re_seen_state_give_one_new_event(app, workspace, deliver, stored_events,
                                                                 record_concurrently):
    a, b = _entry(workspace, description="A"), _entry(workspace, description="B")
    assert _statuses(deliver, workspace, "TIME_ENTRY_UPDATED", [a, b]) == ["accepted", "accepted"]
    raw = json.dumps(a).encode()
    key = deliveries.dedupe_key("TIME_ENTRY_UPDATED", raw, deliveries.parse_body(raw, decode_json))
    results = record_concurrently(workspace.workspace_id, "TIME_ENTRY_UPDATED", raw)
    copies = len(results)

    assert sorted(r.created for r in results) == [False] * (copies - 1) + [True]
    rows = stored_events()
    assert len(rows) == 3
    assert {r.id for r in results} == {rows[-1].id}
    with app.app_context():
        [latest] = db.session.execute(db.select(LatestDelivery)).scalars()
        assert latest.event_id == rows[-1].id and latest.body_digest == key.digest
