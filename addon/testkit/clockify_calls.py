"""Play Clockify against the add-on: correctly signed lifecycle calls and webhook deliveries,
sent through a Flask test client or over HTTP to a running server.

>>> kit = ClockifySimulator(signer, FlaskTransport(app.test_client()))
>>> installed = kit.install("ws-1")                 # reads /manifest, sends INSTALLED
>>> kit.send_webhook("NEW_TIME_ENTRY", {"id": "te-1", "workspaceId": "ws-1"})
>>> kit.uninstall("ws-1")

The simulator remembers, per workspace, the add-on id and the token it issued for each webhook
the manifest declared, exactly as Clockify does; ``send_webhook`` picks the right token and
route. The transports are in ``addon_transports``, the payload builders (``installed_payload``...)
for hand-made calls in ``clockify_payloads``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from ..clockify import event_types, lifecycle
from .addon_transports import Reply
from .clockify_payloads import (
    DEFAULT_API_URL,
    deleted_payload,
    installed_payload,
    sample_webhook_payload,
    settings_updated_payload,
    status_changed_payload,
)
from .signing import Signer

JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class Installed:
    """What the simulator issued for one workspace's installation."""

    workspace_id: str
    addon_id: str
    auth_token: str = field(repr=False)
    webhook_tokens: dict[str, str] = field(repr=False)  # event -> token
    webhook_paths: dict[str, str]  # event -> route path
    reply: Reply | None = None


class ClockifySimulator:
    """Plays Clockify against the add-on, signing with ``signer``.

    :param transport: ``FlaskTransport(client)`` or ``HttpTransport(url)``.
    :param api_url: the ``apiUrl`` sent in INSTALLED (point it at a fake Clockify).
    :param deterministic: derive every token from the workspace, add-on id and event instead of
        random ids, so separate processes (``flask clockify simulate``) agree on them.
    """

    def __init__(self, signer: Signer, transport, *, api_url: str = DEFAULT_API_URL, deterministic: bool = False):
        self.signer = signer
        self.transport = transport
        self.api_url = api_url
        self.deterministic = deterministic
        self.installs: dict[str, Installed] = {}

    # -- tokens ---------------------------------------------------------------------------
    def lifecycle_token(self, workspace_id: str, addon_id: str) -> str:
        """A lifecycle token (5-minute expiry) for ``workspace_id``."""
        return self.signer.lifecycle_token(workspace_id, addon_id)

    def webhook_token(self, workspace_id: str, addon_id: str, event: str) -> str:
        """The token Clockify would issue for ``event``'s webhook of this installation."""
        return self.signer.webhook_token(workspace_id, addon_id, jti=f"webhook-{event}" if self.deterministic else None)

    def installation_token(self, workspace_id: str, addon_id: str) -> str:
        """The installation token sent as INSTALLED's ``authToken``. Like Clockify's, its
        ``backendUrl`` is the ``apiUrl`` INSTALLED names (pointed elsewhere, the token carries no
        ``reportsUrl``: the add-on derives it from ``apiUrl``)."""
        jti = "installation" if self.deterministic else None
        if self.api_url == self.signer.backend_url:
            return self.signer.installation_token(workspace_id, addon_id, jti=jti)
        return self.signer.installation_token(workspace_id, addon_id, jti=jti, backendUrl=self.api_url, reportsUrl=None)

    # -- requests -------------------------------------------------------------------------
    def manifest(self) -> dict:
        """The add-on's manifest, read from ``GET /manifest``."""
        reply = self.transport.request("GET", "/manifest")
        if reply.status_code != 200:
            raise RuntimeError(f"GET /manifest answered {reply.status_code}")
        return reply.json()

    def send_lifecycle(self, kind: str, payload, *, token: str | None = None, header: str = lifecycle.TOKEN_HEADERS[0],
                       body: bytes | None = None, chunked: bool = False, workspace_id: str | None = None,
                       addon_id: str | None = None) -> Reply:
        """POST a lifecycle call of ``kind`` (``INSTALLED``...) to its path.

        The token defaults to a fresh lifecycle token for the payload's workspace and add-on;
        ``token=""`` sends no token header. ``body`` replaces the JSON of ``payload``.
        """
        if token is None:
            workspace_id = workspace_id or payload["workspaceId"]
            token = self.lifecycle_token(workspace_id, addon_id or payload["addonId"])
        headers = dict(JSON_HEADERS)
        if token:
            headers[header] = token
        raw = body if body is not None else json.dumps(payload).encode()
        return self.transport.request("POST", lifecycle.PATHS[kind], body=raw, headers=headers, chunked=chunked)

    def install(self, workspace_id: str, addon_id: str | None = None, *, settings=None, full_urls: bool = True,
                events: Iterable[str] | None = None, token: str | None = None) -> Installed:
        """Send INSTALLED with one webhook token per webhook the manifest declares (or per
        ``events``), as full URLs (``full_urls``) or manifest paths. A repeat rotates tokens."""
        addon_id = addon_id or (f"addon-{workspace_id}" if self.deterministic else uuid.uuid4().hex[:24])
        if events is None:
            manifest = self.manifest()
            declared = [(w["event"], w["path"]) for w in manifest.get("webhooks", [])]
            base_url = manifest["baseUrl"]
        else:
            declared = [(e, event_types.route_path(event_types.category_of(e))) for e in events]
            base_url = ""
        tokens = {event: self.webhook_token(workspace_id, addon_id, event) for event, _ in declared}
        paths = dict(declared)
        webhooks = [{"path": (base_url + path) if full_urls and base_url else path, "webhookType": "ADDON",
                     "authToken": tokens[event]} for event, path in declared]
        auth_token = self.installation_token(workspace_id, addon_id)
        payload = installed_payload(self.signer, workspace_id, addon_id, auth_token=auth_token, api_url=self.api_url,
                                    webhooks=webhooks, settings=settings)
        reply = self.send_lifecycle(lifecycle.INSTALLED, payload, token=token)
        installed = Installed(workspace_id, addon_id, auth_token, tokens, paths, reply)
        if reply.status_code == 200:
            self.installs[workspace_id] = installed
        return installed

    def _addon_id(self, workspace_id: str, addon_id: str | None) -> str:
        if addon_id is not None:
            return addon_id
        if workspace_id in self.installs:
            return self.installs[workspace_id].addon_id
        if self.deterministic:
            return f"addon-{workspace_id}"
        raise LookupError(f"workspace {workspace_id!r} was not installed through this simulator; pass addon_id")

    def update_settings(self, workspace_id: str, settings: Mapping | list, *, addon_id: str | None = None,
                        token: str | None = None) -> Reply:
        """Send SETTINGS_UPDATED."""
        addon_id = self._addon_id(workspace_id, addon_id)
        return self.send_lifecycle(lifecycle.SETTINGS_UPDATED,
                                   settings_updated_payload(workspace_id, addon_id, settings), token=token)

    def change_status(self, workspace_id: str, status: str, *, addon_id: str | None = None,
                      token: str | None = None) -> Reply:
        """Send STATUS_CHANGED (``ACTIVE`` or ``INACTIVE``)."""
        addon_id = self._addon_id(workspace_id, addon_id)
        return self.send_lifecycle(lifecycle.STATUS_CHANGED, status_changed_payload(workspace_id, addon_id, status),
                                   token=token)

    def uninstall(self, workspace_id: str, *, addon_id: str | None = None, token: str | None = None) -> Reply:
        """Send DELETED."""
        addon_id = self._addon_id(workspace_id, addon_id)
        return self.send_lifecycle(lifecycle.DELETED, deleted_payload(workspace_id, addon_id), token=token)

    def send_webhook(self, event: str, payload: Mapping | None = None, *, workspace_id: str | None = None,
                     token: str | None = None, path: str | None = None, headers: Mapping | None = None,
                     body: bytes | None = None, chunked: bool = False, addon_id: str | None = None) -> Reply:
        """Deliver ``event`` like Clockify: POST to its category route with ``Clockify-Signature``
        and ``Clockify-Webhook-Event-Type``.

        :param payload: the JSON body (default: ``sample_webhook_payload``).
        :param workspace_id: default: the payload's ``workspaceId``, else the only installed one.
        :param token: default: the token issued at install for ``event`` (pass it for events
            registered through the API, or to test rejections; ``""`` sends none).
        :param path: default: the route of ``event``'s category.
        :param headers: extra headers, winning over the defaults.
        :param body: raw bytes replacing the JSON of ``payload``.
        :param addon_id: deterministic simulators only: the add-on id the token is derived for.
        """
        workspace_id = workspace_id or (payload or {}).get("workspaceId") or self._only_workspace()
        if payload is None and body is None:
            payload = sample_webhook_payload(event, workspace_id)
        if token is None:
            token = self._installed_webhook_token(workspace_id, event, addon_id)
        all_headers = {**JSON_HEADERS, "Clockify-Webhook-Event-Type": event}
        if token:
            all_headers["Clockify-Signature"] = token
        all_headers.update(headers or {})
        raw = body if body is not None else json.dumps(payload).encode()
        route = path or event_types.route_path(event_types.category_of(event))
        return self.transport.request("POST", route, body=raw, headers=all_headers, chunked=chunked)

    def _only_workspace(self) -> str:
        if len(self.installs) != 1:
            raise LookupError(f"pass workspace_id: the simulator holds {len(self.installs)} installations")
        return next(iter(self.installs))

    def _installed_webhook_token(self, workspace_id: str, event: str, addon_id: str | None) -> str:
        installed = self.installs.get(workspace_id)
        if installed is not None and event in installed.webhook_tokens and addon_id in (None, installed.addon_id):
            return installed.webhook_tokens[event]
        if self.deterministic:
            return self.webhook_token(workspace_id, self._addon_id(workspace_id, addon_id), event)
        raise LookupError(f"no webhook token was issued for {event} on {workspace_id!r} (not declared in the "
                          "manifest?): pass token=")

    def ui_url(self, base_url: str, workspace_id: str, *, addon_id: str | None = None, user_id: str = "user-1",
               role: str = "OWNER", theme: str = "DEFAULT", ttl: int = 1800) -> str:
        """The sidebar URL Clockify would open: ``{base_url}/ui?auth_token=<user token>``."""
        token = self.signer.user_token(workspace_id, self._addon_id(workspace_id, addon_id), user_id=user_id,
                                       role=role, theme=theme, ttl=ttl)
        return f"{base_url.rstrip('/')}/ui?{urlencode({'auth_token': token})}"
