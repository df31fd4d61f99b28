"""Redis connection and RQ queues of an app.

With ``REDIS_URL`` the app talks to real Redis and separate ``worker.py`` processes run the jobs.
Without it (development only) it keeps an in-memory fakeredis and runs jobs on a thread of the
web process (``addon.workers.EmbeddedWorker``). Queues by priority: ``high`` (webhook events,
lifecycle follow-ups), ``default``, ``bootstrap`` (long paginated fetches).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import redis
from flask import current_app
from redis.backoff import ExponentialBackoff
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry
from rq.job import Job, JobStatus

from .request_context import current_request_id

log = logging.getLogger(__name__)

EXTENSION_KEY = "addon.redis"
HIGH, DEFAULT, BOOTSTRAP = "high", "default", "bootstrap"
PRIORITY_ORDER = (HIGH, DEFAULT, BOOTSTRAP)


def connect(redis_url: str | None) -> redis.Redis:
    """A Redis client with short timeouts, or a fakeredis when ``redis_url`` is None.

    The timeouts and the short retry budget make an unreachable Redis fail within about a
    second (redis-py's default retries take ~7 s), so requests degrade instead of hanging.
    """
    if redis_url is None:
        import fakeredis

        return fakeredis.FakeRedis(server=fakeredis.FakeServer())
    return redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30,
                                retry=RedisRetry(ExponentialBackoff(cap=0.2, base=0.05), retries=2))


def init_app(app, redis_url: str | None) -> None:
    """Bind a Redis client to ``app``; no connection is opened until first use."""
    app.extensions[EXTENSION_KEY] = connect(redis_url)
    if redis_url is None:
        log.warning("REDIS_URL is not set: embedded mode (in-memory fakeredis, jobs run on a web-process thread)")


def get_redis() -> redis.Redis:
    """The current app's Redis client."""
    return current_app.extensions[EXTENSION_KEY]


def get_queue(name: str, connection: redis.Redis | None = None) -> Queue:
    """The RQ queue ``name`` on the app's Redis (or on ``connection``)."""
    if name not in PRIORITY_ORDER:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=connection or get_redis())


def enqueue(queue_name: str, func, *args, job_id: str | None = None, retry: Retry | None = None,
            workspace_id: str | None = None, **options) -> Job:
    """Enqueue ``func(*args)`` carrying the request id and workspace id in the job's meta.

    The worker's log filter reads them back, so a job's log lines join the request that caused it.
    """
    meta = {"request_id": current_request_id(), "workspace_id": workspace_id}
    return get_queue(queue_name).enqueue(func, *args, job_id=job_id, retry=retry, meta=meta, **options)


def enqueue_in(queue_name: str, delay_seconds: float, func, *args, job_id: str | None = None,
               retry: Retry | None = None, workspace_id: str | None = None, unique: bool = False,
               job_timeout: int | None = None, **options) -> Job:
    """``enqueue``, with the job scheduled to run in ``delay_seconds`` (a worker runs RQ's scheduler).

    :param unique: raise ``rq.exceptions.DuplicateJobError`` when a job with ``job_id`` exists
        (RQ's ``enqueue_in`` ignores it; ``schedule_job`` honours it).
    """
    queue = get_queue(queue_name)
    meta = {"request_id": current_request_id(), "workspace_id": workspace_id}
    job = queue.create_job(func, args=args, job_id=job_id, retry=retry, meta=meta, timeout=job_timeout,
                           status=JobStatus.SCHEDULED, **options)
    return queue.schedule_job(job, datetime.now(UTC) + timedelta(seconds=delay_seconds), unique=unique)
