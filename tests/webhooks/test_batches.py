"""Fresh deliveries are processed in batches: one queued job per workspace, claims that never
overlap, a failing event retried on its own, and a long backlog handed over after its slice."""

import threading
import time

import pytest
from rq.registry import FinishedJobRegistry, ScheduledJobRegistry

from addon.extensions import db
from addon.jobs import schedule, webhook_processing
from addon.queueing import get_queue
from addon.store import webhook_events
from addon.testkit.stored_rows import workspace_entities
from addon.testkit.webhooks import entity_payload
from addon.webhook_handlers import registry


@pytest.fixture
def seen(request):
    """Ids of the events the handlers ran for, in order (every event type)."""
    calls = []

    def record(event):
        calls.append(event.id)

    registry.on("*")(record)
    request.addfinalizer(lambda: registry.remove(record))
    return calls


def _shared_count(rq_connection, name: str) -> float:
    return float(rq_connection.hget(f"addon:metrics:{name}", "b|+Inf|[]") or 0)


def test_a_burst_is_one_job_that_runs_every_event_in_order(app, workspace, deliver, queued_jobs, run_jobs,
                                                         stored_events, seen, rq_connection):
    ws = workspace.workspace_id
    for number in range(5):
        assert deliver(workspace, "NEW_PROJECT", entity_payload(ws, f"p{number}", name="v1")).status_code == 200
    assert deliver(workspace, "PROJECT_UPDATED", entity_payload(ws, "p0", name="v2")).status_code == 200
    assert queued_jobs() == [("process_received_events", (ws,))]

    run_jobs()
    rows = stored_events()
    assert len(FinishedJobRegistry(queue=get_queue("high", rq_connection)).get_job_ids()) == 1
    assert seen == [row.id for row in rows]
    assert [(row.status, row.attempts) for row in rows] == [("processed", 1)] * 6
    assert _shared_count(rq_connection, "addon_webhook_queue_lag_seconds") == 6
    with app.app_context():
        names = {e.entity_id: e.data["name"] for e in workspace_entities(ws, "projects")}
    assert names == {"p0": "v2", "p1": "v1", "p2": "v1", "p3": "v1", "p4": "v1"}


def test_a_delivery_after_the_job_started_enqueues_the_next_one(workspace, deliver, queued_jobs, run_jobs,
                                                               stored_events):
    ws = workspace.workspace_id
    deliver(workspace, "NEW_TAG", entity_payload(ws, "t1"))
    run_jobs()
    assert queued_jobs() == []
    deliver(workspace, "NEW_TAG", entity_payload(ws, "t2"))
    deliver(workspace, "NEW_TAG", entity_payload(ws, "t3"))
    assert queued_jobs() == [("process_received_events", (ws,))]
    run_jobs()
    assert [row.status for row in stored_events()] == ["processed"] * 3


def test_each_workspace_gets_its_own_job(install, deliver, queued_jobs):
    alpha, beta = install("ws-a", "addon-a"), install("ws-b", "addon-b")
    deliver(alpha, "NEW_CLIENT", entity_payload("ws-a", "c1"))
    deliver(beta, "NEW_CLIENT", entity_payload("ws-b", "c1"))
    deliver(alpha, "NEW_CLIENT", entity_payload("ws-a", "c2"))
    assert queued_jobs() == [("process_received_events", ("ws-a",)), ("process_received_events", ("ws-b",))]


def test_a_failing_event_is_retried_alone_while_its_batch_completes(workspace, deliver, run_jobs, release_retries,
                                                                  stored_events, rq_connection):
    ws = workspace.workspace_id
    failures = []

    def fussy(event):
        if event.payload["id"] == "bad" and len(failures) < 2:
            failures.append(event.attempt)
            raise RuntimeError("not yet")

    registry.on("NEW_TASK")(fussy)
    try:
        for entity in ("a", "bad", "c"):
            deliver(workspace, "NEW_TASK", entity_payload(ws, entity))
        run_jobs()
        first, bad, third = stored_events()
        assert (first.status, third.status) == ("processed", "processed")
        assert (bad.status, bad.attempts) == ("retrying", 1) and "not yet" in bad.last_error
        scheduled = ScheduledJobRegistry(queue=get_queue("high", rq_connection)).get_job_ids()
        assert scheduled == [schedule.event_job_id(bad.id)]

        while release_retries():
            run_jobs()
    finally:
        registry.remove(fussy)
    assert failures == [1, 2]
    assert [(row.status, row.attempts) for row in stored_events()] == [
        ("processed", 1), ("processed", 3), ("processed", 1)]


def test_a_long_backlog_hands_over_after_its_slice(app, workspace, deliver, queued_jobs, run_jobs, stored_events,
                                                   rq_connection, monkeypatch):
    monkeypatch.setattr(webhook_processing, "BATCH_SIZE", 2)
    monkeypatch.setattr(webhook_processing, "SLICE_SECONDS", 0)
    ws = workspace.workspace_id
    for number in range(5):
        deliver(workspace, "NEW_CLIENT", entity_payload(ws, f"c{number}"))
    get_queue("high", rq_connection).empty()  # this test runs the job itself

    with app.app_context():
        assert webhook_processing.process_received_events(ws) == {"processed": 2}
    assert [row.status for row in stored_events()] == ["processed"] * 2 + ["received"] * 3
    assert queued_jobs() == [("process_received_events", (ws,))]
    run_jobs()
    assert [row.status for row in stored_events()] == ["processed"] * 5


def test_a_claim_rolled_back_leaves_the_events_received(app, workspace, deliver, stored_events):
    """A worker that dies mid-batch never committed its claim: the events are simply due again."""
    for entity in ("x", "y"):
        deliver(workspace, "NEW_TAG", entity_payload(workspace.workspace_id, entity))
    with app.app_context():
        claimed = webhook_events.claim_received(workspace.workspace_id, 10)
        assert [(e.status, e.attempts) for e in claimed] == [("processing", 1)] * 2
        db.session.rollback()
    assert [(row.status, row.attempts) for row in stored_events()] == [("received", 0)] * 2


def test_concurrent_claims_never_share_an_event(app, workspace, deliver, stored_events, base_overrides):
    if base_overrides["DATABASE_URL"].startswith("sqlite"):
        pytest.skip(reason="SQLite has a single writer: a second claimer waits for the first to commit")
    ws = workspace.workspace_id
    for number in range(4):
        deliver(workspace, "NEW_TAG", entity_payload(ws, f"t{number}"))
    held_ids = []
    other: dict = {}

    def claim_in_another_worker(target):
        with app.app_context():
            target["rest"] = [e.id for e in webhook_events.claim_received(ws, 10)]
            db.session.commit()
            target["single"] = webhook_events.claim(ws, held_ids[0])  # waits for the first claimer
            db.session.rollback()

    with app.app_context():
        held = webhook_events.claim_received(ws, 2)
        held_ids.extend(e.id for e in held)
        thread = threading.Thread(target=claim_in_another_worker, args=(other,))
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive(), "the single-event claim should wait for the held row"
        webhook_events.record_outcomes([webhook_events.Outcome(e.id, webhook_events.EventStatus.PROCESSED)
                                        for e in held])
        db.session.commit()
    thread.join(timeout=10)

    all_ids = [row.id for row in stored_events()]
    assert held_ids == all_ids[:2] and other["rest"] == all_ids[2:]
    assert other["single"] is None  # finished meanwhile: not run twice
    assert [row.attempts for row in stored_events()] == [1, 1, 1, 1]


def test_a_lingering_job_takes_the_events_that_arrive_meanwhile(base_overrides, workspace, deliver, queued_jobs,
                                                                stored_events, rq_connection):
    from addon import create_app

    lingering = create_app({**base_overrides, "WEBHOOK_BATCH_LINGER_MS": "1500"})
    ws = workspace.workspace_id
    deliver(workspace, "NEW_TAG", entity_payload(ws, "first"))
    get_queue("high", rq_connection).empty()  # the job below plays the queued one
    result = {}

    def run_job():
        with lingering.app_context():
            result["totals"] = webhook_processing.process_received_events(ws)
            db.session.remove()
            db.engine.dispose()

    thread = threading.Thread(target=run_job)
    thread.start()
    deadline = time.monotonic() + 10
    while stored_events()[0].status != "processed" and time.monotonic() < deadline:
        time.sleep(0.05)
    deliver(workspace, "NEW_TAG", entity_payload(ws, "second"))
    assert queued_jobs() == []  # the running job still holds the flag: no job per event
    thread.join(timeout=10)

    assert not thread.is_alive() and result["totals"] == {"processed": 2}
    assert [row.status for row in stored_events()] == ["processed"] * 2
    assert rq_connection.exists(schedule.received_job_flag(ws)) == 0  # the next delivery enqueues again


def _cached_ids(app, workspace_id: str, source: str) -> set[str]:
    with app.app_context():
        ids = {e.entity_id for e in workspace_entities(workspace_id, source)}
        db.session.remove()
    return ids


def test_a_raising_handler_undoes_its_own_writes_only_and_the_batch_completes(app, workspace, deliver, run_jobs,
                                                                              stored_events):
    """Each handler runs in its own savepoint: a raising one loses its writes, nothing else does."""
    from addon.store import workspace_data

    ws = workspace.workspace_id

    def note_then_maybe_fail(event):
        workspace_data.upsert(event.workspace_id, "notes", [(event.payload["id"], {"seen": True})])
        if event.payload["id"] == "p-bad":
            raise ValueError("after a write")

    registry.on("NEW_PROJECT")(note_then_maybe_fail)
    try:
        for entity in ("p-1", "p-bad", "p-3"):
            deliver(workspace, "NEW_PROJECT", entity_payload(ws, entity))
        run_jobs()
    finally:
        registry.remove(note_then_maybe_fail)
    assert [row.status for row in stored_events()] == ["processed", "retrying", "processed"]
    assert _cached_ids(app, ws, "notes") == {"p-1", "p-3"}
    assert _cached_ids(app, ws, "projects") == {"p-1", "p-bad", "p-3"}  # the built-in handler kept its writes

