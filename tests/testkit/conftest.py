"""Real HTTP servers on 127.0.0.1 for the test kit and developer CLI tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import make_server

from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator


@pytest.fixture
def kit(app, client, signer):
    """Plays Clockify against the session app."""
    return ClockifySimulator(signer, FlaskTransport(client))


@pytest.fixture
def serve():
    """``serve(app)`` runs ``app`` on a free port in a thread and returns its base URL."""
    servers = []

    def start(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def recorder():
    """A tiny HTTP server that answers 200 ``{"recorded": true}`` and keeps every request."""
    requests: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            requests.append({"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)})
            payload = json.dumps({"recorded": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.requests = requests
    yield server
    server.shutdown()
    server.server_close()
