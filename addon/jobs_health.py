"""Worker liveness and backlog: are the queues served, and how much work waits?

The most common silent failure of the add-on is a missing worker: webhooks are acknowledged and
stored, and nothing processes them. ``snapshot()`` gives the figures that show it, per RQ queue:
live workers, depth, and how long work has waited there with no live worker; plus the age of the
oldest webhook event still ``received``. ``/ready``, the Prometheus gauges, ``flask doctor`` and
the development index page all read them through ``snapshot()``.

A queue has *waiting work* when RQ holds jobs on it, or (the ``high`` queue, which processes
webhook events) when an event is still ``received``. It is *stalled* when that work has waited
with no live worker for longer than ``WORKER_MISSING_GRACE_SECONDS``: waiting is counted from the
later of the oldest waiting item and the last moment a live worker was seen on the queue (kept in
Redis, so every process and dyno agrees). A stalled queue turns ``/ready`` to 503, and the web
process logs one warning a minute (across all its processes) naming the fix.

Measuring costs a few Redis round trips per queue and one indexed query, so each process keeps
the figures for ``CACHE_SECONDS``: probes and scrapes never scan on every call.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, worker_registration
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .models import WebhookEvent
from .queueing import HIGH, PRIORITY_ORDER, get_redis
from .store.webhook_events import EventStatus
from .workers import BackgroundThread, EmbeddedWorker

log = logging.getLogger(__name__)

EXTENSION_KEY = "addon.jobs_health"
CACHE_SECONDS = 5.0
WARNING_INTERVAL_SECONDS = 60
# Long enough to outlive any grace period; refreshed every time a worker is seen.
SERVED_KEY_TTL_SECONDS = 7 * 86_400
SCALE_HINT = "heroku ps:scale worker=1 (or scale worker=1 on your platform)"


WARNED_KEY = "addon:jobs:stall-warned"


def served_key(queue: str) -> str:
    """Redis key holding when (epoch seconds) a live worker was last seen on ``queue``."""
    return f"addon:jobs:served:{queue}"


@dataclass(frozen=True)
class QueueFigures:
    """One queue's figures; None where Redis could not be read."""

    workers: int | None
    depth: int | None
    waiting_without_worker_seconds: float | None = None

    def as_json(self) -> dict:
        """The figures as ``/ready`` shows them."""
        waited = self.waiting_without_worker_seconds
        return {"workers": self.workers, "depth": self.depth,
                "waiting_without_worker_seconds": None if waited is None else round(waited, 1)}


@dataclass(frozen=True)
class JobsHealth:
    """Figures of every queue and of the webhook backlog, measured at ``measured_at`` (epoch)."""

    queues: dict[str, QueueFigures]
    oldest_unprocessed_webhook_seconds: float | None
    grace_seconds: int
    measured_at: float
    redis_error: str | None = None
    database_error: str | None = None

    @property
    def stalled(self) -> tuple[str, ...]:
        """Queues whose work has waited with no live worker for longer than the grace period."""
        return tuple(name for name, q in self.queues.items()
                     if q.waiting_without_worker_seconds is not None
                     and q.waiting_without_worker_seconds > self.grace_seconds)

    def problem(self) -> str | None:
        """One line naming what is wrong with the workers, or None when nothing is."""
        if self.redis_error:
            return f"cannot count workers (Redis: {self.redis_error})"
        if not self.stalled:
            return None
        waits = ", ".join(f"{name} for {self.queues[name].waiting_without_worker_seconds:.0f} s"
                          for name in self.stalled)
        return f"work waits with no live worker on queue {waits}; start one: {SCALE_HINT}"

    def as_json(self) -> dict:
        """The ``jobs`` object of ``/ready``."""
        oldest = self.oldest_unprocessed_webhook_seconds
        return {"queues": {name: q.as_json() for name, q in self.queues.items()},
                "oldest_unprocessed_webhook_seconds": None if oldest is None else round(oldest, 1),
                "worker_missing_grace_seconds": self.grace_seconds,
                "stalled": list(self.stalled)}


def snapshot(max_age: float = CACHE_SECONDS) -> JobsHealth:
    """The current app's figures, measured at most ``max_age`` seconds ago (0: measure now).

    A fresh measurement that finds a stalled queue also logs the once-a-minute warning.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy method; stubs say Flask
    cache = app.extensions.setdefault(EXTENSION_KEY, _Cache())
    with cache.lock:
        if cache.value is None or time.monotonic() - cache.taken > max_age:
            cache.value = measure()
            cache.taken = time.monotonic()
            _warn_if_stalled(cache.value)
        return cache.value


class _Cache:
    def __init__(self):
        self.lock = threading.Lock()
        self.value: JobsHealth | None = None
        self.taken = 0.0


def measure() -> JobsHealth:
    """Measure every figure now (in an app context); never raises for an unreachable database or Redis."""
    now = time.time()
    grace = current_app.config["SETTINGS"].worker_missing_grace_seconds
    oldest_received, database_error = _oldest_received_at()
    oldest_age = None if oldest_received is None else max(0.0, now - oldest_received)
    try:
        queues = {name: _queue_figures(name, now, oldest_received if name == HIGH else None)
                  for name in PRIORITY_ORDER}
        redis_error = None
    except RedisError as error:
        queues = {name: QueueFigures(None, None) for name in PRIORITY_ORDER}
        redis_error = type(error).__name__
    return JobsHealth(queues, oldest_age, grace, now, redis_error, database_error)


def _oldest_received_at() -> tuple[float | None, str | None]:
    # A connection of its own: the caller's session (a view's, a command's) is never touched.
    query = db.select(db.func.min(WebhookEvent.received_at)).where(WebhookEvent.status == EventStatus.RECEIVED.value)
    try:
        with db.engine.connect() as connection:
            oldest: datetime | None = connection.execute(query).scalar_one()
    except SQLAlchemyError as error:
        return None, type(error).__name__
    if oldest is None:
        return None, None
    # SQLite hands back naive datetimes; every stored time is UTC.
    return (oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)).timestamp(), None


def _queue_figures(name: str, now: float, oldest_received: float | None) -> QueueFigures:
    connection = get_redis()
    queue = Queue(name, connection=connection)
    workers = _live_workers(queue)
    depth = queue.count
    if workers:
        connection.set(served_key(name), f"{now:.3f}", ex=SERVED_KEY_TTL_SECONDS)
        return QueueFigures(workers, depth)
    waiting_since = [t for t in (_oldest_job_enqueued_at(queue), oldest_received) if t is not None]
    if not waiting_since:
        return QueueFigures(workers, depth)
    # redis-py types a sync client's replies as maybe-awaitable.
    last_served = cast(bytes | None, connection.get(served_key(name)))
    since = max(min(waiting_since), float(last_served) if last_served else 0.0)
    return QueueFigures(workers, depth, max(0.0, now - since))


def _live_workers(queue: Queue) -> int:
    """Workers registered on ``queue`` whose key has not expired (the registry keeps a dead
    worker's entry until a live worker cleans it up, which never happens when none is left)."""
    keys = list(worker_registration.get_keys(queue))
    if keys:
        with queue.connection.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            alive = sum(1 for exists in pipe.execute() if exists)
    else:
        alive = 0
    embedded = current_app.extensions.get(EmbeddedWorker.EXTENSION_KEY)
    if embedded is not None and embedded.is_alive():
        # Development without Redis: the web process's own thread drains every queue.
        alive = max(alive, 1)
    return alive


def _oldest_job_enqueued_at(queue: Queue) -> float | None:
    head = queue.get_job_ids(0, 0)  # RQ appends at the tail: the head waited longest
    if not head:
        return None
    try:
        enqueued = Job.fetch(head[0], connection=queue.connection).enqueued_at
    except NoSuchJobError:  # expired meanwhile: RQ drops it at dequeue
        return None
    if enqueued is None:
        return None
    return (enqueued if enqueued.tzinfo else enqueued.replace(tzinfo=UTC)).timestamp()


def _warn_if_stalled(health: JobsHealth) -> None:
    if not health.stalled:
        return
    try:
        # One warning a minute across every process sharing this Redis.
        if not get_redis().set(WARNED_KEY, "1", nx=True, ex=WARNING_INTERVAL_SECONDS):
            return
    except RedisError:
        return
    oldest = health.oldest_unprocessed_webhook_seconds
    log.warning("%s%s", health.problem(),
                "" if oldest is None else f" (oldest unprocessed webhook event: {oldest:.0f} s)",
                extra={"stalled_queues": list(health.stalled)})


class JobsWatcher(BackgroundThread):
    """Daemon thread of a web process that measures every ``interval`` seconds, so the stall
    warning is logged even when nobody probes ``/ready``. ``create_app`` starts one on the first
    request outside tests."""

    EXTENSION_KEY = "addon.jobs_watcher"

    def __init__(self, app, interval: float = 15.0):
        super().__init__("jobs-watcher")
        # A weak reference: the thread ends once its app is gone (tests build many apps).
        self._app, self.interval = weakref.ref(app), interval

    def run(self) -> None:
        while not self.stopping.wait(self.interval):
            app = self._app()
            if app is None:
                return
            try:
                with app.app_context():
                    snapshot(max_age=0)
                    db.session.remove()
            except Exception:  # the watcher must outlive any failure it reports on
                log.exception("jobs watcher pass failed")
            del app
