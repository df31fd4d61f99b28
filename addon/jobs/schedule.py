"""Enqueueing of the background jobs, with deterministic job ids and RQ retries.

Views and other jobs call these functions; the job bodies live in their own modules and are
named here by dotted path, so enqueueing never imports a job's dependencies.
"""

from __future__ import annotations

from rq import Retry
from rq.job import Job

from ..extensions import db
from ..models import BootstrapJob
from ..queueing import BOOTSTRAP, DEFAULT, enqueue

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
