"""A fake Clockify API on 127.0.0.1: real sockets, a thread per connection, spec-shaped answers.

Serves the REST API under ``/api`` (``fake.api_url`` plays ``backendUrl``) and the reports API
under ``/reports`` (``fake.reports_url``). Tests seed entities per workspace, inject faults,
add latency, and read a log of every request::

    with FakeClockify(latency=0.1) as fake:
        fake.seed("ws1", "projects", [{"id": "p1", "name": "Site"}])
        fake.seed("ws1", "projects/p1/tasks", [{"id": "t1"}])
        fake.inject("*/projects", Fault.rate_limited(retry_after="1"), Fault.status(500))
        ...
        fake.max_requests_per_window(1.0, workspace_id="ws1")

With ``stateful=True`` (the development sandbox) writes change the seeded entities (see
``fake_entities``) and each change is passed to the callbacks given to ``on_write``, which is how
the sandbox delivers Clockify's webhooks.

Listings paginate with ``page`` and ``page-size`` (or ``pageSize``) and answer a
``Last-Page: true|false`` header (``fake.last_page_header = False`` omits it). Webhooks can be
created, listed and deleted. Any other operation of the spec answers its success status with an
echo of the request. Every request needs ``X-Addon-Token`` (or ``X-Api-Key``): 401 without one.
"""

from __future__ import annotations

import fnmatch
import json
import re
import socket
import struct
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from ..clockify import openapi_spec
from ..clockify.openapi_catalog import get_catalog
from . import fake_entities

API_PREFIX = "/api"
REPORTS_PREFIX = "/reports"
_WORKSPACE = re.compile(r"^/v1/workspaces/([^/]+)(?:/(.*))?$")
_WEBHOOK = re.compile(r"^webhooks/([^/]+)$")
_ADDON_WEBHOOKS = re.compile(r"^addons/([^/]+)/webhooks$")
UNAUTHORIZED = {"message": "Full authentication is required to access this resource", "code": 401}
DEFAULT_PAGE_SIZE = 50
# Linux: the kernel stamps each received segment (SO_TIMESTAMPNS), so the log records when a
# request reached the machine even if the server's threads were not scheduled at that moment.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


@dataclass(frozen=True)
class Fault:
    """One injected answer. Build with the class methods."""

    kind: str
    code: int = 200
    headers: dict = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0

    @classmethod
    def status(cls, code: int, body: Any = None, headers: dict | None = None) -> Fault:
        """Answer ``code`` with ``body`` (default: a Clockify-style error message)."""
        if body is None:
            body = {"message": f"Injected {code}", "code": code}
        return cls("status", code=code, headers=dict(headers or {}), body=body)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1") -> Fault:
        """429 "Too many requests", with ``Retry-After`` unless None."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls.status(429, {"message": "Too many requests", "code": 429}, headers)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """The normal answer, after ``seconds`` (to trigger read timeouts)."""
        return cls("slow", delay=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls("drop")


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received. ``at`` is when it arrived, on the ``time.monotonic()`` clock
    (from the kernel's receive timestamp on Linux)."""

    at: float
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    status: int | None
    workspace_id: str | None
    target: str = ""  # the request target exactly as received: raw path and query

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Rule:
    pattern: str
    method: str | None
    faults: deque


class FakeClockify:
    """The fake server. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0, signer=None,
                 stateful: bool = False):
        self.host, self.port = host, port
        self.stateful = stateful
        self._write_listeners: list = []
        self.latency = latency
        self.last_page_header = True
        self.rate_limit: int | None = None
        self.signer = signer
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] = defaultdict(dict)
        self._webhooks: dict[str, dict[str, dict]] = defaultdict(dict)
        self._rules: list[_Rule] = []
        self._log: list[RecordedRequest] = []
        self._revoked: set[str] = set()
        self._arrivals: dict[str | None, deque] = defaultdict(deque)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeClockify:
        """Listen on ``host:port`` (port 0 = a free one) and serve on a background thread."""
        self._server = _Server((self.host, self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-clockify", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every open connection."""
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeClockify:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Base of the REST API, like the ``backendUrl`` claim / INSTALLED ``apiUrl``."""
        return self.url + API_PREFIX

    @property
    def reports_url(self) -> str:
        """Base of the reports API, like the ``reportsUrl`` claim."""
        return self.url + REPORTS_PREFIX

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

    def revoke_token(self, token: str) -> None:
        """Answer 401 to every later request made with ``token`` (an uninstalled add-on)."""
        with self._lock:
            self._revoked.add(token)

    # -- faults ----------------------------------------------------------------------------
    def inject(self, path_glob: str, *faults: Fault, method: str | None = None) -> None:
        """Answer the next requests whose path (``/api/v1/...``) matches ``path_glob`` with
        ``faults``, one each, in order; later requests are served normally again."""
        with self._lock:
            self._rules.append(_Rule(path_glob, method.upper() if method else None, deque(faults)))

    def clear_faults(self) -> None:
        with self._lock:
            self._rules.clear()

    # -- request log -----------------------------------------------------------------------
    def requests(self, method: str | None = None, path_glob: str | None = None) -> list[RecordedRequest]:
        """Requests received so far, oldest first, optionally filtered."""
        with self._lock:
            log = list(self._log)
        return [r for r in log if (method is None or r.method == method.upper())
                and (path_glob is None or fnmatch.fnmatchcase(r.path, path_glob))]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def max_requests_per_window(self, window: float = 1.0, *, workspace_id: str | None = None,
                                path_glob: str | None = None) -> int:
        """The most requests (of ``workspace_id``) that arrived within any ``window`` seconds."""
        times = [r.at for r in self.requests(path_glob=path_glob)
                 if workspace_id is None or r.workspace_id == workspace_id]
        return max_in_sliding_window(times, window)

    # -- serving (called by the handler threads) ---------------------------------------------
    def _next_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.faults and (rule.method is None or rule.method == method) \
                        and fnmatch.fnmatchcase(path, rule.pattern):
                    return rule.faults.popleft()
        return None

    def _record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _over_rate_limit(self, workspace_id: str | None, at: float) -> bool:
        if self.rate_limit is None:
            return False
        with self._lock:
            arrivals = self._arrivals[workspace_id]
            while arrivals and arrivals[0] <= at - 1.0:
                arrivals.popleft()
            arrivals.append(at)
            return len(arrivals) > self.rate_limit

    def _is_revoked(self, token: str) -> bool:
        with self._lock:
            return token in self._revoked

    def answer(self, method: str, path: str, query: dict[str, list[str]], body: Any,
               headers: dict[str, str]) -> tuple[int, dict, Any]:
        """The (status, headers, body) of a request that passed auth and fault injection."""
        if path.startswith(REPORTS_PREFIX + "/"):
            return self._echo(method, path[len(REPORTS_PREFIX):], query, body)
        if not path.startswith(API_PREFIX + "/"):
            return 404, {}, {"message": "Not found", "code": 404}
        api_path = path[len(API_PREFIX):]
        found = _WORKSPACE.match(api_path)
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


def max_in_sliding_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of ``times`` inside any half-open interval ``[t, t + window)``."""
    times = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True
    fake: FakeClockify

    def __init__(self, *args, **kwargs):
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self):
        conn, addr = super().get_request()
        try:
            conn.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:  # not Linux: arrival times fall back to when a thread reads the request
            pass
        with self._open_lock:
            self._open.add(conn)
        return conn, addr

    def shutdown_request(self, request):
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_all(self) -> None:
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each answer would wait ~40 ms for
    # the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format, *args):
        return

    def handle_one_request(self):
        self._arrived = self._kernel_arrival()
        super().handle_one_request()

    def _kernel_arrival(self) -> float | None:
        """When the next request's first bytes reached the socket, on the monotonic clock."""
        try:
            data, ancillary, _, _ = self.connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
        except OSError:
            return None
        for level, kind, payload in ancillary:
            if data and level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                seconds, nanoseconds = struct.unpack("qq", payload[:16])
                return seconds + nanoseconds / 1e9 - (time.time() - time.monotonic())
        return None

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _handle(self) -> None:
        at = getattr(self, "_arrived", None) or time.monotonic()
        fake = self.server.fake
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {k.lower(): v for k, v in self.headers.items()}
        raw = self.rfile.read(int(headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        found = _WORKSPACE.match(parts.path.removeprefix(API_PREFIX).removeprefix(REPORTS_PREFIX))
        workspace_id = found.group(1) if found else None

        def record(status):
            fake._record(RecordedRequest(at, self.command, parts.path, query, headers, body, status, workspace_id,
                                         self.path))

        token = headers.get("x-addon-token") or headers.get("x-api-key")
        fault = fake._next_fault(self.command, parts.path)
        delay = fake.latency + (fault.delay if fault is not None else 0.0)
        if fault is not None and fault.kind == "drop":
            record(None)
            self.close_connection = True
            return
        if not token or fake._is_revoked(token):
            status, extra, answer = 401, {}, UNAUTHORIZED
        elif fake._over_rate_limit(workspace_id, at):
            status, extra, answer = 429, {"Retry-After": "1"}, {"message": "Too many requests", "code": 429}
        elif fault is not None and fault.kind == "status":
            status, extra, answer = fault.code, fault.headers, fault.body
        else:
            status, extra, answer = fake.answer(self.command, parts.path, query, body, headers)
        record(status)
        if delay > 0:
            time.sleep(delay)
        payload = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client went away (e.g. its read timeout fired)
            self.close_connection = True
