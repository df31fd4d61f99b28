"""Cancelling a workspace's queued singleton jobs (the deterministic ids of ``schedule``).

Lifecycle calls use it so a job queued for an earlier state never runs after a later one: an
uninstall drops a queued bootstrap or registration, a reinstall drops a queued purge. A job
already running is left alone; the job itself checks the installation.
"""

from __future__ import annotations

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ..extensions import db
from ..queueing import get_redis
from ..store import bootstrap_runs
from . import schedule

BOOTSTRAP, REGISTER, DEREGISTER, PURGE = "bootstrap", "register-webhooks", "deregister-webhooks", "purge"
KINDS = (BOOTSTRAP, REGISTER, DEREGISTER, PURGE)
_WAITING = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def cancel_queued(workspace_id: str, kinds: tuple[str, ...]) -> list[str]:
    """Delete the waiting (queued, scheduled for retry, deferred) jobs of ``kinds`` for
    ``workspace_id``. Cancelling ``bootstrap`` also marks the workspace's pending, running or
    waiting bootstrap runs ``cancelled`` (and commits), so a later install can start a fresh one.

    :return: the ids of the jobs removed.
    """
    connection = get_redis()
    removed = []
    for kind in kinds:
        job_id = schedule.job_id(kind, workspace_id)
        try:
            job = Job.fetch(job_id, connection=connection)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=False) in _WAITING:
            job.delete(remove_from_queue=True)
            removed.append(job_id)
    if BOOTSTRAP in kinds:
        bootstrap_runs.cancel_active(workspace_id)
        db.session.commit()
    return removed


def is_known(kind: str, workspace_id: str) -> bool:
    """Whether Redis still holds the job of ``kind`` for ``workspace_id`` (in any state)."""
    return Job.exists(schedule.job_id(kind, workspace_id), connection=get_redis())
