"""What ``flask clockify simulate`` does: sign with the local development key and play Clockify
against a running server, so a developer exercises the real verification path.

The server trusts that key only when ``ADDON_ENV=development``. Tokens are derived from the
workspace and add-on id (``deterministic``), so separate commands agree: ``simulate webhook``
sends the token ``simulate install`` (or ``make dev``, which installs the same way) registered.

Defaults come from the running ``make dev`` server (``instance/dev-server.json``): its URL, its
fake Clockify, its workspace and add-on id. Without one, the server is ``http://127.0.0.1:$PORT``
(``PORT`` as for ``make dev``, 5000 by default) and Clockify is the real one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import requests

from ..clockify.client import reports_base
from ..dev_signing_key import dev_private_key
from .addon_transports import HttpTransport, Reply
from .clockify_calls import ClockifySimulator
from .clockify_payloads import DEFAULT_API_URL
from .sandbox import DEFAULT_PORT, read_runtime
from .signing import Signer

DEFAULT_WORKSPACE = "dev-workspace"
SIGNATURE_CHECKS = ("signature", "issuer", "subject", "algorithm")


@dataclass(frozen=True)
class Target:
    """Where the commands go and who they speak for."""

    url: str
    api_url: str
    reports_url: str
    workspace_id: str
    addon_id: str | None


def target(app, url: str | None = None, api_url: str | None = None, workspace_id: str | None = None,
           addon_id: str | None = None) -> Target:
    """Options given win; then the running ``make dev`` server's description; then defaults."""
    running = read_runtime(app.instance_path) or {}
    api_url = api_url or running.get("api_url") or DEFAULT_API_URL
    return Target(
        url=(url or running.get("url") or f"http://127.0.0.1:{os.environ.get('PORT') or DEFAULT_PORT}").rstrip("/"),
        api_url=api_url,
        reports_url=running["reports_url"] if api_url == running.get("api_url") and running.get("reports_url")
        else reports_base(api_url),
        workspace_id=workspace_id or running.get("workspace_id") or DEFAULT_WORKSPACE,
        addon_id=addon_id or (running.get("addon_id") if workspace_id in (None, running.get("workspace_id")) else None))


def dev_simulator(app, where: Target) -> ClockifySimulator:
    """A simulator signing with ``app``'s development key, talking to ``where.url``; the tokens it
    makes name ``where.api_url`` as Clockify's."""
    settings = app.config["SETTINGS"]
    signer = Signer(dev_private_key(app.instance_path), settings.addon_key, backend_url=where.api_url,
                    reports_url=where.reports_url)
    return ClockifySimulator(signer, HttpTransport(where.url), api_url=where.api_url, deterministic=True)


def send_through_sandbox(where: Target, event: str, payload: dict | None) -> Reply:
    """Ask the running sandbox's fake Clockify to deliver ``event`` (it holds the tokens of the
    webhooks registered through the API too)."""
    body: dict[str, Any] = {"event": event, **({"payload": payload} if payload is not None else {})}
    response = requests.post(where.url + "/dev/webhooks/send", json=body, timeout=30)
    return Reply(response.status_code, dict(response.headers), response.content)


def describe(reply: Reply) -> str:
    """One status line and the JSON body, for the terminal (hints go to ``hint``)."""
    try:
        body = json.dumps(reply.json(), indent=2)
    except ValueError:
        body = reply.body.decode("utf-8", "replace")
    return f"HTTP {reply.status_code}\n{body}"


def hint(reply: Reply, event: str | None = None) -> str | None:
    """Why a refusal happened, when the answer tells (None otherwise)."""
    try:
        answer = reply.json() or {}
    except ValueError:
        answer = {}
    check = answer.get("check") if isinstance(answer, dict) else None
    if reply.status_code == 401 and check in SIGNATURE_CHECKS:
        return "the server trusts the development key only when it runs with ADDON_ENV=development"
    if reply.status_code == 401 and check == "webhook_token":
        return (f"the server holds no token for {event or 'this event'} on this workspace: install it first "
                "(`make dev` or `flask clockify simulate install`) with the same --workspace")
    return None
