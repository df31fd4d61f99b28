"""Processing of stored webhook events: running their handlers and recording the outcomes.

* ``process_received_events`` (RQ job, ``high`` queue): runs the registered handlers of a
  workspace's fresh deliveries in batches; deliveries enqueue it (``schedule.enqueue_process_received_events``).
* ``process_event`` (RQ job, ``high`` queue): one event's retries, and the sweep's and replay's
  way of running an event again (``webhook_requeue``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import DuplicateJobError
from rq.timeouts import BaseTimeoutException
from sqlalchemy.engine import Row

from .. import metrics
from ..clockify.deliveries import event_label
from ..extensions import db
from ..logs import redact
from ..models import as_utc, utcnow
from ..queueing import get_redis
from ..store import installations, webhook_events
from ..webhook_handlers import Event, Skipped, handler_name, registry
from . import schedule

log = logging.getLogger(__name__)

# Events claimed and committed together: large enough to spread a job's and a commit's cost,
# small enough that a batch's row locks and its handlers' work stay short.
BATCH_SIZE = 100
# A job of received events hands over to the queue after this long, so others get a turn.
SLICE_SECONDS = 30
# While lingering for more events, a job looks this often (one indexed query each time); after
# a batch that was not full, it waits this long before the next.
LINGER_POLL_SECONDS = 0.05


class HandlersFailed(Exception):
    """One or more handlers of an event raised; RQ retries the job."""


def process_received_events(workspace_id: str) -> dict:
    """RQ job: run the handlers of ``workspace_id``'s ``received`` events, oldest first, a batch
    at a time (claim, run, record, one commit), until none has come for
    ``WEBHOOK_BATCH_LINGER_MS`` or the slice is over.

    While it runs, the workspace's "job queued" flag stays set, so deliveries enqueue no other
    job: the flag is cleared only right before a last claim, which sees every delivery that
    found it set. Lingering spares a forking worker a new job (a fork) per few events.
    A failed event is handed to its own job (``process_event``) for its retries with backoff.
    :return: how many events ended in each status.
    """
    totals: dict[str, int] = {}
    linger = current_app.config["SETTINGS"].webhook_batch_linger_ms / 1000
    now = time.monotonic()
    deadline, idle_until, last_claim = now + SLICE_SECONDS, now + linger, False
    while True:
        claimed = webhook_events.claim_received(workspace_id, BATCH_SIZE)
        if claimed:
            _run_batch(workspace_id, claimed, totals)
            if time.monotonic() > deadline:
                _set_queued_flag(workspace_id, False)
                schedule.enqueue_process_received_events(workspace_id)  # the rest after the other jobs
                return totals
            idle_until, last_claim = time.monotonic() + linger, False
            _set_queued_flag(workspace_id, True)
            if linger and len(claimed) < BATCH_SIZE:
                time.sleep(LINGER_POLL_SECONDS)  # let the next batch gather: fewer, fuller batches
        elif last_claim:
            return totals
        elif time.monotonic() < idle_until:
            db.session.rollback()
            time.sleep(LINGER_POLL_SECONDS)
        else:
            _set_queued_flag(workspace_id, False)  # from here on, a new delivery enqueues a job
            last_claim = True


def _run_batch(workspace_id: str, claimed: list[Row], totals: dict[str, int]) -> None:
    outcomes = _run_claimed(workspace_id, claimed,
                            final=lambda event: event.attempts > len(schedule.EVENT_RETRY_INTERVALS))
    db.session.commit()
    attempts = {event.id: event.attempts for event in claimed}
    for outcome in outcomes:
        totals[outcome.status.value] = totals.get(outcome.status.value, 0) + 1
        if outcome.status == webhook_events.EventStatus.RETRYING:
            _schedule_retry(outcome.event_id, workspace_id, attempts[outcome.event_id])


def process_event(event_id: int, workspace_id: str) -> str:
    """RQ job: run the handlers of event ``event_id`` of ``workspace_id`` and record the outcome.

    Processed, failed or skipped events are left alone (replay resets them first).
    :return: the event's status afterwards (``missing`` when no such event in that workspace).
    :raise HandlersFailed: a handler raised; the row says ``retrying`` or, on the last
        attempt, ``failed``.
    """
    event = webhook_events.claim(workspace_id, event_id)
    if event is None:
        db.session.rollback()
        current = webhook_events.get(workspace_id, event_id)
        if current is None:
            log.warning("webhook event %s not found in its workspace", event_id)
        return "missing" if current is None else current.status
    job = get_current_job()
    last_attempt = job is None or not job.retries_left
    [outcome] = _run_claimed(workspace_id, [event], final=lambda _event: last_attempt)
    db.session.commit()
    if outcome.status in (webhook_events.EventStatus.RETRYING, webhook_events.EventStatus.FAILED):
        raise HandlersFailed(f"event {event_id}: {outcome.note}")
    return outcome.status.value


def _run_claimed(workspace_id: str, claimed: list[Row], final: Callable[[Row], bool]) -> list[webhook_events.Outcome]:
    """Run the handlers of claimed events and record each one's outcome (the caller commits).

    :param final: whether a handler failure is that event's last attempt (``failed``, not
        ``retrying``).
    """
    # Not "is active": a stored delivery was acknowledged while active (inactive ones are refused),
    # and an inactive installation keeps its data. Uninstalled, its data is being purged.
    if not installations.is_installed(workspace_id):
        outcomes = [webhook_events.Outcome(e.id, webhook_events.EventStatus.SKIPPED, "the add-on was uninstalled")
                    for e in claimed]
        webhook_events.record_outcomes(outcomes)
        return outcomes
    now = utcnow()
    lags: list[tuple[float, dict]] = [((now - as_utc(e.received_at)).total_seconds(), {})
                                      for e in claimed if e.attempts == 1]
    durations, outcomes = [], []
    for event in claimed:
        started = time.monotonic()
        errors, notes = _run_handlers(_handler_event(event))
        durations.append((time.monotonic() - started, {"event": event_label(event.event_type)}))
        if errors:
            status = webhook_events.EventStatus.FAILED if final(event) else webhook_events.EventStatus.RETRYING
            outcomes.append(webhook_events.Outcome(event.id, status, "; ".join(errors)))
        else:
            outcomes.append(webhook_events.Outcome(event.id, webhook_events.EventStatus.PROCESSED,
                                                   "; ".join(notes) or None))
    webhook_events.record_outcomes(outcomes)
    metrics.WEBHOOK_QUEUE_LAG.observe_many((max(0.0, lag), labels) for lag, labels in lags)
    metrics.WEBHOOK_PROCESSING.observe_many(durations)
    return outcomes


def _schedule_retry(event_id: int, workspace_id: str, attempts: int) -> None:
    # Committed as ``retrying`` already: if Redis fails here, the sweep re-enqueues it.
    try:
        schedule.process_webhook_event(event_id, workspace_id, after_attempts=attempts)
    except (DuplicateJobError, RedisError) as error:
        log.warning("retry of webhook event %s not scheduled (%s); the sweep will enqueue it",
                    event_id, type(error).__name__)


def _set_queued_flag(workspace_id: str, held: bool) -> None:
    key = schedule.received_job_flag(workspace_id)
    try:
        if held:  # renewed, so a long run does not outlive it
            get_redis().set(key, "1", ex=schedule.RECEIVED_JOB_FLAG_SECONDS)
        else:
            get_redis().delete(key)
    except RedisError as error:  # the flag expires on its own; deliveries meanwhile wait for it
        log.warning("could not update the queued flag of %s: %s", workspace_id, type(error).__name__)


def _handler_event(event: Row) -> Event:
    try:
        payload = json.loads(event.payload)
    except ValueError:  # stored bodies were parsed at receipt; a hand-edited row must not crash the job
        payload = None
    return Event(id=event.id, workspace_id=event.workspace_id, event_type=event.event_type, payload=payload,
                 known=event.known_event, received_at=as_utc(event.received_at), attempt=event.attempts)


def _run_handlers(event: Event) -> tuple[list[str], list[str]]:
    """Run each handler in its own savepoint. Returns (errors, skip notes)."""
    errors, notes = [], []
    for handler in registry.handlers_for(event.event_type):
        name = handler_name(handler)
        try:
            with db.session.begin_nested():
                handler(event)
        except Skipped as skipped:
            log.info("handler %s skipped event %s: %s", name, event.id, skipped)
            notes.append(f"{name}: skipped: {redact(str(skipped))}")
        except BaseTimeoutException:
            # The job's time is up: record it and let RQ retry; the remaining handlers run then.
            log.error("handler %s timed out on event %s", name, event.id)
            errors.append(f"{name}: timed out")
            break
        except Exception as error:  # a handler's bug must be recorded, not crash the others
            log.exception("handler %s failed on event %s", name, event.id)
            errors.append(f"{name}: {type(error).__name__}: {redact(str(error))}")
    return errors, notes
