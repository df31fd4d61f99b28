"""Start the real entry points (gunicorn, ``worker.py``, the ``flask`` CLI) as subprocesses with
a controlled environment: only ``PATH``, ``PYTHONPATH`` and the variables given, run from a
directory with no ``.env``, so nothing from a developer's shell changes the outcome."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Nothing listens on port 1: connections are refused at once, so "down" is quick to observe.
UNREACHABLE_POSTGRES = "postgresql://postgres:hunter2@127.0.0.1:1/unreachable"
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def clean_env(variables: Mapping[str, str | None]) -> dict[str, str]:
    """``PATH`` (this virtualenv first), ``PYTHONPATH`` (the project) and ``variables`` (None: left out)."""
    env = {"PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin", "PYTHONPATH": str(ROOT)}
    env.update({k: v for k, v in variables.items() if v is not None})
    return env


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(entry_point: str, *args: str) -> list[str]:
    """The argv of an entry point: ``gunicorn``, ``worker``, ``flask`` or ``create_app``."""
    if entry_point == "gunicorn":
        return [str(BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app", *args]
    if entry_point == "worker":
        return [sys.executable, str(ROOT / "worker.py"), *args]
    if entry_point == "flask":
        return [str(BIN / "flask"), "--app", "wsgi:app", *args]
    if entry_point == "create_app":
        return [sys.executable, "-c", "from addon import create_app; create_app()", *args]
    raise ValueError(f"unknown entry point {entry_point!r}")


def run(entry_point: str, variables: Mapping[str, str | None], cwd: str | Path, *args: str,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """Run an entry point to completion and capture its output (text)."""
    return subprocess.run(command(entry_point, *args), env=clean_env(variables), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def start(entry_point: str, variables: Mapping[str, str | None], cwd: str | Path, *args: str,
          stdout=None) -> subprocess.Popen:
    """Start an entry point in the background (stderr merged into ``stdout``)."""
    return subprocess.Popen(command(entry_point, *args), env=clean_env(variables), cwd=cwd,
                            stdout=stdout or subprocess.DEVNULL, stderr=subprocess.STDOUT)


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 30) -> requests.Response:
    """Poll ``url`` until it answers; fail when ``process`` dies or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered")
        try:
            return requests.get(url, timeout=2)
        except (requests.ConnectionError, requests.Timeout):  # not listening, or no worker booted yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Send ``sig`` and wait for the exit code (SIGKILL after ``timeout``)."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
