"""Processing of stored webhook events, the sweep that re-enqueues forgotten ones, and replay.

* ``process_event`` (RQ job, ``high`` queue): runs the registered handlers of one event.
* ``sweep_events`` (RQ job, ``default`` queue, every ``WEBHOOK_SWEEP_SECONDS``): re-enqueues
  events whose job never ran (Redis was down at receipt, a worker died...), then schedules the
  next sweep. ``keep_sweep_scheduled`` restarts that chain; ``worker.py`` calls it at start and
  at each RQ maintenance run.
* ``replay``: re-enqueue a workspace's stored events (``flask webhooks replay``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.timeouts import BaseTimeoutException

from .. import metrics
from ..clockify.deliveries import event_label
from ..extensions import db
from ..logs import redact
from ..models import WebhookEvent, utcnow
from ..queueing import get_redis
from ..store import events, installations
from ..webhook_handlers import Event, Skipped, handler_name, registry
from . import schedule

log = logging.getLogger(__name__)

# After this many attempts over all enqueues, the sweep stops re-enqueueing an event and marks it failed.
SWEEP_MAX_ATTEMPTS = 10
PENDING_JOB_STATES = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


class HandlersFailed(Exception):
    """One or more handlers of an event raised; RQ retries the job."""


def process_event(event_id: int, workspace_id: str) -> str:
    """Run the handlers of event ``event_id`` of ``workspace_id`` and record the outcome.

    Already processed, failed or skipped events are left alone (replay resets them first).
    :return: the event's status afterwards (``missing`` when no such event in that workspace).
    :raise HandlersFailed: a handler raised; the row says ``retrying`` or, on the last
        attempt, ``failed``.
    """
    event = events.get(workspace_id, event_id)
    if event is None:
        log.warning("webhook event %s not found in its workspace", event_id)
        return "missing"
    if event.status in events.FINAL_STATUSES:
        return event.status
    installation = installations.get(workspace_id)
    if installation is None or not installation.is_active:
        events.mark_skipped(event, "installation is not active")
        db.session.commit()
        return event.status

    label = event_label(event.event_type)
    if not event.attempts:
        metrics.WEBHOOK_QUEUE_LAG.observe(max(0.0, (utcnow() - _aware(event.received_at)).total_seconds()))
    events.mark_processing(event)
    db.session.commit()

    started = time.monotonic()
    errors, notes = _run_handlers(_handler_event(event))
    metrics.WEBHOOK_PROCESSING.observe(time.monotonic() - started, event=label)

    if errors:
        job = get_current_job()
        final = job is None or not job.retries_left
        events.mark_failed(event, "; ".join(errors), final=final)
        db.session.commit()
        raise HandlersFailed(f"event {event_id}: " + "; ".join(errors))
    events.mark_processed(event, "; ".join(notes) or None)
    db.session.commit()
    return event.status


def _handler_event(event: WebhookEvent) -> Event:
    try:
        payload = json.loads(event.payload)
    except ValueError:  # stored bodies were parsed at receipt; a hand-edited row must not crash the job
        payload = None
    return Event(id=event.id, workspace_id=event.workspace_id, event_type=event.event_type, payload=payload,
                 known=event.known_event, received_at=_aware(event.received_at), attempt=event.attempts)


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


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _job_pending(event_id: int) -> bool:
    try:
        job = Job.fetch(schedule.event_job_id(event_id), connection=get_redis())
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in PENDING_JOB_STATES


def requeue(event: WebhookEvent) -> bool:
    """Enqueue ``event`` again unless its job is still pending.

    A finished or failed job of the same id is deleted first (RQ keeps them for a while, and
    the job id is deterministic).
    :return: True when a job was enqueued now, False when one was already pending.
    :raise redis.exceptions.RedisError: Redis is unavailable.
    """
    for _ in range(3):
        try:
            schedule.process_webhook_event(event.id, event.workspace_id)
            return True
        except DuplicateJobError:
            try:
                job = Job.fetch(schedule.event_job_id(event.id), connection=get_redis())
            except NoSuchJobError:
                continue  # expired in between: enqueue again
            if job.get_status(refresh=False) in PENDING_JOB_STATES:
                return False
            job.delete()
    return False


@dataclass(frozen=True)
class SweepResult:
    enqueued: int
    pending: int
    gave_up: int


def sweep(now: datetime | None = None) -> SweepResult:
    """Re-enqueue every unfinished event (all workspaces) last enqueued or received more than
    ``WEBHOOK_SWEEP_SECONDS`` before ``now`` whose job is gone; give up on events that already
    had ``SWEEP_MAX_ATTEMPTS`` attempts (marked failed). Safe to run in several workers at once.
    """
    grace = timedelta(seconds=current_app.config["SETTINGS"].webhook_sweep_seconds)
    enqueued = pending = gave_up = 0
    for batch in events.iter_unfinished((now or utcnow()) - grace):
        stamped = []
        for event in batch:
            if _job_pending(event.id):
                pending += 1
            elif (event.attempts or 0) >= SWEEP_MAX_ATTEMPTS:
                events.mark_failed(event, f"gave up after {event.attempts} attempts", final=True)
                gave_up += 1
            elif requeue(event):
                stamped.append(event)
                enqueued += 1
            else:
                pending += 1
        events.mark_enqueued(stamped)
        db.session.commit()
    if enqueued or gave_up:
        log.info("webhook sweep: %s enqueued, %s pending, %s given up", enqueued, pending, gave_up)
    return SweepResult(enqueued, pending, gave_up)


def sweep_events() -> dict:
    """RQ job: ``sweep``, then schedule the next sweep (even when this one failed)."""
    try:
        return asdict(sweep())
    finally:
        keep_sweep_scheduled(after_slot=_current_sweep_slot())


def _current_sweep_slot() -> int:
    # The next sweep must come after this one's slot even if this host's clock lags the scheduler's.
    job = get_current_job()
    suffix = job.id.removeprefix(schedule.SWEEP_JOB_PREFIX) if job is not None else ""
    return int(suffix) if suffix.isdigit() else 0


def keep_sweep_scheduled(after_slot: int = 0) -> bool:
    """Make sure the next periodic sweep is scheduled; idempotent across workers.

    Never raises for Redis trouble (the next call heals the chain). :return: True if it
    scheduled a sweep now.
    """
    try:
        every = current_app.config["SETTINGS"].webhook_sweep_seconds
        return schedule.webhook_sweep(every, min_slot=after_slot + 1) is not None
    except RedisError as error:
        log.warning("could not schedule the webhook sweep: %s", type(error).__name__)
        return False


@dataclass(frozen=True)
class ReplayResult:
    enqueued: int
    pending: int


def replay(workspace_id: str, since: datetime | None = None, event_type: str | None = None) -> ReplayResult:
    """Process ``workspace_id``'s stored events again (received at or after ``since``, of
    ``event_type``), whatever their status; events whose job is still pending are left alone.

    Rows are reset to ``received`` and committed before enqueueing, so if Redis fails midway
    the sweep finishes the job.
    :raise redis.exceptions.RedisError: Redis is unavailable.
    """
    enqueued = pending = 0
    for batch in events.iter_for_replay(workspace_id, since=since, event_type=event_type):
        due = [e for e in batch if not _job_pending(e.id)]
        pending += len(batch) - len(due)
        events.mark_enqueued(due, reset=True)
        db.session.commit()
        for event in due:
            if requeue(event):
                enqueued += 1
            else:
                pending += 1
    return ReplayResult(enqueued, pending)
