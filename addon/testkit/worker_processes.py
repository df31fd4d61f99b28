"""Real ``python worker.py`` processes for tests and benchmarks. ``kill()`` SIGKILLs a worker
with its work horse and scheduler at once, like a lost dyno (RQ moves the horse to a process
group of its own, so the worker's descendants are found through /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    """One ``python worker.py [queues]`` with ``env`` added to the environment."""

    def __init__(self, env: Mapping[str, str], queues: tuple[str, ...] = (), log_path: Path | None = None):
        self.env = {**os.environ, **{k: str(v) for k, v in env.items()}}
        self.queues = queues
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | int | None = None

    def start(self) -> WorkerProcess:
        self._log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen([sys.executable, str(ROOT / "worker.py"), *self.queues], cwd=ROOT,
                                        env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the worker, its work horse and its scheduler at once."""
        if self.process is not None and self.process.poll() is None:
            family = _descendants(self.process.pid)
            os.killpg(self.process.pid, signal.SIGKILL)
            for pid in family:
                _kill(pid)
            self.process.wait(timeout=10)
        self._close_log()

    def stop(self, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM); SIGKILL everything left after ``timeout``."""
        if self.process is not None and self.process.poll() is None:
            family = _descendants(self.process.pid)
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            for pid in [self.process.pid, *family]:
                _kill(pid)
            self.process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None and not isinstance(self._log, int):  # int: subprocess.DEVNULL
            self._log.close()
        self._log = None


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.1, message: str = "") -> None:
    """Poll ``predicate`` until it is true.

    :raise TimeoutError: after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(message or f"condition not met within {timeout} s")
