"""Enqueueing of the background jobs, with deterministic job ids and RQ retries.

Views and other jobs call these functions; the job bodies live in their own modules and are
named here by dotted path, so enqueueing never imports a job's dependencies.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from rq import Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job

from ..extensions import db
from ..models import BootstrapJob
from ..queueing import BOOTSTRAP, DEFAULT, HIGH, enqueue, get_queue

BOOTSTRAP_JOB = "addon.jobs.bootstrap.run_bootstrap"
REGISTER_WEBHOOKS_JOB = "addon.jobs.webhook_registration.register_webhooks"
DEREGISTER_WEBHOOKS_JOB = "addon.jobs.webhook_registration.deregister_webhooks"
PURGE_WORKSPACE_JOB = "addon.jobs.purge.purge_workspace"


def job_id(kind: str, workspace_id: str) -> str:
    """The deterministic RQ job id of singleton work (RQ ids allow only ``[A-Za-z0-9_-]``)."""
    safe = "".join(c if c.isalnum() or c in "_-" else "_" for c in workspace_id)
    return f"{kind}-{safe}"


ACTIVE_BOOTSTRAP_STATES = ("pending", "running")


def request_bootstrap(workspace_id: str, trigger: str) -> tuple[BootstrapJob, bool]:
    """Start a bootstrap of ``workspace_id`` unless one is pending or running.

    Commits the new ``bootstrap_jobs`` row before enqueueing (the worker must see it).
    :return: the run, and whether it was created now (False: the one already in progress).
    """
    current = db.session.execute(
        db.select(BootstrapJob).where(BootstrapJob.workspace_id == workspace_id,
                                      BootstrapJob.status.in_(ACTIVE_BOOTSTRAP_STATES))
        .order_by(BootstrapJob.id.desc()).limit(1)).scalar_one_or_none()
    if current is not None:
        return current, False
    run = BootstrapJob(workspace_id=workspace_id, trigger=trigger, status="pending")
    db.session.add(run)
    db.session.commit()
    job = bootstrap(workspace_id, run.id)
    run.rq_job_id = job.id
    db.session.commit()
    return run, True


def bootstrap(workspace_id: str, bootstrap_job_id: int) -> Job:
    """Run the bootstrap of ``workspace_id`` (the ``bootstrap_jobs`` row already exists)."""
    return enqueue(BOOTSTRAP, BOOTSTRAP_JOB, workspace_id, bootstrap_job_id,
                   job_id=job_id("bootstrap", workspace_id), workspace_id=workspace_id,
                   job_timeout=3600, retry=Retry(max=3, interval=[10, 60, 300]))


def register_webhooks(workspace_id: str) -> Job:
    """Register through the API the events the manifest could not declare."""
    return enqueue(DEFAULT, REGISTER_WEBHOOKS_JOB, workspace_id,
                   job_id=job_id("register-webhooks", workspace_id), workspace_id=workspace_id,
                   job_timeout=300, retry=Retry(max=5, interval=[5, 30, 120, 600, 1800]))


def deregister_webhooks(workspace_id: str) -> Job:
    """Delete every webhook the add-on registered through the API for ``workspace_id``."""
    return enqueue(DEFAULT, DEREGISTER_WEBHOOKS_JOB, workspace_id,
                   job_id=job_id("deregister-webhooks", workspace_id), workspace_id=workspace_id,
                   job_timeout=300, retry=Retry(max=5, interval=[5, 30, 120, 600, 1800]))


def purge_workspace(workspace_id: str) -> Job:
    """Delete the cached data of an uninstalled workspace."""
    return enqueue(DEFAULT, PURGE_WORKSPACE_JOB, workspace_id,
                   job_id=job_id("purge", workspace_id), workspace_id=workspace_id,
                   job_timeout=600, retry=Retry(max=3, interval=[10, 60, 300]))


PROCESS_EVENT_JOB = "addon.jobs.events.process_event"
SWEEP_EVENTS_JOB = "addon.jobs.events.sweep_events"
# Handler failures retry after 10 s, 1 min, 5 min, 15 min, then the event is marked failed.
EVENT_RETRY_INTERVALS = (10, 60, 300, 900)
# The database is the record of an event; RQ's copy of a failed job need not outlive a week.
EVENT_FAILURE_TTL = 7 * 24 * 3600


def event_job_id(event_id: int) -> str:
    """The deterministic RQ job id of one stored webhook event."""
    return f"webhook-event-{event_id}"


def process_webhook_event(event_id: int, workspace_id: str) -> Job:
    """Process a stored webhook event on the ``high`` queue.

    :raise rq.exceptions.DuplicateJobError: a job for this event still exists in Redis (pending,
        or finished/failed and not yet expired); ``addon.jobs.events.requeue`` handles that.
    :raise redis.exceptions.RedisError: Redis is unavailable (the row stays ``received``).
    """
    return enqueue(HIGH, PROCESS_EVENT_JOB, event_id, workspace_id, job_id=event_job_id(event_id),
                   workspace_id=workspace_id, unique=True, job_timeout=300, result_ttl=300,
                   failure_ttl=EVENT_FAILURE_TTL,
                   retry=Retry(max=len(EVENT_RETRY_INTERVALS), interval=list(EVENT_RETRY_INTERVALS)))


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
