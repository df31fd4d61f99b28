"""The workspace bootstrap: every workspace-level listing of the spec, then tasks per project and
time entries per user, paginated, upserted into ``workspace_data``.

How a run executes
* One job at a time works on a run (``run_bootstrap``). It drives a bounded pool of threads under
  the workspace's shared rate limiter (``bootstrap_slice``): one worker already fills the
  workspace's budget, so more would add nothing. Each finished page moves its listing's
  checkpoint row in the transaction that stores its entities.
* A job works for at most ``SLICE_SECONDS``, then enqueues its continuation at the back of the
  bootstrap queue, so webhook and lifecycle jobs (higher-priority queues) are never starved for
  longer than a slice. A warm shutdown ends the slice early the same way.
* Clockify throttling the workspace for long (a 429 with a long ``Retry-After``: new Free
  workspaces get 30 requests an hour) never holds a worker: the slice ends, the run is
  ``waiting`` with ``resume_at``, and the continuation is scheduled for then.
* A SIGKILLed job stops renewing the run's heartbeat; the workers' periodic sweep
  (``resume_unattended``) enqueues a continuation, which resumes from the checkpoints.
* Every ``BOOTSTRAP_REFRESH_HOURS`` the sweep ``schedule_refreshes`` starts a run over the
  sources no subscribed webhook event keeps fresh.
* Jobs, threads, log lines and outbound calls carry the request id of the call that started the
  run (stored on the run, so resumes carry it too).
"""

from __future__ import annotations

import enum
import logging
from datetime import timedelta

from flask import current_app
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from ..clockify.client import HostNotAllowed
from ..clockify.manifest import selected_events
from ..extensions import db
from ..models import BootstrapRun, BootstrapRunStatus, Installation, utcnow
from ..outbound import get_client
from ..queueing import get_redis
from ..request_context import bind, current_request_id, sanitize
from ..store import bootstrap_runs, installations
from ..webhook_handlers.workspace_data import Freshness, freshness, sources_kept_fresh
from . import schedule
from .bootstrap_finalize import finalize
from .bootstrap_plan import all_sources, base_ops, time_window, with_parents
from .bootstrap_slice import Interruption, RunSlice
from .callbacks import app_context

log = logging.getLogger(__name__)

SLICE_SECONDS = 30.0
# A run whose heartbeat is older than this, with no job queued for it, has lost its worker.
STALE_SECONDS = 15.0
MAX_RESUMES = 5
REFRESH_CHECK_KEY = "addon:bootstrap:refresh-check"
REFRESH_CHECK_SECONDS = 60
_WAITING_JOB = (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


class SliceEnd(enum.StrEnum):
    """What one job did with its run."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CONTINUED = "continued"  # time was up: the next slice is queued
    WAITING = "waiting"      # the workspace is throttled: the next slice is scheduled
    FINISHED = "finished"    # the run had already ended: nothing to do


def run_bootstrap(workspace_id: str, run_id: int, label: str = "s0", slice_seconds: float | None = None) -> str:
    """Job: work on run ``run_id`` for one slice (``label`` names it: ``s0``, ``s1``, ``r1-s0``...).

    :return: a ``SliceEnd``.
    """
    checked = _runnable(workspace_id, run_id)
    if isinstance(checked, SliceEnd):
        return checked
    run, installation, token = checked
    # Threads copy this context: bind the id explicitly (RQ's current job is per thread).
    bind(current_request_id() or run.request_id, workspace_id)
    if run.status == BootstrapRunStatus.PENDING:
        settings = current_app.config["SETTINGS"]
        bootstrap_runs.start(run_id, len(base_ops(workspace_id, run.sources)),
                             time_window(settings.bootstrap_time_entries_days, utcnow()))
    job = get_current_job()
    bootstrap_runs.attend(run_id, job.id if job is not None else None)
    db.session.commit()
    run = bootstrap_runs.require(run_id)
    seconds = SLICE_SECONDS if slice_seconds is None else slice_seconds
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy method; stubs say Flask
    result = RunSlice(app, run, token=token,
                      api_url=installation.api_url, seconds=seconds,
                      check=lambda: _ended_as(workspace_id, run_id)).work()
    if result.failures:
        raise result.failures[0]
    if result.interruption == Interruption.ENDED and result.ended_as is not None:  # set together
        return SliceEnd(result.ended_as)
    if result.interruption == Interruption.THROTTLED:
        _hand_over(workspace_id, run_id, _next(label), slice_seconds, delay=result.retry_after)
        return SliceEnd.WAITING
    if result.interruption == Interruption.TIME_UP:
        _hand_over(workspace_id, run_id, _next(label), slice_seconds)
        return SliceEnd.CONTINUED
    return SliceEnd(finalize(bootstrap_runs.require(run_id)).value)


def _runnable(workspace_id: str, run_id: int) -> tuple[BootstrapRun, Installation, str] | SliceEnd:
    """The one check of "may this run go on": the run is active, its installation is active
    with a token (returned with it), and its API host is allowed. Otherwise the run ends
    (cancelled, failed) and so does the job."""
    run = bootstrap_runs.get(run_id)
    if run is None or not run.active:
        db.session.commit()
        return SliceEnd.FINISHED
    installation = installations.get(workspace_id)
    if installation is None or not installation.is_active or installation.installation_token is None:
        bootstrap_runs.finish(run_id, BootstrapRunStatus.CANCELLED)
        db.session.commit()
        return SliceEnd.CANCELLED
    try:
        get_client().hosts.check(installation.api_url)
    except HostNotAllowed as refused:
        bootstrap_runs.add_error(run_id, {"operation": "bootstrap", "status": "host_not_allowed",
                                          "message": str(refused)})
        bootstrap_runs.finish(run_id, BootstrapRunStatus.FAILED)
        db.session.commit()
        return SliceEnd.FAILED
    return run, installation, installation.installation_token


def _ended_as(workspace_id: str, run_id: int) -> str | None:
    checked = _runnable(workspace_id, run_id)
    db.session.commit()
    return checked.value if isinstance(checked, SliceEnd) else None


def _hand_over(workspace_id: str, run_id: int, label: str, slice_seconds: float | None, *,
               delay: float = 0.0, resumed: bool = False) -> Job:
    """Record the next slice's job on the run, then enqueue it (a waiting run when ``delay``)."""
    job_id = schedule.bootstrap_slice_job_id(workspace_id, run_id, label)
    resume_at = utcnow() + timedelta(seconds=delay) if delay > 0 else None
    bootstrap_runs.hand_over(run_id, job_id, resume_at, resumed=resumed)
    db.session.commit()
    return schedule.enqueue_bootstrap_slice(workspace_id, run_id, label, delay_seconds=delay,
                                            slice_seconds=slice_seconds)


def _next(label: str) -> str:
    prefix = label.rstrip("0123456789")
    number = label[len(prefix):]
    return f"{prefix}{int(number) + 1 if number else 1}"


def resume_unattended() -> int:
    """Sweep (run by the workers every few seconds): enqueue a continuation for every active run
    whose job was lost (stale heartbeat, no job queued or scheduled for it). Returns how many."""
    resumed = 0
    for run in bootstrap_runs.unattended(utcnow() - timedelta(seconds=STALE_SECONDS)):
        if _job_waiting(run.rq_job_id) or isinstance(_runnable(run.workspace_id, run.id), SliceEnd):
            continue
        if run.resumes >= MAX_RESUMES:
            bootstrap_runs.add_error(run.id, {"operation": "bootstrap", "status": "abandoned",
                                              "message": f"workers were lost {run.resumes} times; giving up"})
            bootstrap_runs.finish(run.id, BootstrapRunStatus.FAILED)
            db.session.commit()
            continue
        log.warning("bootstrap run %s of %s has no live job; resuming (%d)", run.id, run.workspace_id,
                    run.resumes + 1)
        bind(run.request_id, run.workspace_id)
        try:
            _hand_over(run.workspace_id, run.id, f"r{run.resumes + 1}-s0", None, resumed=True)
        finally:
            bind(None)
        resumed += 1
    return resumed


def _job_waiting(job_id: str | None) -> bool:
    if not job_id:
        return False
    try:
        return Job.fetch(job_id, connection=get_redis()).get_status(refresh=False) in _WAITING_JOB
    except NoSuchJobError:
        return False


def refresh_sources() -> list[str]:
    """The sources a refresh lists: those no subscribed event keeps fresh, with their parents."""
    kept = sources_kept_fresh(selected_events(current_app.config["SETTINGS"]))
    stale = [source for source in all_sources() if source not in kept]
    return with_parents(stale) if stale else []


def collection_freshness(workspace_id: str, cached_sources) -> list[Freshness]:
    """How each collection of ``workspace_id`` (every bootstrap source, and any other cached
    one) stays fresh, and when it was last listed in full."""
    sources = list(dict.fromkeys([*all_sources(), *sorted(cached_sources)]))
    return freshness(sources, selected_events(current_app.config["SETTINGS"]),
                     bootstrap_runs.last_listed(workspace_id))


def schedule_refreshes() -> int:
    """Sweep: start a refresh run for every active workspace whose last run is older than
    ``BOOTSTRAP_REFRESH_HOURS`` (at most one look a minute across workers). Returns how many."""
    hours = current_app.config["SETTINGS"].bootstrap_refresh_hours
    if not hours or not get_redis().set(REFRESH_CHECK_KEY, 1, nx=True, ex=REFRESH_CHECK_SECONDS):
        return 0
    sources = refresh_sources()
    if not sources:
        return 0
    due = bootstrap_runs.due_for_refresh(utcnow() - timedelta(hours=hours))
    db.session.commit()
    for workspace_id in due:
        bind(sanitize(None), workspace_id)
        try:
            schedule.request_bootstrap(workspace_id, "refresh", sources=sources)
        finally:
            bind(None)
    return len(due)


def record_job_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback of bootstrap jobs: record the error on the run; on the last attempt,
    fail the run."""
    with app_context():
        run_id = job.args[1]
        run = bootstrap_runs.get(run_id)
        if run is None or not run.active:
            return
        bootstrap_runs.add_error(run_id, {"operation": "bootstrap", "status": "job_failed",
                                          "message": f"{exc_type.__name__}: {exc_value}"[:300]})
        if not job.retries_left:
            bootstrap_runs.finish(run_id, BootstrapRunStatus.FAILED)
        db.session.commit()
        log.error("bootstrap job %s of %s failed: %s", job.id, run.workspace_id, exc_type.__name__)


def run_now(workspace_id: str) -> BootstrapRun:
    """Run a bootstrap of ``workspace_id`` in this process, in one slice (``flask bootstrap run``),
    and return the run. A run already in progress is reported, not duplicated."""
    bind(sanitize(None), workspace_id)
    try:
        run, created = schedule.request_bootstrap(workspace_id, "cli", enqueue=False)
        if created:
            run_bootstrap(workspace_id, run.id, slice_seconds=float("inf"))
        return bootstrap_runs.require(run.id)
    finally:
        bind(None)
