"""The load generator: wrk with ``wrk_post.lua``, bounded in time (``-d``) and in requests (each
wrk thread stops after its share of ``MAX_RATE * seconds`` answers), sending to 127.0.0.1 only."""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

SCRIPT = Path(__file__).with_name("wrk_post.lua")
# No run on this hardware comes near it; it only makes every run finite in requests too.
MAX_RATE = 20_000


@dataclass(frozen=True)
class LoadResult:
    """What one wrk run measured. Latencies in milliseconds."""

    concurrency: int
    seconds: float
    requests: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non_2xx: int
    accepted: int
    duplicate: int
    capped: bool
    load_generator_cpu_seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def require_wrk() -> str:
    """Path of the wrk binary; ``make bench`` installs it when missing."""
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed: run `make bench` (it installs it) or `apt-get install -y wrk`")
    return path


def post_webhooks(url: str, *, concurrency: int, seconds: int, token: str, workspace_id: str, run: str,
                  event: str = "NEW_TIME_ENTRY") -> LoadResult:
    """POST distinct webhook bodies to ``url`` with ``concurrency`` connections for ``seconds``
    (whole seconds: wrk's ``-d``).

    :param run: a prefix that makes this run's bodies distinct from every other run's.
    """
    if urlsplit(url).hostname != "127.0.0.1":
        raise ValueError("the load generator only sends to 127.0.0.1")
    threads = min(concurrency, 2)
    per_thread_cap = math.ceil(MAX_RATE * seconds / threads)
    env = {**os.environ, "BENCH_TOKEN": token, "BENCH_EVENT": event, "BENCH_WORKSPACE": workspace_id,
           "BENCH_RUN": run, "BENCH_MAX_REQUESTS": str(per_thread_cap)}
    command = [require_wrk(), f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s",
               "-s", str(SCRIPT), url]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if completed.returncode != 0:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr or completed.stdout}")
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    duration = summary["duration_us"] / 1e6
    errors = sum(summary[k] for k in ("errors_connect", "errors_read", "errors_write", "errors_timeout"))
    return LoadResult(
        concurrency=concurrency,
        seconds=round(duration, 3),
        requests=summary["requests"],
        requests_per_second=round(summary["requests"] / duration, 1),
        p50_ms=summary["p50_us"] / 1000,
        p95_ms=summary["p95_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        max_ms=summary["max_us"] / 1000,
        errors=errors + summary["non_2xx"],
        non_2xx=summary["non_2xx"],
        accepted=summary["accepted"],
        duplicate=summary["duplicate"],
        capped=summary["answered"] >= per_thread_cap * threads,
        load_generator_cpu_seconds=round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 3),
    )
