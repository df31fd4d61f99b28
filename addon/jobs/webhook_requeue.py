"""Enqueueing stored webhook events again: the sweep that re-enqueues forgotten ones, and replay.

* ``sweep_events`` (RQ job, ``default`` queue, every ``WEBHOOK_SWEEP_SECONDS``): re-enqueues
  events whose job never ran (Redis was down at receipt, a worker died...), then schedules the
  next sweep. ``keep_sweep_scheduled`` restarts that chain; ``worker.py`` calls it at start and
  at each RQ maintenance run.
* ``replay``: re-enqueue a workspace's stored events (``flask webhooks replay``); ``replay_event``
  for one (API Studio's Retry).

The jobs they enqueue run the handlers in ``webhook_processing``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from flask import current_app
from redis.exceptions import RedisError
from rq import get_current_job
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from ..extensions import db
from ..models import WebhookEvent, utcnow
from ..queueing import get_redis
from ..store import webhook_events
from . import schedule

log = logging.getLogger(__name__)

# After this many attempts over all enqueues, the sweep stops re-enqueueing an event and marks it failed.
SWEEP_MAX_ATTEMPTS = 10
PENDING_JOB_STATES = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def _job_pending(event: WebhookEvent) -> bool:
    """A job that will run ``event`` is waiting or running: its own, or for a ``received`` event,
    its workspace's batch job."""
    if event.status == webhook_events.EventStatus.RECEIVED and get_redis().exists(
            schedule.received_job_flag(event.workspace_id)):
        return True
    try:
        job = Job.fetch(schedule.event_job_id(event.id), connection=get_redis())
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

    A ``received`` event goes back to its workspace's batch job (none is enqueued while one is
    queued, so a backlog is not doubled); others get their own job.
    """
    grace = timedelta(seconds=current_app.config["SETTINGS"].webhook_sweep_seconds)
    enqueued = pending = gave_up = 0
    workspaces: set[str] = set()
    for batch in webhook_events.iter_unfinished((now or utcnow()) - grace):
        stamped = []
        for event in batch:
            if _job_pending(event):
                pending += 1
            elif (event.attempts or 0) >= SWEEP_MAX_ATTEMPTS:
                webhook_events.mark_failed(event, f"gave up after {event.attempts} attempts", final=True)
                gave_up += 1
            elif event.status == webhook_events.EventStatus.RECEIVED:
                workspaces.add(event.workspace_id)
                stamped.append(event)
                enqueued += 1
            elif requeue(event):
                stamped.append(event)
                enqueued += 1
            else:
                pending += 1
        webhook_events.mark_enqueued(stamped)
        db.session.commit()
    for workspace_id in sorted(workspaces):
        schedule.enqueue_process_received_events(workspace_id)
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
    for batch in webhook_events.iter_for_replay(workspace_id, since=since, event_type=event_type):
        result = _replay_batch(batch)
        enqueued, pending = enqueued + result.enqueued, pending + result.pending
    return ReplayResult(enqueued, pending)


def replay_event(workspace_id: str, event_id: int) -> ReplayResult | None:
    """``replay`` for one event of ``workspace_id`` (API Studio's Retry); None when it has no
    such event.

    :raise redis.exceptions.RedisError: Redis is unavailable.
    """
    event = webhook_events.get(workspace_id, event_id)
    return None if event is None else _replay_batch([event])


def _replay_batch(batch: list[WebhookEvent]) -> ReplayResult:
    due = [e for e in batch if not _job_pending(e)]
    pending = len(batch) - len(due)
    webhook_events.mark_enqueued(due, reset=True)
    db.session.commit()
    enqueued = 0
    for event in due:
        if requeue(event):
            enqueued += 1
        else:
            pending += 1
    return ReplayResult(enqueued, pending)
