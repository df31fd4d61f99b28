"""Enqueueing of the background jobs, with deterministic job ids and RQ retries.

Views and other jobs call these functions; the job bodies live in their own modules and are
named here by dotted path, so enqueueing never imports a job's dependencies.

Queues by priority: webhook events and lifecycle follow-ups on ``high``, webhook
(de)registration and purges on ``default``, the bootstrap on ``bootstrap`` in slices (see
``addon.jobs.bootstrap``), so a long bootstrap never holds a worker away from the others for
long. Every job has a timeout, a ``Retry`` with intervals (a worker must run the scheduler, which
``worker.py`` does) and a failure callback that records the error.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from rq import Callback, Retry
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

from ..extensions import db
from ..models import BootstrapRun
from ..queueing import BOOTSTRAP, DEFAULT, HIGH, enqueue, enqueue_in, get_queue, get_redis
from ..request_context import current_request_id
from ..store import bootstrap_runs

BOOTSTRAP_JOB = "addon.jobs.bootstrap.run_bootstrap"
BOOTSTRAP_FAILURE = "addon.jobs.bootstrap.record_job_failure"
REGISTER_WEBHOOKS_JOB = "addon.jobs.webhook_registration.register_webhooks"
REGISTRATION_FAILURE = "addon.jobs.webhook_registration.record_registration_failure"
DEREGISTER_WEBHOOKS_JOB = "addon.jobs.webhook_registration.deregister_webhooks"
DEREGISTRATION_FAILURE = "addon.jobs.webhook_registration.record_deregistration_failure"
PURGE_WORKSPACE_JOB = "addon.jobs.purge.purge_workspace"

# A slice lasts 30 s; the timeout leaves room for the slowest page to end and for finalizing.
BOOTSTRAP_TIMEOUT = 600
WEBHOOK_JOB_TIMEOUT = 300
REQUEST_LOCK_SECONDS = 10


def job_id(kind: str, workspace_id: str) -> str:
    """The deterministic RQ job id of singleton work (RQ ids allow only ``[A-Za-z0-9_-]``)."""
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in workspace_id)
    return f"{kind}-{safe}"


def request_bootstrap(workspace_id: str, trigger: str, *, enqueue: bool = True,
                      sources: list[str] | None = None) -> tuple[BootstrapRun, bool]:
    """Start a bootstrap of ``workspace_id`` unless one is pending, running or waiting.

    Serialized per workspace by a short Redis lock, so two simultaneous requests make one run.
    Commits the new ``bootstrap_runs`` row (with the current request id) before enqueueing (the
    worker must see it).
    :param enqueue: False to create the run without a job (``flask bootstrap run`` works on it
        in its own process).
    :param sources: only these sources (a refresh); None lists everything.
    :return: the run, and whether it was created now (False: the one already in progress).
    """
    with get_redis().lock(f"addon:bootstrap:request:{workspace_id}", timeout=REQUEST_LOCK_SECONDS,
                          blocking_timeout=REQUEST_LOCK_SECONDS):
        current = bootstrap_runs.active(workspace_id)
        if current is not None:
            return current, False
        run = bootstrap_runs.create(workspace_id, trigger, sources=sources, request_id=current_request_id())
        db.session.commit()
        if enqueue:
            run.rq_job_id = enqueue_bootstrap(workspace_id, run.id).id
            db.session.commit()
        return run, True


def enqueue_bootstrap(workspace_id: str, run_id: int) -> Job:
    """The first job of bootstrap run ``run_id`` (its row already exists)."""
    return enqueue(BOOTSTRAP, BOOTSTRAP_JOB, workspace_id, run_id,
                   job_id=job_id("bootstrap", workspace_id), workspace_id=workspace_id,
                   job_timeout=BOOTSTRAP_TIMEOUT, retry=Retry(max=3, interval=[10, 60, 300]),
                   on_failure=Callback(BOOTSTRAP_FAILURE))


def bootstrap_slice_job_id(workspace_id: str, run_id: int, label: str) -> str:
    """The job id of slice ``label`` (``s1``, ``r1-s0``...) of run ``run_id``."""
    return job_id(f"bootstrap-{run_id}-{label}", workspace_id)


def enqueue_bootstrap_slice(workspace_id: str, run_id: int, label: str, *, delay_seconds: float = 0.0,
                            slice_seconds: float | None = None) -> Job:
    """One more slice of a run (a continuation or a resume), after ``delay_seconds`` if given (a
    throttled workspace: the worker is free meanwhile; RQ's scheduler enqueues it when due)."""
    options: dict[str, Any] = dict(
        job_id=bootstrap_slice_job_id(workspace_id, run_id, label), workspace_id=workspace_id,
        job_timeout=BOOTSTRAP_TIMEOUT, retry=Retry(max=3, interval=[10, 60, 300]),
        on_failure=Callback(BOOTSTRAP_FAILURE))
    args = (workspace_id, run_id, label, slice_seconds)
    if delay_seconds > 0:
        return enqueue_in(BOOTSTRAP, delay_seconds, BOOTSTRAP_JOB, *args, **options)
    return enqueue(BOOTSTRAP, BOOTSTRAP_JOB, *args, **options)


def enqueue_register_webhooks(workspace_id: str) -> Job:
    """Register through the API the events the manifest could not declare (the job converges to
    the installation's status when it runs; see ``addon.jobs.webhook_registration``)."""
    return _enqueue_singleton(DEFAULT, REGISTER_WEBHOOKS_JOB, workspace_id, "register-webhooks",
                              job_timeout=WEBHOOK_JOB_TIMEOUT, retry=Retry(max=5, interval=[5, 30, 120, 600, 1800]),
                              on_failure=Callback(REGISTRATION_FAILURE))


def enqueue_deregister_webhooks(workspace_id: str) -> Job:
    """Delete every webhook the add-on registered through the API for ``workspace_id``."""
    return _enqueue_singleton(DEFAULT, DEREGISTER_WEBHOOKS_JOB, workspace_id, "deregister-webhooks",
                              job_timeout=WEBHOOK_JOB_TIMEOUT, retry=Retry(max=5, interval=[5, 30, 120, 600, 1800]),
                              on_failure=Callback(DEREGISTRATION_FAILURE))


def enqueue_purge_workspace(workspace_id: str) -> Job:
    """Delete the cached data of an uninstalled workspace."""
    return _enqueue_singleton(DEFAULT, PURGE_WORKSPACE_JOB, workspace_id, "purge",
                              job_timeout=600, retry=Retry(max=3, interval=[10, 60, 300]))


_WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def _enqueue_singleton(queue_name: str, func: str, workspace_id: str, kind: str, **options) -> Job:
    # A job of this kind still waiting for a worker will do the work: enqueueing it again would
    # put its id twice on the queue and run it twice (the lifecycle outbox may repeat a step).
    singleton_id = job_id(kind, workspace_id)
    try:
        waiting = Job.fetch(singleton_id, connection=get_redis())
        if waiting.get_status(refresh=False) in _WAITING:
            return waiting
    except NoSuchJobError:
        pass
    return enqueue(queue_name, func, workspace_id, job_id=singleton_id, workspace_id=workspace_id, **options)


PROCESS_EVENT_JOB = "addon.jobs.webhook_processing.process_event"
PROCESS_RECEIVED_JOB = "addon.jobs.webhook_processing.process_received_events"
SWEEP_EVENTS_JOB = "addon.jobs.webhook_requeue.sweep_events"
# Handler failures retry after 10 s, 1 min, 5 min, 15 min, then the event is marked failed.
EVENT_RETRY_INTERVALS = (10, 60, 300, 900)
# The database is the record of an event; RQ's copy of a failed job need not outlive a week.
EVENT_FAILURE_TTL = 7 * 24 * 3600
# How long "a job for this workspace's received events is queued" holds without that job
# starting: it bounds the wait of events whose job was lost (the sweep also finds them).
RECEIVED_JOB_FLAG_SECONDS = 60


def event_job_id(event_id: int) -> str:
    """The deterministic RQ job id of one stored webhook event."""
    return f"webhook-event-{event_id}"


def received_job_flag(workspace_id: str) -> str:
    """The Redis key saying a ``process_received_events`` job of ``workspace_id`` is queued."""
    return f"addon:webhook-events:queued:{workspace_id}"


def enqueue_process_received_events(workspace_id: str) -> Job | None:
    """Make sure a job will process ``workspace_id``'s ``received`` events, on the ``high`` queue.

    One job serves every delivery that arrives while it is queued or running: a delivery
    enqueues one only when the workspace's flag is not set (``SET NX``); the job keeps the flag
    while it runs and clears it just before its last look for events. So a burst costs one job,
    not one per event.
    :return: the job enqueued now, or None when one was already queued.
    :raise redis.exceptions.RedisError: Redis is unavailable (the rows stay ``received``).
    """
    if not get_redis().set(received_job_flag(workspace_id), "1", nx=True, ex=RECEIVED_JOB_FLAG_SECONDS):
        return None
    return enqueue(HIGH, PROCESS_RECEIVED_JOB, workspace_id, workspace_id=workspace_id,
                   job_timeout=WEBHOOK_JOB_TIMEOUT, result_ttl=60, failure_ttl=EVENT_FAILURE_TTL,
                   retry=Retry(max=3, interval=[5, 30, 120]))


def process_webhook_event(event_id: int, workspace_id: str, *, after_attempts: int = 0) -> Job:
    """Process one stored webhook event on the ``high`` queue: the sweep's, replay's and
    retries' way (fresh deliveries go through ``enqueue_process_received_events``).

    :param after_attempts: attempts already made (a failure in a ``process_received_events``
        batch): the job waits for the backoff of the next attempt and has the remaining retries.
    :raise rq.exceptions.DuplicateJobError: a job for this event still exists in Redis (pending,
        or finished/failed and not yet expired); ``addon.jobs.webhook_requeue.requeue`` handles that.
    :raise redis.exceptions.RedisError: Redis is unavailable (the row keeps its status).
    """
    options: dict[str, Any] = dict(job_id=event_job_id(event_id), workspace_id=workspace_id, unique=True,
                                   job_timeout=300, result_ttl=300, failure_ttl=EVENT_FAILURE_TTL)
    if not after_attempts:
        intervals = list(EVENT_RETRY_INTERVALS)
        return enqueue(HIGH, PROCESS_EVENT_JOB, event_id, workspace_id, **options,
                       retry=Retry(max=len(intervals), interval=intervals))
    delay, *rest = EVENT_RETRY_INTERVALS[after_attempts - 1:]
    return enqueue_in(HIGH, delay, PROCESS_EVENT_JOB, event_id, workspace_id, **options,
                      retry=Retry(max=len(rest), interval=rest) if rest else None)


SWEEP_JOB_PREFIX = "webhook-sweep-"


def webhook_sweep(every_seconds: int, now: float | None = None, min_slot: int = 0) -> Job | None:
    """Schedule the webhook sweep at the start of the next ``every_seconds`` slot (or of
    ``min_slot`` if later).

    The job id names the slot, so any number of workers (and the sweep rescheduling itself)
    schedule each slot once. Needs a worker running RQ's scheduler.
    :return: the job, or None when that slot was already scheduled.
    """
    slot = max(int((time.time() if now is None else now) // every_seconds) + 1, min_slot)
    queue = get_queue(DEFAULT)
    job = queue.create_job(SWEEP_EVENTS_JOB, job_id=f"{SWEEP_JOB_PREFIX}{slot}", timeout=600,
                           result_ttl=every_seconds, failure_ttl=EVENT_FAILURE_TTL,
                           meta={"request_id": None, "workspace_id": None})
    try:
        return queue.schedule_job(job, datetime.fromtimestamp(slot * every_seconds, UTC), unique=True)
    except DuplicateJobError:
        return None
