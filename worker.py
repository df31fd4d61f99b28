"""RQ worker entry point: ``python worker.py [QUEUE ...]``.

With no argument it listens on ``RQ_QUEUES`` (default: every queue, highest priority first).
SIGTERM is a warm shutdown. The worker also runs RQ's scheduler, which moves retries and
scheduled jobs back onto their queues, and the sweeps of ``addon.workers.SWEEPS`` (resumption of
abandoned bootstraps, the periodic webhook sweep).
"""

import sys

import redis

from addon import create_app
from addon.jobs import preload
from addon.logs import configure_logging
from addon.queueing import PRIORITY_ORDER, get_queue
from addon.workers import AppWorker


def main(argv: list[str]) -> None:
    """Run a worker on the queues named in ``argv`` (default ``RQ_QUEUES``) until SIGTERM."""
    configure_logging()  # JSON from the first line, start-up messages included
    app = create_app()
    settings = app.config["SETTINGS"]
    configure_logging(settings.log_level)
    names = argv or list(settings.rq_queues)
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
    worker = AppWorker([get_queue(n, connection) for n in names], connection=connection, app=app)
    worker.work(with_scheduler=True, logging_level=settings.log_level)


if __name__ == "__main__":
    main(sys.argv[1:])
