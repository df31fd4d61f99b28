"""The development stack: as `make dev` starts it (a subprocess), or in this process (a development
app with the sandbox's fake Clockify, served on a real socket and installed)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from werkzeug.serving import make_server

from addon import create_app
from addon.extensions import db
from addon.testkit.processes import clean_env, free_port, stop, wait_for_http
from addon.testkit.sandbox import Sandbox

START_BUDGET_SECONDS = 60


@pytest.fixture
def make_dev(tmp_path):
    """(base URL, log path, start time) of a sandbox run from a folder without ``.env``."""
    port = free_port()
    log = tmp_path / "sandbox.log"
    started = time.monotonic()
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "addon.testkit.sandbox", "--port", str(port),
             "--instance-path", str(tmp_path / "instance")],
            env=clean_env({"ADDON_ENV": "development"}), cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(url + "/health", process, timeout=START_BUDGET_SECONDS)
        yield url, log, started
    finally:
        stop(process)


@pytest.fixture
def sandboxed(app, base_overrides):
    """(dev app, its URL, its sandbox), the add-on installed into the fake (jobs are not run)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    dev_app = create_app({**base_overrides, "ADDON_ENV": "development", "BASE_URL": url})
    server = make_server("127.0.0.1", port, dev_app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    sandbox = Sandbox(dev_app).start()
    assert sandbox.install(url) == 200, sandbox.install_error
    yield dev_app, url, sandbox
    sandbox.stop()
    server.shutdown()
    server.server_close()
    with dev_app.app_context():
        db.session.remove()
        db.engine.dispose()
