"""Dispatch of the lifecycle outbox: the jobs each lifecycle state change implies reach Redis
exactly once, whether Redis was up when the change was committed or not.

A lifecycle call commits its state change and its outbox row (``addon.store.lifecycle_outbox``)
in one transaction, then calls ``dispatch``; when Redis is down the row simply waits, and the
workers' periodic sweep (``dispatch_pending``) or the next lifecycle call of the workspace
dispatches it. Steps run in row order under a per-workspace Redis lock, and each step done is
committed at once, so concurrent dispatchers never repeat a step and an interrupted dispatch
resumes at the step that failed. The enqueue functions of ``schedule`` leave a job already
waiting alone, so a step repeated after a crash between its enqueue and its commit does not
double the job.

Steps: ``cancel:<kind>`` (``cancellation.cancel_queued``), ``bootstrap:<trigger>``,
``register-webhooks``, ``deregister-webhooks``, ``purge``.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from ..extensions import db
from ..queueing import get_redis
from ..store import lifecycle_outbox as outbox
from . import cancellation, schedule

log = logging.getLogger(__name__)

CANCEL, BOOTSTRAP = "cancel", "bootstrap"
REGISTER, DEREGISTER, PURGE = cancellation.REGISTER, cancellation.DEREGISTER, cancellation.PURGE
LOCK_SECONDS = 30


def cancel(kind: str) -> str:
    """The step that cancels the waiting job of ``kind`` (one of ``cancellation.KINDS``)."""
    return f"{CANCEL}:{kind}"


def bootstrap(trigger: str) -> str:
    """The step that requests a bootstrap run started by ``trigger``."""
    return f"{BOOTSTRAP}:{trigger}"


def dispatch(workspace_id: str) -> dict[str, object]:
    """Run the pending outbox steps of ``workspace_id``, oldest row first; commits per step.

    :return: each step run now and its result (a bootstrap step: whether a run was created).
    :raise redis.exceptions.RedisError: Redis is down, or (``LockError``) another dispatcher held
        the workspace for too long; the remaining steps stay pending.
    """
    results: dict[str, object] = {}
    with get_redis().lock(f"addon:lifecycle-outbox:{workspace_id}", timeout=LOCK_SECONDS,
                          blocking_timeout=LOCK_SECONDS):
        for row in outbox.pending(workspace_id):
            for step in row.steps[row.steps_done:]:
                try:
                    results[step] = _run(workspace_id, step)
                except RedisError as error:
                    db.session.rollback()
                    outbox.step_failed(row, f"{step}: {type(error).__name__}: {error}")
                    db.session.commit()
                    raise
                outbox.step_done(row)
                db.session.commit()
    return results


def dispatch_pending() -> int:
    """Sweep: dispatch every workspace's rows left pending (Redis was down, the process died).

    :return: how many workspaces were dispatched completely.
    """
    done = 0
    for workspace_id in outbox.workspaces_with_pending():
        try:
            dispatch(workspace_id)
            done += 1
        except RedisError as error:  # LockError included: another dispatcher holds the workspace
            db.session.rollback()
            log.warning("lifecycle outbox of %s not dispatched yet (%s)", workspace_id, type(error).__name__)
    return done


def _run(workspace_id: str, step: str) -> object:
    kind, _, argument = step.partition(":")
    if kind == CANCEL:
        return cancellation.cancel_queued(workspace_id, (argument,))
    if kind == BOOTSTRAP:
        return schedule.request_bootstrap(workspace_id, argument)[1]
    if kind == REGISTER:
        return schedule.enqueue_register_webhooks(workspace_id).id
    if kind == DEREGISTER:
        return schedule.enqueue_deregister_webhooks(workspace_id).id
    if kind == PURGE:
        return schedule.enqueue_purge_workspace(workspace_id).id
    raise ValueError(f"unknown lifecycle outbox step {step!r}")
