"""RQ worker entry point: ``python worker.py [--no-fork] [QUEUE ...]``.

With no argument it listens on ``RQ_QUEUES`` (default: every queue, highest priority first).
``--no-fork`` runs each job in the worker process instead of a forked horse: much cheaper per
job, for workers on the ``high`` queue (``python worker.py --no-fork high``).
SIGTERM is a warm shutdown. The worker also runs RQ's scheduler, which moves retries and
scheduled jobs back onto their queues, and the sweeps of ``addon.workers.SWEEPS`` (resumption of
abandoned bootstraps, the periodic webhook sweep).

Losing Redis does not end the process. An idle worker retries its dequeue, and its next
maintenance restarts the scheduler (which died with the connection) and, through the sweeps, the
webhook sweep chain (lost if Redis came back empty). RQ quits its loop when Redis disappears in
the middle of a job, so then a fresh worker starts once Redis answers again.
"""

import logging
import signal
import sys
import time

import redis

from addon import create_app
from addon.jobs import preload
from addon.logs import configure_logging, early_log_format
from addon.queueing import PRIORITY_ORDER, get_queue
from addon.workers import AppInProcessWorker, AppWorker

log = logging.getLogger("worker")
REDIS_WAIT_MAX_SECONDS = 10


def main(argv: list[str]) -> None:
    """Run a worker on the queues named in ``argv`` (default ``RQ_QUEUES``) until SIGTERM."""
    configure_logging(fmt=early_log_format())  # the chosen format from the first line, start-up messages included
    app = create_app()
    settings = app.config["SETTINGS"]
    configure_logging(settings.log_level, fmt=settings.log_format)
    in_process = "--no-fork" in argv
    names = [a for a in argv if a != "--no-fork"] or list(settings.rq_queues)
    unknown = [n for n in names if n not in PRIORITY_ORDER]
    if unknown:
        raise SystemExit(f"configuration error: unknown queue {unknown[0]!r}; choose among {', '.join(PRIORITY_ORDER)}")
    if settings.redis_url is None:
        raise SystemExit("configuration error: REDIS_URL must be set to run a separate worker "
                         "(without it the web process runs jobs itself)")
    names.sort(key=PRIORITY_ORDER.index)
    preload()
    # The worker rewrites the socket timeout of the client it is given for its blocking dequeue,
    # so it gets its own connection rather than the app's short-timeout one.
    connection = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
    while True:
        worker_class = AppInProcessWorker if in_process else AppWorker
        worker = worker_class([get_queue(n, connection) for n in names], connection=connection, app=app)
        try:
            worker.work(with_scheduler=True, logging_level=settings.log_level)
        except redis.RedisError as error:  # RQ's own teardown talks to Redis too
            log.warning("worker stopped by a Redis error: %s", type(error).__name__)
        if worker.pubsub_thread is not None:  # its teardown may not have got that far
            worker.pubsub_thread.stop()
        if worker.stop_requested:
            return
        log.warning("the RQ worker quit without being asked to; a new one starts once Redis answers")
        wait_for_redis(connection)


def wait_for_redis(connection: redis.Redis) -> None:
    """Pause, then block until Redis answers PING, backing off up to ``REDIS_WAIT_MAX_SECONDS``
    (the pause keeps a worker that fails for another reason from spinning). SIGTERM meanwhile
    ends the process at once: nothing is running."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    delay = 0.5
    while True:
        time.sleep(delay)
        try:
            connection.ping()
            return
        except redis.RedisError:
            delay = min(delay * 2, REDIS_WAIT_MAX_SECONDS)


if __name__ == "__main__":
    main(sys.argv[1:])
