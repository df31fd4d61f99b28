"""RQ workers that run every job inside the Flask app context and record job metrics.

* ``AppWorker`` (``python worker.py``): RQ's ``HerokuWorker``, so SIGTERM is a warm shutdown
  (the running job gets ``ShutDownImminentException`` after a grace period and is retried);
  each job runs in a forked horse.
* ``AppSimpleWorker``: same hooks, jobs in-process (tests, embedded mode).
* ``EmbeddedWorker``: development without Redis; a daemon thread of the web process that drains
  the fakeredis queues and moves due scheduled jobs (retries) every half second.

Every worker runs RQ's maintenance (registry cleanup, scheduler takeover) and then the ``SWEEPS``
about every ``MAINTENANCE_SECONDS``, inside the app context: functions that find work a dead
worker left behind (a bootstrap whose worker was SIGKILLed) and enqueue it again.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from redis.exceptions import RedisError
from rq import SimpleWorker
from rq.exceptions import InvalidJobOperation, StopRequested
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.utils import import_attribute
from rq.worker import HerokuWorker

from . import metrics
from .extensions import db
from .queueing import PRIORITY_ORDER, get_queue
from .request_context import bind

log = logging.getLogger(__name__)

MAINTENANCE_SECONDS = 5
# An idle worker wakes from its blocking dequeue every (worker_ttl - 15) s to run maintenance.
WORKER_TTL_SECONDS = MAINTENANCE_SECONDS + 15
SWEEPS: tuple[str, ...] = (
    "addon.jobs.bootstrap.resume_unattended",
    "addon.jobs.bootstrap.schedule_refreshes",
    # Enqueues the jobs of lifecycle changes committed while Redis was down.
    "addon.jobs.lifecycle_outbox.dispatch_pending",
    # Heals the self-rescheduling webhook sweep chain if a lost job broke it (idempotent).
    "addon.jobs.webhook_requeue.keep_sweep_scheduled",
)


def run_sweeps() -> None:
    """Run every sweep once (in an app context); one failing never stops the others."""
    for dotted in SWEEPS:
        try:
            import_attribute(dotted)()
        except StopRequested:  # RQ's SIGTERM handler, raised wherever the signal lands: stop
            raise
        except Exception:  # a sweep must never take the worker down
            log.exception("sweep %s failed", dotted)
            db.session.rollback()


class _AppJobs:
    """Mixin: app context, fork-safe database pool and metrics around each job."""

    def __init__(self, *args, app, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)
        self.app = app
        self._parent_pid = os.getpid()

    def unsubscribe(self):
        # RQ sends UNSUBSCRIBE before telling its pubsub thread to stop: a thread that reads the
        # reply first goes back to waiting for a subscription, and the worker's exit then waits
        # out RQ's 1 s join. Told first, the thread ends on the reply.
        if self.pubsub_thread:
            self.pubsub_thread.stop()
        super().unsubscribe()

    def run_maintenance_tasks(self):
        # Failure callbacks of abandoned jobs run here, in the parent: give them the app.
        with self.app.app_context():
            super().run_maintenance_tasks()
            run_sweeps()
            db.session.remove()

    def perform_job(self, job, queue):
        with self.app.app_context():
            if os.getpid() != self._parent_pid:
                # Never reuse pooled connections inherited through fork.
                db.engine.dispose(close=False)
            bind(job.meta.get("request_id"), job.meta.get("workspace_id"))
            try:
                return super().perform_job(job, queue)
            finally:
                bind(None)

    def execute_job(self, job, queue):
        # Runs in the parent: counters incremented here survive the horse's os._exit.
        started = time.monotonic()
        try:
            return super().execute_job(job, queue)
        finally:
            name = job.func_name.rsplit(".", 1)[-1]
            try:
                outcome = job.get_status(refresh=True) or "unknown"
            except (InvalidJobOperation, RedisError):  # job expired or Redis blinked: still count the run
                outcome = "unknown"
            outcome = getattr(outcome, "value", outcome)
            metrics.JOBS.inc(job=name, outcome=outcome, connection=self.connection)
            metrics.JOB_DURATION.observe(time.monotonic() - started, job=name, connection=self.connection)


class _Supervised:
    """Mixin of the workers ``worker.py`` runs: idle wake-ups for maintenance, and
    ``stop_requested`` to tell a stop asked for by a signal from RQ quitting its loop on a Redis
    error."""

    stop_requested = False

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("worker_ttl", WORKER_TTL_SECONDS)
        super().__init__(*args, **kwargs)

    def request_stop(self, signum, frame):
        self.stop_requested = True
        super().request_stop(signum, frame)

    # RQ raises StopRequested (an Exception) from its signal handler, in whatever code the main
    # thread runs; a broad ``except`` there (a sweep's, a library's, logging's) swallows it, and
    # the worker would go back to dequeuing for good. Between jobs, the flag decides.
    def run_maintenance_tasks(self):
        super().run_maintenance_tasks()
        self._stop_if_requested()

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        self._stop_if_requested()
        return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)

    def _stop_if_requested(self) -> None:
        if self.stop_requested:
            raise StopRequested()


class AppWorker(_Supervised, _AppJobs, HerokuWorker):
    """Production worker: forks a horse per job, warm shutdown on SIGTERM."""


class AppSimpleWorker(_AppJobs, SimpleWorker):
    """Runs jobs in the calling process."""


class AppInProcessWorker(_Supervised, AppSimpleWorker):
    """``python worker.py --no-fork``: jobs run in the worker process itself.

    No horse is forked per job, so a job keeps the warm database pool, compiled statements and
    imported modules; a webhook event then costs a fraction of the CPU (the benchmarks measured
    ~60 ms per event forked against ~10 ms in process). SIGTERM lets the running job finish, with
    no grace-period interruption: meant for the short jobs of the ``high`` queue, while bootstrap
    slices stay on forking workers.
    """


class BackgroundThread(threading.Thread):
    """A daemon thread of the web process, started by its first request and stopped on demand.
    Subclasses loop in ``run`` until ``stopping`` is set."""

    def __init__(self, name: str):
        super().__init__(name=name, daemon=True)
        self.stopping = threading.Event()
        self._start_lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the thread unless it runs already (safe to call from many request threads)."""
        if self.ident is not None:
            return
        with self._start_lock:
            if self.ident is None and not self.stopping.is_set():
                self.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the loop to end after the current pass and wait up to ``timeout`` seconds for it."""
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)


class EmbeddedWorker(BackgroundThread):
    """Development-only job runner on a daemon thread of the web process.

    ``create_app`` keeps one at ``app.extensions[EmbeddedWorker.EXTENSION_KEY]``; the app's first
    request starts it.
    """

    EXTENSION_KEY = "addon.embedded_worker"
    poll_seconds = 0.5

    def __init__(self, app, connection):
        super().__init__("embedded-rq-worker")
        self.app, self.connection = app, connection

    def run(self) -> None:
        log.warning("embedded worker started: jobs run on this thread of the web process, queues %s",
                    ", ".join(PRIORITY_ORDER))
        queues = [get_queue(name, self.connection) for name in PRIORITY_ORDER]
        scheduler = RQScheduler(PRIORITY_ORDER, connection=self.connection)
        scheduler.prepare_registries(PRIORITY_ORDER)
        worker = _ThreadWorker(queues, connection=self.connection, app=self.app)
        while not self.stopping.is_set():
            try:
                scheduler.enqueue_scheduled_jobs()
                worker.work(burst=True, logging_level="WARNING")
            except Exception:  # keep the dev server's job runner alive whatever a job does
                log.exception("embedded worker loop failed")
            self.stopping.wait(self.poll_seconds)


class _ThreadWorker(AppSimpleWorker):
    # SIGALRM-based job timeouts only work on the main thread; a timer thread works anywhere.
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        """Signals belong to the main thread; the embedded worker stops with the process."""
