"""What the fake Clockify answers once a request is let in (``fake_clockify`` checks its token,
injected faults and the rate limit first): the entities seeded per workspace and the webhooks,
in the shapes the spec gives them.

Listings paginate with ``page`` and ``page-size`` (or ``pageSize``) and answer a
``Last-Page: true|false`` header (``last_page_header = False`` omits it). Webhooks can be
created, listed and deleted. With ``stateful=True`` writes change the seeded entities (see
``fake_entities``). Any other operation of the spec answers its success status with an echo of
the request.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import defaultdict
from typing import Any

import jwt

from ..clockify import openapi_spec
from ..clockify.openapi_catalog import get_catalog
from . import fake_entities

API_PREFIX = "/api"
REPORTS_PREFIX = "/reports"
WORKSPACE_PATH = re.compile(r"^/v1/workspaces/([^/]+)(?:/(.*))?$")
_WEBHOOK = re.compile(r"^webhooks/([^/]+)$")
_ADDON_WEBHOOKS = re.compile(r"^addons/([^/]+)/webhooks$")
DEFAULT_PAGE_SIZE = 50


class FakeClockifyApi:
    """The entities and webhooks of the fake, and its answer to each request; ``FakeClockify``
    serves it over HTTP."""

    def __init__(self, *, signer=None, stateful: bool = False):
        self.stateful = stateful
        self.signer = signer
        self.last_page_header = True
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = defaultdict(dict)
        self._webhooks: dict[str, dict[str, dict]] = defaultdict(dict)
        self._write_listeners: list = []

    # -- data ------------------------------------------------------------------------------
    def seed(self, workspace_id: str, collection: str, items: list[dict] | dict) -> None:
        """Serve ``items`` at ``/v1/workspaces/<workspace_id>/<collection>``.

        ``collection`` is the path below the workspace: ``projects``, ``users``,
        ``projects/<id>/tasks``, ``user/<id>/time-entries``, ``expenses``... A list is paginated
        (and wrapped the way the spec wraps it, e.g. ``{"invoices": [...], "total": n}``); a dict
        is answered as is (``""`` is the workspace itself). Seeding again replaces.
        """
        with self._lock:
            self._data[workspace_id][collection.strip("/")] = items

    def seed_tasks(self, workspace_id: str, project_id: str, tasks: list[dict]) -> None:
        """Tasks of one project."""
        self.seed(workspace_id, f"projects/{project_id}/tasks", tasks)

    def seed_time_entries(self, workspace_id: str, user_id: str, entries: list[dict]) -> None:
        """Time entries of one user."""
        self.seed(workspace_id, f"user/{user_id}/time-entries", entries)

    def webhooks(self, workspace_id: str) -> list[dict]:
        """Webhooks currently registered on ``workspace_id``."""
        with self._lock:
            return [dict(w) for w in self._webhooks[workspace_id].values()]

    def on_write(self, callback) -> None:
        """Call ``callback(workspace_id, change)`` after each entity write (``stateful`` only),
        on the request's thread, once the answer is decided."""
        self._write_listeners.append(callback)

    def entities(self, workspace_id: str, collection: str) -> list[dict] | dict | None:
        """What the fake serves at ``collection`` of ``workspace_id`` now (a copy)."""
        with self._lock:
            seeded = self._data.get(workspace_id, {}).get(collection.strip("/"))
            return json.loads(json.dumps(seeded)) if seeded is not None else None

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: Any,
               headers: dict[str, str]) -> tuple[int, dict, Any]:
        """The (status, headers, body) of a request that passed auth and fault injection."""
        if path.startswith(REPORTS_PREFIX + "/"):
            return self._echo(method, path[len(REPORTS_PREFIX):], query, body)
        if not path.startswith(API_PREFIX + "/"):
            return 404, {}, {"message": "Not found", "code": 404}
        api_path = path[len(API_PREFIX):]
        found = WORKSPACE_PATH.match(api_path)
        if found is None:
            return self._echo(method, api_path, query, body)
        workspace_id, rest = found.group(1), (found.group(2) or "").strip("/")
        webhook_answer = self._webhook_answer(method, workspace_id, rest, body, headers)
        if webhook_answer is not None:
            return webhook_answer
        if self.stateful:
            written = self._write(method, workspace_id, api_path, rest, body)
            if written is not None:
                return written
        if method == "GET":
            with self._lock:
                seeded = self._data.get(workspace_id, {}).get(rest)
                if seeded is None and self.stateful:
                    seeded = fake_entities.find(self._data.get(workspace_id, {}), rest)
            if seeded is not None:
                return self._listing(api_path, rest, seeded, query)
            shape = _response_shape(api_path)
            if shape is not None and shape[0] != "object":
                return self._listing(api_path, rest, [], query)
        return self._echo(method, api_path, query, body)

    def _write(self, method, workspace_id, api_path, rest, body) -> tuple[int, dict, Any] | None:
        with self._lock:
            change = fake_entities.apply(self._data[workspace_id], workspace_id, method, rest, body)
        if change is None:
            return None
        for listener in list(self._write_listeners):
            listener(workspace_id, change)
        found = _spec_operation(method, api_path)
        status = openapi_spec.success_response(openapi_spec.load(), found[1])[0] if found else 200
        return status, {}, change.entity

    def _listing(self, api_path: str, rest: str, seeded: list | dict, query) -> tuple[int, dict, Any]:
        if isinstance(seeded, dict):
            return 200, {}, seeded
        page = _int_param(query, "page") or 1
        size = _int_param(query, "page-size") or _int_param(query, "pageSize") or DEFAULT_PAGE_SIZE
        start = (page - 1) * size
        items = seeded[start:start + size]
        headers = {"Last-Page": "true" if start + size >= len(seeded) else "false"} if self.last_page_header else {}
        shape = _response_shape(api_path) or ("array", ())
        return 200, headers, _wrap(shape, items, len(seeded))

    def _webhook_answer(self, method, workspace_id, rest, body, headers):
        if rest == "webhooks" and method == "POST":
            return self._create_webhook(workspace_id, body or {}, headers)
        if method == "GET" and rest == "webhooks":
            hooks = self.webhooks(workspace_id)
            return 200, {}, {"webhooks": hooks, "workspaceWebhookCount": len(hooks)}
        if method == "GET" and _ADDON_WEBHOOKS.match(rest):
            return 200, {}, self.webhooks(workspace_id)
        found = _WEBHOOK.match(rest)
        if found and method in ("GET", "DELETE"):
            with self._lock:
                hook = (self._webhooks[workspace_id].pop if method == "DELETE"
                        else self._webhooks[workspace_id].get)(found.group(1), None)
            if hook is None:
                return 404, {}, {"message": "Webhook not found", "code": 404}
            return 200, {}, hook
        return None

    def _create_webhook(self, workspace_id, body, headers):
        missing = [k for k in ("url", "webhookEvent", "triggerSourceType") if not body.get(k)]
        if missing:
            return 400, {}, {"message": f"Missing fields: {', '.join(missing)}", "code": 400}
        hook_id = uuid.uuid4().hex[:24]
        hook = {"id": hook_id, "name": body.get("name", ""), "url": body["url"],
                "webhookEvent": body["webhookEvent"], "triggerSourceType": body["triggerSourceType"],
                "triggerSource": body.get("triggerSource", []), "enabled": True, "deliveryEnabled": True,
                "workspaceId": workspace_id, "authToken": self._webhook_token(workspace_id, headers)}
        with self._lock:
            self._webhooks[workspace_id][hook_id] = hook
        return 201, {}, hook

    def _webhook_token(self, workspace_id: str, headers: dict[str, str]) -> str:
        if self.signer is None:
            return "fake-webhook-token-" + uuid.uuid4().hex
        try:
            claims = jwt.decode(headers.get("x-addon-token", ""), options={"verify_signature": False})
        except jwt.InvalidTokenError:
            claims = {}
        return self.signer.webhook_token(workspace_id, claims.get("addonId", "fake-addon"))

    @staticmethod
    def _echo(method, api_path, query, body):
        found = _spec_operation(method, api_path)
        status = openapi_spec.success_response(openapi_spec.load(), found[1])[0] if found else 200
        return status, {}, {"fake": True, "method": method, "path": api_path, "query": query, "body": body}


def _spec_operation(method: str, api_path: str) -> tuple[str, dict] | None:
    """The (template, operation) of the spec that ``method api_path`` (``/v1/...``) calls, found
    by the catalog's path matcher (the add-on's only one), or None."""
    resolution = get_catalog().resolve(method, api_path)
    if resolution is None:
        return None
    template = resolution.operation.path
    return template, openapi_spec.load()["paths"][template][method.lower()]


def _int_param(query: dict[str, list[str]], name: str) -> int | None:
    try:
        return max(1, int(query[name][0]))
    except (KeyError, IndexError, ValueError):
        return None


_SHAPES: dict[str, tuple[str, tuple[str, ...]] | None] = {}


def _response_shape(api_path: str) -> tuple[str, tuple[str, ...]] | None:
    """("array", ()), ("wrapped", path to the list) or ("object", ()) for a GET of the spec."""
    found = _spec_operation("GET", api_path)
    if found is None:
        return None
    template = found[0]
    if template not in _SHAPES:
        spec = openapi_spec.load()
        schema = openapi_spec.success_response(spec, found[1])[1] or {}
        from ..clockify.bootstrap_operations import list_path

        path = list_path(spec, schema, template.rstrip("/").rsplit("/", 1)[-1])
        _SHAPES[template] = ("object", ()) if path is None else (("array", ()) if not path else ("wrapped", path))
    return _SHAPES[template]


def _wrap(shape: tuple[str, tuple[str, ...]], items: list, total: int) -> Any:
    kind, path = shape
    if kind != "wrapped":
        return items
    body: Any = items
    for depth, key in enumerate(reversed(path)):
        # Each wrapper also carries its count, as Clockify's do ("count"/"total").
        body = {key: body, "count": total} if depth == 0 else {key: body}
    return body
