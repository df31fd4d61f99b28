"""Starting and stopping the real processes a benchmark measures: gunicorn (the add-on or the
ceiling app) and ``python worker.py`` RQ workers, all on 127.0.0.1, all stopped at exit."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, status: int | None = None, started: float | None = None) -> float:
    """Poll ``url`` until it answers (with ``status``, when given); return the seconds it took
    since ``started`` (a ``time.monotonic()`` value; default: now)."""
    started = time.monotonic() if started is None else started
    while time.monotonic() - started < timeout:
        try:
            response = requests.get(url, timeout=1)
            if status is None or response.status_code == status:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer{f' {status}' if status else ''} within {timeout} s")


def rss_mib(pid: int) -> float:
    """Resident memory of one process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's workers, an RQ worker's horse)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _signal_children(pid: int, signum: int) -> None:
    for child in children(pid):
        with contextlib.suppress(ProcessLookupError):  # a horse that just ended
            os.kill(child, signum)


class Stack:
    """Processes of one benchmark run; ``stop()`` (or the context manager) ends them all."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = {**os.environ, **env}
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, args: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(args, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def gunicorn(self, app: str, port: int, workers: int, name: str, env: dict[str, str] | None = None
                 ) -> subprocess.Popen:
        """gunicorn with the project's ``gunicorn.conf.py`` (gthread) serving ``app`` on
        127.0.0.1 only (the command-line bind wins over the config file's 0.0.0.0).

        Like the Procfile's web process it gets a ``PROMETHEUS_MULTIPROC_DIR`` (its own: the
        config file wipes it at boot). ``env`` adds to (or overrides) the stack's variables.
        """
        return self._spawn([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", app], name,
                           {**(env or {}), "PORT": str(port), "WEB_CONCURRENCY": str(workers),
                            "PROMETHEUS_MULTIPROC_DIR": str(self.log_dir / f"{name}-prometheus")})

    def worker(self, name: str, *queues: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        """One ``python worker.py`` RQ worker; ``env`` adds to the stack's variables."""
        return self._spawn([sys.executable, "worker.py", *queues], name, env)

    def run(self, args: list[str], name: str) -> None:
        """Run a command to completion (e.g. the migrations), failing loudly."""
        with open(self.log_dir / f"{name}.log", "ab") as log:
            subprocess.run(args, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, check=True)

    def pause(self, process: subprocess.Popen) -> None:
        """SIGSTOP an RQ worker's process group, then its children: the horse (RQ gives it a
        session of its own, so the group's signal misses it) and the scheduler. None of them
        takes CPU while a reference is measured."""
        os.killpg(process.pid, signal.SIGSTOP)
        _signal_children(process.pid, signal.SIGSTOP)

    def resume(self, process: subprocess.Popen) -> None:
        _signal_children(process.pid, signal.SIGCONT)
        os.killpg(process.pid, signal.SIGCONT)

    def stop_process(self, process: subprocess.Popen, timeout: float = 20) -> None:
        if process.poll() is None:
            self.resume(process)
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.processes:
            self.processes.remove(process)

    def stop(self) -> None:
        for process in reversed(list(self.processes)):
            self.stop_process(process)
