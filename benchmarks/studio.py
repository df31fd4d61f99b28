"""API Studio: the catalog answer warm (beside ``/health``, the app's cheapest answer), the time an
execute adds above the fake Clockify's own answer time (beside the same GET sent straight to the
fake, interleaved) with the web workers' CPU per execute (less at the mercy of the machine's
other load than the latency), and the time from a fresh gunicorn's start to its first ``/ui``
page (beside its first ``/health`` answer, in a second fresh start)."""

from __future__ import annotations

import statistics
import subprocess
import time

import requests

from addon.testkit.addon_transports import HttpTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.fake_clockify import FakeClockify
from addon.testkit.signing import Signer

from . import cpu
from .environment import BenchEnvironment
from .stack import Stack, children, free_port, wait_http

WORKSPACE = "ws-bench-studio"
SAMPLES = 200
EXECUTE_SAMPLES = 100
CATALOG_TARGET_MS = 5.0
EXECUTE_OVERHEAD_TARGET_MS = 5.0
OPERATION = "getProjects"


def measure(stack: Stack, bench: BenchEnvironment, *, fake: FakeClockify, addon_url: str,
            web: subprocess.Popen) -> dict:
    """The figures and their references; see the module docstring. ``web`` is the gunicorn
    master serving ``addon_url``."""
    fake.seed(WORKSPACE, "projects", [{"id": f"sp{i:03d}", "name": f"Studio project {i}", "workspaceId": WORKSPACE}
                                      for i in range(50)])
    simulator = ClockifySimulator(bench.signer, HttpTransport(addon_url), api_url=fake.api_url)
    installed = simulator.install(WORKSPACE, settings={"auto_bootstrap": False})
    if installed.reply is None or installed.reply.status_code != 200:
        raise RuntimeError(f"INSTALLED answered {installed.reply and installed.reply.status_code}")
    # The user's token names the fake as its backendUrl: API Studio calls go where it says.
    user = Signer(bench.signer.private_key, bench.signer.addon_key, backend_url=fake.api_url,
                  reports_url=fake.reports_url)
    token = user.user_token(WORKSPACE, installed.addon_id, role="OWNER", ttl=3600)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    catalog_url = f"{addon_url}/ui/api-explorer/endpoints"
    first = _timed(lambda: _ok(session.get(catalog_url, timeout=10)))
    catalog, health = [], []
    for _ in range(SAMPLES):  # interleaved, so both see the same machine
        catalog.append(_timed(lambda: _ok(session.get(catalog_url, timeout=10))))
        health.append(_timed(lambda: _ok(session.get(f"{addon_url}/health", timeout=10))))
    size = len(session.get(catalog_url, timeout=10).content)

    execute_url = f"{addon_url}/ui/api-explorer/execute"
    body = {"operationId": OPERATION, "pathParams": {"workspaceId": WORKSPACE}, "query": {"page-size": "10"}}
    direct_url = f"{fake.api_url}/v1/workspaces/{WORKSPACE}/projects"
    direct_session = requests.Session()
    direct_session.headers["X-Addon-Token"] = token
    _ok(session.post(execute_url, json=body, timeout=10))
    via_addon, direct = [], []
    # The direct GETs do not touch the add-on: the workers' CPU is the executes'.
    meter = cpu.Meter({"web": (children(web.pid), False)})
    meter.start()
    for _ in range(EXECUTE_SAMPLES):
        via_addon.append(_timed(lambda: _ok(session.post(execute_url, json=body, timeout=10))))
        direct.append(_timed(lambda: _ok(direct_session.get(direct_url, params={"page-size": "10"}, timeout=10))))
    execute_cpu_ms = meter.stop()["web"] * 1000 / EXECUTE_SAMPLES

    ui_url = simulator.ui_url("http://placeholder", WORKSPACE, ttl=3600).split("/ui", 1)[1]
    first_ui = _first_answer(stack, bench, f"/ui{ui_url}", "studio-cold-ui")
    first_health = _first_answer(stack, bench, "/health", "studio-cold-health")

    figures = {
        "catalog_bytes": size,
        "catalog_first_ms": round(first, 2),
        "catalog_warm_ms": _summary(catalog),
        "health_ms": _summary(health),
        "execute_ms": _summary(via_addon),
        "direct_to_fake_ms": _summary(direct),
        "fake_latency_ms": fake.latency * 1000,
        "execute_overhead_p50_ms": round(statistics.median(via_addon) - statistics.median(direct), 2),
        "execute_web_cpu_ms": round(execute_cpu_ms, 2),
        "first_ui_seconds": round(first_ui, 3),
        "first_health_seconds": round(first_health, 3),
    }
    figures["rows"] = [
        {"name": f"catalog `GET /ui/api-explorer/endpoints` p50, warm ({size // 1024} KiB)",
         "measured": f"{figures['catalog_warm_ms']['p50']:.2f} ms",
         "reference": f"`/health` p50 {figures['health_ms']['p50']:.2f} ms"},
        {"name": f"execute `{OPERATION}` p50 (overhead above the fake)",
         "measured": f"{figures['execute_ms']['p50']:.1f} ms ({figures['execute_overhead_p50_ms']:+.1f} ms)",
         "reference": f"same GET straight to the fake p50 {figures['direct_to_fake_ms']['p50']:.1f} ms"},
        {"name": f"web workers' CPU per execute `{OPERATION}` ({EXECUTE_SAMPLES} executes)",
         "measured": f"{execute_cpu_ms:.1f} ms", "reference": ""},
        {"name": "process start to first `/ui` page", "measured": f"{first_ui:.2f} s",
         "reference": f"to first `/health` {first_health:.2f} s"},
    ]
    figures["targets"] = [
        {"name": "API Studio catalog p50 warm", "target": f"< {CATALOG_TARGET_MS:g} ms",
         "measured": f"{figures['catalog_warm_ms']['p50']:.2f} ms",
         "met": figures["catalog_warm_ms"]["p50"] < CATALOG_TARGET_MS},
        {"name": "API Studio execute overhead p50", "target": f"< {EXECUTE_OVERHEAD_TARGET_MS:g} ms",
         "measured": f"{figures['execute_overhead_p50_ms']:.1f} ms",
         "met": figures["execute_overhead_p50_ms"] < EXECUTE_OVERHEAD_TARGET_MS},
    ]
    return figures


def _first_answer(stack: Stack, bench: BenchEnvironment, path: str, name: str) -> float:
    """Seconds from spawning a fresh gunicorn to its first 200 on ``path``."""
    port = free_port()
    started = time.monotonic()
    process = stack.gunicorn("wsgi:app", port, bench.web_concurrency, name)
    try:
        return wait_http(f"http://127.0.0.1:{port}{path}", timeout=60, status=200, started=started)
    finally:
        stack.stop_process(process)


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _ok(response: requests.Response) -> requests.Response:
    if response.status_code != 200:
        raise RuntimeError(f"{response.request.method} {response.url.split('?')[0]} answered "
                           f"{response.status_code}: {response.text[:300]}")
    return response


def _summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {"p50": round(statistics.median(ordered), 2), "p95": round(ordered[int(len(ordered) * 0.95) - 1], 2),
            "max": round(ordered[-1], 2), "samples": len(ordered)}
