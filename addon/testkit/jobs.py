"""Job functions for tests, module-level so a real RQ worker (in-process or forked) can import
them by dotted name. They run inside the worker's app context."""

from __future__ import annotations

import logging
import os
import threading
import time

from ..queueing import get_redis

log = logging.getLogger(__name__)


def log_message(message: str) -> str:
    """Log ``message`` at INFO and return it."""
    log.info(message)
    return message


def record(key: str, value: str) -> str:
    """Append ``value`` to the Redis list ``key`` and return it."""
    get_redis().rpush(key, value)
    return value


def sleep_then_record(seconds: float, key: str, value: str) -> str:
    """Wait ``seconds``, then ``record`` (a job that is still running when a worker is stopped).

    Sleeps in short steps: a thread-based job timeout can only interrupt Python code.
    """
    get_redis().rpush(f"{key}:started", value)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return record(key, value)


def thread_name() -> str:
    """The name of the thread running the job."""
    return threading.current_thread().name


def record_pid(key: str) -> int:
    """Append the id of the process running the job to the Redis list ``key``."""
    get_redis().rpush(key, os.getpid())
    return os.getpid()
