"""The sidebar URL carries the user token: gunicorn's access log must not write it."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_access_log_leaves_the_token_out(base_overrides, signer, installation, tmp_path):
    port = _free_port()
    env = {**os.environ, **{k: str(v) for k, v in base_overrides.items()}, "PORT": str(port),
           "WEB_CONCURRENCY": "1", "PYTHONPATH": str(ROOT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "wsgi:app", "--bind", f"127.0.0.1:{port}"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        token = signer.user_token("ws-studio-1", "addon-studio-1")
        response = None
        for _ in range(100):
            try:
                response = requests.get(f"http://127.0.0.1:{port}/ui", params={"auth_token": token}, timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert response is not None and response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
    text = log.read_text()
    access = [json.loads(line)["message"] for line in text.splitlines()
              if line.startswith("{") and json.loads(line)["name"] == "gunicorn.access"]
    assert any('"GET /ui HTTP/1.1" 200' in line for line in access)
    assert token not in text and "auth_token" not in text
