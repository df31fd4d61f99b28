"""Real processes: a gunicorn (2 workers x 4 threads) over HTTP, where concurrent duplicates
collapse to one row and one job and chunked bodies are capped while streaming; and
``python worker.py``, whose periodic sweep finds events nobody enqueued."""

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from addon.testkit.processes import stop
from addon.testkit.webhooks import delivery_headers, entity_payload

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(base_overrides, tmp_path_factory):
    port = _free_port()
    env = {**os.environ, **{k: str(v) for k, v in base_overrides.items()},
           "PORT": str(port), "WEB_CONCURRENCY": "2", "GUNICORN_THREADS": "4", "LOG_LEVEL": "WARNING",
           "WEBHOOK_MAX_PAYLOAD_BYTES": "65536"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app"], cwd=ROOT, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):  # not listening, or no worker booted yet
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        stop(process)  # SIGKILL after 30 s: no server outlives its test


def test_twenty_concurrent_copies_of_a_re_seen_state_give_one_new_event(server, workspace, stored_events):
    headers = delivery_headers("TIME_ENTRY_UPDATED", workspace.tokens["time"])
    a, b = (json.dumps(entity_payload(workspace.workspace_id, "te-reseen", description=d)).encode() for d in "AB")
    for body in (a, b):
        assert requests.post(f"{server}/webhooks/time", data=body, headers=headers, timeout=30).json()[
            "status"] == "accepted"
    barrier, answers, lock = threading.Barrier(20), [], threading.Lock()

    def send():
        with requests.Session() as session:
            barrier.wait()
            response = session.post(f"{server}/webhooks/time", data=a, headers=headers, timeout=30)
            with lock:
                answers.append(response.json())

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    rows = stored_events()
    assert len(rows) == 3, answers
    assert sorted(answer["status"] for answer in answers) == ["accepted"] + ["duplicate"] * 19
    assert {answer["id"] for answer in answers} == {str(rows[-1].id)}


def test_twenty_concurrent_identical_deliveries_leave_one_row_and_one_job(server, workspace, stored_events,
                                                                         queued_jobs):
    body = json.dumps(entity_payload(workspace.workspace_id, "te-race", description="same")).encode()
    headers = delivery_headers("NEW_TIME_ENTRY", workspace.tokens["time"])
    barrier, answers, lock = threading.Barrier(20), [], threading.Lock()

    def send():
        with requests.Session() as session:
            barrier.wait()
            response = session.post(f"{server}/webhooks/time", data=body, headers=headers, timeout=30)
            with lock:
                answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [status for status, _ in answers] == [200] * 20, answers
    [row] = stored_events()
    assert sorted(a["status"] for _, a in answers) == ["accepted"] + ["duplicate"] * 19
    assert {a["id"] for _, a in answers} == {str(row.id)}
    assert queued_jobs("high") == [("process_received_events", (workspace.workspace_id,))]


def test_chunked_bodies_are_capped_while_streaming(server, workspace, stored_events):
    headers = delivery_headers("NEW_PROJECT", workspace.tokens["project"])

    def chunks(total: int):
        sent = 0
        while sent < total:
            piece = b" " * min(8192, total - sent)
            sent += len(piece)
            yield piece
        yield json.dumps(entity_payload(workspace.workspace_id, "p-chunked")).encode()

    too_big = requests.post(f"{server}/webhooks/project", data=chunks(70_000), headers=headers, timeout=30)
    assert too_big.status_code == 413 and too_big.json()["error"] == "payload_too_large"
    small = requests.post(f"{server}/webhooks/project", data=chunks(1000), headers=headers, timeout=30)
    assert small.status_code == 200 and small.json()["status"] == "accepted"
    assert [json.loads(r.payload)["id"] for r in stored_events()] == ["p-chunked"]


def test_production_worker_sweeps_events_it_never_received(base_overrides, workspace, deliver, stored_events,
                                                           tmp_path):
    """``python worker.py`` schedules the sweep itself; an event stored while Redis was down
    gets processed without anyone enqueueing it."""
    from addon import create_app
    from addon.extensions import db

    no_redis = create_app({**base_overrides, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert deliver(workspace, "NEW_TAG", app_client=no_redis.test_client()).status_code == 200
    with no_redis.app_context():
        db.engine.dispose()
    assert stored_events()[0].status == "received"

    env = {**os.environ, **{k: str(v) for k, v in base_overrides.items()},
           "WEBHOOK_SWEEP_SECONDS": "1", "LOG_LEVEL": "WARNING"}
    log = tmp_path / "worker.log"
    with open(log, "wb") as output:
        process = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while stored_events()[0].status != "processed":
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
    finally:
        exit_code = stop(process)  # SIGKILL after 30 s: no worker outlives its test to take later tests' jobs
    assert exit_code == 0, f"the worker did not stop on SIGTERM:\n{log.read_text()[-3000:]}"
    assert stored_events()[0].attempts == 1
