"""The development sandbox behind ``make dev``: the add-on in development mode and a seeded fake
Clockify in one process, the add-on installed into the fake at start.

``python -m addon.testkit.sandbox --port 5000`` (what ``make dev`` runs):

1. builds the app with ``ADDON_ENV=development`` and migrates its database (SQLite in
   ``instance/`` unless ``DATABASE_URL`` says otherwise);
2. starts the fake Clockify on 127.0.0.1 (``--fake-port``, a free one by default), seeded with
   ``seed_workspace``; it signs with the development key, which development trusts, and its host
   is a loopback one, which development allows;
3. serves the app on ``--host:--port`` (werkzeug, threaded) and installs it into the fake:
   INSTALLED signed as Clockify signs it, with a token per webhook of the manifest; the add-on
   then bootstraps the workspace from the fake and registers the remaining webhooks with it;
4. writes ``instance/dev-server.json`` (server URL, fake API URL, workspace and add-on ids) so
   ``flask clockify simulate ...`` and ``flask webhooks replay`` find the running server.

Writes through API Studio change the fake's entities and come back as signed webhooks
(``fake_webhooks``). The index page (``GET /``) reads the running sandbox from
``app.extensions[EXTENSION_KEY]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import threading
import time
import uuid
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, make_server

from ..dev_signing_key import dev_private_key
from .addon_transports import HttpTransport
from .clockify_calls import ClockifySimulator
from .fake_clockify import FakeClockify
from .fake_webhooks import MANIFEST, Subscription, WebhookDeliverer
from .seed_workspace import build_workspace
from .signing import Signer

log = logging.getLogger(__name__)
EXTENSION_KEY = "addon.dev_sandbox"
RUNTIME_FILE = "dev-server.json"
WORKSPACE_ID = "64b7f1a2c3d4e5f6a7b8c9d0"
ADDON_ID = "64b7f1a2c3d4e5f6a7b8c9ad"
DEFAULT_PORT = 5000


class Sandbox:
    """The fake Clockify of a development app, seeded, and what it delivers back."""

    def __init__(self, app, *, host: str = "127.0.0.1", fake_port: int = 0):
        self.app = app
        settings = app.config["SETTINGS"]
        self.signer = Signer(dev_private_key(settings.instance_path), settings.addon_key)
        self.fake = FakeClockify(host, fake_port, signer=self.signer, stateful=True)
        self.deliverer = WebhookDeliverer(self.fake)
        self.workspace = build_workspace(WORKSPACE_ID)
        self.workspace_id, self.addon_id = WORKSPACE_ID, ADDON_ID
        self.installed_at: float | None = None
        self.install_error: str | None = None

    def start(self) -> Sandbox:
        """Start and seed the fake Clockify; tokens it signs now name its URLs."""
        self.fake.start()
        self.signer.backend_url, self.signer.reports_url = self.fake.api_url, self.fake.reports_url
        for collection, items in self.workspace.collections().items():
            self.fake.seed(self.workspace_id, collection, items)
        self.app.extensions[EXTENSION_KEY] = self
        return self

    def stop(self) -> None:
        """Finish pending deliveries and stop the fake."""
        self.deliverer.close()
        self.fake.stop()

    def install(self, server_url: str) -> int:
        """Install the add-on running at ``server_url`` into the fake, as Clockify does: INSTALLED
        with a token per manifest webhook, which the fake then uses to deliver. :return: the status."""
        kit = ClockifySimulator(self.signer, HttpTransport(server_url), api_url=self.fake.api_url,
                                deterministic=True)
        installed = kit.install(self.workspace_id, self.addon_id)
        reply = installed.reply
        if reply is None:  # install always sends, and keeps the answer
            raise RuntimeError("the simulator sent no INSTALLED")
        status = reply.status_code
        if status != 200:
            self.install_error = f"INSTALLED answered {status}: {reply.body[:200]!r}"
            return status
        base_url = self.app.config["SETTINGS"].base_url
        self.deliverer.subscribe_manifest(self.workspace_id, [
            Subscription(event, base_url + installed.webhook_paths[event], token, MANIFEST)
            for event, token in installed.webhook_tokens.items()])
        self.installed_at, self.install_error = time.time(), None
        return status

    def user_token(self, role: str) -> str:
        """A fresh 30-minute user token for the owner (``OWNER``) or a regular member (``USER``)."""
        user = self.workspace.owner if role == "OWNER" else self.workspace.member
        return self.signer.user_token(self.workspace_id, self.addon_id, user_id=user["id"], role=role)

    def send_sample(self, event: str, payload: dict | None = None, timeout: float = 10.0) -> list[int | None]:
        """Deliver ``payload`` (default: a small sample) as ``event`` through every webhook
        subscribing to it; :return: the add-on's statuses (None: not reached)."""
        if payload is None:
            payload = {"id": uuid.uuid4().hex[:24], "workspaceId": self.workspace_id, "name": f"Sample {event}"}
        return [future.result(timeout).status for future in self.deliverer.deliver(self.workspace_id, event, payload)]

    def runtime_info(self, server_url: str) -> dict:
        """What ``dev-server.json`` records for the CLI."""
        return {"url": server_url, "api_url": self.fake.api_url, "reports_url": self.fake.reports_url,
                "workspace_id": self.workspace_id,
                "addon_id": self.addon_id, "pid": os.getpid()}


class _RequestLog(WSGIRequestHandler):
    """One short line per request (``POST /webhooks/project 200``), without the query string,
    which may carry a token (``/ui?auth_token=``)."""

    def log_request(self, code="-", size="-"):
        log.info("%s %s %s", self.command, self.path.split("?", 1)[0], getattr(code, "value", code))


def runtime_file(instance_path: str) -> Path:
    """Where the running sandbox describes itself."""
    return Path(instance_path) / RUNTIME_FILE


def read_runtime(instance_path: str) -> dict | None:
    """The running sandbox's ``dev-server.json``, or None."""
    try:
        return json.loads(runtime_file(instance_path).read_text())
    except (OSError, ValueError):
        return None


def build_app(host: str, port: int, instance_path: str | None = None):
    """The development app ``make dev`` serves: ADDON_ENV and BASE_URL default to this server."""
    from .. import create_app
    from ..config import read_environ

    environ = read_environ()
    if environ.get("ADDON_ENV", "development").strip() not in ("", "development"):
        raise SystemExit(f"configuration error: ADDON_ENV must be development for the sandbox "
                         f"(got {environ['ADDON_ENV']!r})")
    overrides = {"ADDON_ENV": "development"}
    if not environ.get("BASE_URL", "").strip():
        overrides["BASE_URL"] = f"http://{host}:{port}"
    return create_app(overrides, instance_path=os.path.abspath(instance_path) if instance_path else None)


def main(argv: list[str] | None = None) -> None:
    """Run the sandbox until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m addon.testkit.sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or DEFAULT_PORT))
    parser.add_argument("--fake-port", type=int, default=0, help="port of the fake Clockify (default: a free one)")
    parser.add_argument("--instance-path", default=None, help="instance folder (default: instance/)")
    args = parser.parse_args(argv)

    from flask_migrate import upgrade

    from ..config import read_environ
    from ..logs import configure_logging, early_log_format

    configure_logging(fmt=early_log_format({"ADDON_ENV": "development", **read_environ()}))
    app = build_app(args.host, args.port, args.instance_path)
    settings = app.config["SETTINGS"]
    with app.app_context():
        upgrade()
    # After the migrations: Alembic's env.py installs its own logging configuration.
    configure_logging(settings.log_level, fmt=settings.log_format)
    sandbox = Sandbox(app, host=args.host, fake_port=args.fake_port).start()
    server = make_server(args.host, args.port, app, threaded=True, request_handler=_RequestLog)
    server_url = f"http://{args.host}:{server.server_port}"
    serving = threading.Thread(target=server.serve_forever, name="dev-server", daemon=True)
    serving.start()
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    info = runtime_file(settings.instance_path)
    try:
        status = sandbox.install(server_url)
        info.write_text(json.dumps(sandbox.runtime_info(server_url), indent=2))
        log.warning("sandbox ready: open %s/ (fake Clockify at %s, workspace %s, INSTALLED answered %s)",
                    server_url, sandbox.fake.api_url, sandbox.workspace_id, status)
        stopping.wait()
    finally:
        info.unlink(missing_ok=True)
        server.shutdown()
        sandbox.stop()


if __name__ == "__main__":
    main()
