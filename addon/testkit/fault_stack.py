"""A small stack of real processes for fault injection: a private ``redis-server``, gunicorn and
``python worker.py``, each started in a session of its own so that stopping it (or a test
killing it on purpose) takes its children (gunicorn workers, RQ horses, RQ's scheduler) along.
The entry points run as ``addon.testkit.processes`` starts them: only the given variables, from
a directory with no ``.env``.

>>> with ProcessPool(log_dir) as pool:
...     redis = PrivateRedis(pool).start()
...     web = pool.gunicorn(variables)      # waits for GET /health; web.url
...     worker = pool.worker(variables)     # waits until it registered in Redis
...     redis.kill(); redis.start()         # same port, empty data
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from .processes import clean_env, command, free_port


def wait_until(predicate, timeout: float, interval: float = 0.1, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; return that value.

    :raise TimeoutError: naming ``message`` after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not reached within {timeout:.0f} s")
        time.sleep(interval)


class Managed:
    """One started process (the leader of its own session) and its log file."""

    def __init__(self, name: str, process: subprocess.Popen, log_path: Path):
        self.name, self.process, self.log_path = name, process, log_path
        self.url: str | None = None  # servers: their base URL

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the process's output, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the process and everything it started, at once (a lost dyno)."""
        for pid in session_members(self.process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process (gunicorn and RQ shut down their children warmly), then SIGKILL
        whatever of its session is left after ``grace`` seconds."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()


def session_members(session_id: int) -> list[int]:
    """Every live process of session ``session_id``: a process started with ``start_new_session``
    and all its descendants, RQ's work horses included (they leave the process group, not the
    session)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) == session_id:
                members.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return members


class ProcessPool:
    """Starts processes with logs under ``log_dir`` and stops every one of them on ``close``."""

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started: list[Managed] = []

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def start(self, name: str, argv: list[str], variables: Mapping[str, str | None] | None = None) -> Managed:
        """Start ``argv`` in a session of its own, in the log directory, with ``clean_env(variables)``."""
        log_path = self.log_dir / f"{name}-{len(self.started)}.log"
        with open(log_path, "wb") as output:
            process = subprocess.Popen(argv, cwd=self.log_dir, env=clean_env(variables or {}),
                                       stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        managed = Managed(name, process, log_path)
        self.started.append(managed)
        return managed

    def gunicorn(self, variables: Mapping[str, str], workers: int = 2, threads: int = 4,
                 timeout: float = 30) -> Managed:
        """Start gunicorn on a free port; return it (``url`` set) once /health answers."""
        port = free_port()
        web = self.start("gunicorn", command("gunicorn"), {
            **variables, "PORT": str(port), "WEB_CONCURRENCY": str(workers), "GUNICORN_THREADS": str(threads)})
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            if not web.alive():
                raise RuntimeError(f"gunicorn exited:\n{web.log_tail()}")
            try:
                return requests.get(f"{url}/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_until(healthy, timeout, message="gunicorn answering /health")
        web.url = url
        return web

    def worker(self, variables: Mapping[str, str], queues: tuple[str, ...] = (), timeout: float = 30) -> Managed:
        """Start ``python worker.py [queues]``; return it once it has registered in Redis."""
        import redis
        from rq import Worker

        worker = self.start("worker", command("worker", *queues), variables)
        connection = redis.Redis.from_url(variables["REDIS_URL"], socket_connect_timeout=1)

        def registered() -> bool:
            if not worker.alive():
                raise RuntimeError(f"worker.py exited:\n{worker.log_tail()}")
            return any(w.pid == worker.pid for w in Worker.all(connection=connection))

        try:
            wait_until(registered, timeout, message="worker.py registered in Redis")
        finally:
            connection.close()
        return worker

    def close(self) -> None:
        """Stop every started process (and its children), newest first; redis-servers last, so
        the others shut down cleanly."""
        for managed in sorted(reversed(self.started), key=lambda m: m.name == "redis"):
            managed.stop()


class PrivateRedis:
    """A ``redis-server`` of this test only: no persistence, so a restart comes back empty."""

    def __init__(self, pool: ProcessPool, port: int | None = None):
        self.pool = pool
        self.port = port or free_port()
        self.server: Managed | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> PrivateRedis:
        """Start (or restart) the server on its port and wait until it answers PING."""
        import redis

        self.server = self.pool.start("redis", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                                "--save", "", "--appendonly", "no", "--dir", str(self.pool.log_dir)])
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        try:
            wait_until(answers, timeout, message=f"redis-server on port {self.port}")
        finally:
            client.close()
        return self

    def kill(self) -> None:
        """SIGKILL the server (its data is lost: nothing is persisted)."""
        if self.server is not None:
            self.server.kill()
