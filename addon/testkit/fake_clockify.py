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

Every request needs ``X-Addon-Token`` (or ``X-Api-Key``): 401 without one. What a request let in
is answered (paginated listings, webhooks, echoes) is ``fake_clockify_api``'s job, the sockets
``fake_clockify_server``'s.
"""

from __future__ import annotations

import fnmatch
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from .fake_clockify_api import API_PREFIX, REPORTS_PREFIX, FakeClockifyApi
from .fake_clockify_server import FakeRequestHandler, FakeServer, RecordedRequest


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


@dataclass
class _Rule:
    pattern: str
    method: str | None
    faults: deque


class FakeClockify(FakeClockifyApi):
    """The fake server. ``start()``/``stop()`` or use it as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency: float = 0.0, signer=None,
                 stateful: bool = False):
        super().__init__(signer=signer, stateful=stateful)
        self.host, self.port = host, port
        self.latency = latency
        self.rate_limit: int | None = None
        self._rules: list[_Rule] = []
        self._log: list[RecordedRequest] = []
        self._revoked: set[str] = set()
        self._arrivals: dict[str | None, deque] = defaultdict(deque)
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeClockify:
        """Listen on ``host:port`` (port 0 = a free one) and serve on a background thread."""
        self._server = FakeServer((self.host, self.port), FakeRequestHandler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-clockify", daemon=True)
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

    # -- serving (called by the handler threads of fake_clockify_server) -------------------
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


def max_in_sliding_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of ``times`` inside any half-open interval ``[t, t + window)``."""
    times = sorted(times)
    best, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best
