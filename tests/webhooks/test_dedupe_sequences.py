"""Dedupe over sequences of event types on one entity: a delivery is a duplicate only when it
repeats the latest one stored for its subject, same event type and same body. A → B → A of event
types (deleted, restored, deleted) is three real changes, whichever kind of entity it is about."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from addon.extensions import db
from addon.models import LatestDelivery, WorkspaceData, utcnow
from addon.store import webhook_events
from addon.testkit.webhooks import entity_payload
from addon.webhook_handlers.workspace_data import KINDS, Kind

ENTITY = "e-1"
NEW, DUPLICATE = "accepted", "duplicate"


def _roles(kind: Kind) -> dict[str, str]:
    """The kind's event of each role. Kinds without a restore event restore by creating again,
    which is the same A → B → A of event types on one entity."""
    updated = next(e for e in kind.upsert_events if e.endswith("_UPDATED"))
    restored = next((e for e in kind.upsert_events if e.endswith("_RESTORED")), kind.upsert_events[0])
    return {"created": kind.upsert_events[0], "updated": updated, "deleted": kind.delete_events[0],
            "restored": restored}


# name: (steps as (role, body state), answers, the entity's cached state at the end: None = absent)
SEQUENCES = {
    "created-deleted-created": ([("created", "a"), ("deleted", "a"), ("created", "a")], [NEW] * 3, "a"),
    "deleted-restored-deleted": ([("created", "a"), ("deleted", "a"), ("restored", "a"), ("deleted", "a")],
                                 [NEW] * 4, None),
    "updated-deleted-updated": ([("updated", "a"), ("deleted", "a"), ("updated", "a")], [NEW] * 3, "a"),
    # A late copy of the creation after an update with the same body: a change back is kept.
    "created-updated-created": ([("created", "a"), ("updated", "a"), ("created", "a")], [NEW] * 3, "a"),
    # Body changed back under one event type: kept before this rule too.
    "updated A-B-A": ([("updated", "a"), ("updated", "b"), ("updated", "a")], [NEW] * 3, "a"),
    "same type and body twice": ([("created", "a"), ("created", "a")], [NEW, DUPLICATE], "a"),
    "deleted twice": ([("created", "a"), ("deleted", "a"), ("deleted", "a")], [NEW, NEW, DUPLICATE], None),
    "same body under two types, then again": ([("created", "a"), ("updated", "a"), ("updated", "a")],
                                              [NEW, NEW, DUPLICATE], "a"),
    "restored twice after a delete": ([("deleted", "a"), ("restored", "a"), ("restored", "a")],
                                      [NEW, NEW, DUPLICATE], "a"),
}
CASES = [pytest.param(kind, *case, id=f"{kind.source}: {name}") for kind in KINDS for name, case in SEQUENCES.items()]


def _cached(app, workspace_id: str) -> dict[str, dict]:
    with app.app_context():
        rows = {f"{r.source}/{r.entity_id}": r.data for r in db.session.execute(
            db.select(WorkspaceData).where(WorkspaceData.workspace_id == workspace_id)).scalars()}
        db.session.remove()
    return rows


@pytest.mark.parametrize(("kind", "steps", "answers", "final"), CASES)
def test_a_sequence_keeps_every_change_and_drops_only_repeats(kind, steps, answers, final, app, workspace, deliver,
                                                             stored_events, run_jobs):
    roles, ws = _roles(kind), workspace.workspace_id
    body = {state: entity_payload(ws, ENTITY, description=state, billable=state == "b") for state in "ab"}
    replies = [deliver(workspace, roles[role], body[state]) for role, state in steps]
    assert [r.status_code for r in replies] == [200] * len(steps)
    assert [r.get_json()["status"] for r in replies] == answers
    for previous, reply in zip(replies, replies[1:], strict=False):
        if reply.get_json()["status"] == DUPLICATE:  # answers the row of the delivery it repeats
            assert reply.get_json()["id"] == previous.get_json()["id"]
    kept = [roles[role] for (role, _), answer in zip(steps, answers, strict=True) if answer == NEW]
    assert [row.event_type for row in stored_events(ws)] == kept

    run_jobs()
    assert _cached(app, ws) == ({} if final is None else {f"{kind.source}/{ENTITY}": body[final]})
    assert {row.status for row in stored_events(ws)} == {"processed"}


def test_delete_restore_delete_keeps_the_second_delete(app, workspace, deliver, stored_events, run_jobs):
    entry = entity_payload(workspace.workspace_id, "te-1", description="lunch", billable=False)
    answers = [deliver(workspace, event, entry).get_json()["status"]
               for event in ("NEW_TIME_ENTRY", "TIME_ENTRY_DELETED", "TIME_ENTRY_RESTORED", "TIME_ENTRY_DELETED")]
    run_jobs()
    assert answers == [NEW] * 4
    assert _cached(app, workspace.workspace_id) == {}
    assert len(stored_events()) == 4


def test_a_body_without_entity_under_alternating_types(app, workspace, deliver, stored_events, monkeypatch):
    """Body subjects: the same rule, within the dedupe window only."""
    invited = [entity_payload(workspace.workspace_id, "u-1"), entity_payload(workspace.workspace_id, "u-2")]
    types = ["USERS_INVITED_TO_WORKSPACE", "LIMITED_USERS_ADDED_TO_WORKSPACE", "USERS_INVITED_TO_WORKSPACE",
             "USERS_INVITED_TO_WORKSPACE"]
    assert [deliver(workspace, t, invited).get_json()["status"] for t in types] == [NEW, NEW, NEW, DUPLICATE]
    later = utcnow() + timedelta(seconds=3601)
    monkeypatch.setattr(webhook_events, "utcnow", lambda: later)
    assert deliver(workspace, types[-1], invited).get_json()["status"] == NEW
    assert len(stored_events()) == 4


def test_one_latest_row_per_subject_holds_the_latest_type(app, workspace, deliver):
    entry = entity_payload(workspace.workspace_id, ENTITY)
    for event in ("NEW_TIME_ENTRY", "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED"):
        deliver(workspace, event, entry)
    with app.app_context():
        [latest] = db.session.execute(db.select(LatestDelivery)).scalars()
        assert latest.event_type == "TIME_ENTRY_DELETED"
        db.session.remove()


def test_concurrent_copies_of_a_second_delete_give_one_new_event(app, workspace, deliver, stored_events, run_jobs,
                                                                  record_concurrently):
    entry = entity_payload(workspace.workspace_id, ENTITY, description="lunch")
    assert [deliver(workspace, event, entry).get_json()["status"]
            for event in ("NEW_TIME_ENTRY", "TIME_ENTRY_DELETED", "TIME_ENTRY_RESTORED")] == [NEW] * 3
    raw = json.dumps(entry).encode()
    results = record_concurrently(workspace.workspace_id, "TIME_ENTRY_DELETED", raw)
    copies = len(results)

    assert sorted(r.created for r in results) == [False] * (copies - 1) + [True]
    rows = stored_events()
    assert [row.event_type for row in rows][-1] == "TIME_ENTRY_DELETED" and len(rows) == 4
    assert {r.id for r in results} == {rows[-1].id}
    assert deliver(workspace, "TIME_ENTRY_DELETED", entry).get_json()["status"] == DUPLICATE
    run_jobs()
    assert _cached(app, workspace.workspace_id) == {}
