"""A development app with the sandbox's fake Clockify, served on a real socket and installed."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from addon import create_app
from addon.extensions import db
from addon.testkit.processes import free_port
from addon.testkit.sandbox import Sandbox


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
