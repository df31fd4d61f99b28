"""The fake Clockify's HTTP side: a threaded server whose ``stop`` closes every open connection,
and a handler that stamps each request's arrival (from the kernel on Linux), lets it in or not
(token, injected fault, rate limit), records it and writes the answer.
"""

from __future__ import annotations

import json
import selectors
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .fake_clockify_api import API_PREFIX, REPORTS_PREFIX, WORKSPACE_PATH

if TYPE_CHECKING:
    from .fake_clockify import FakeClockify

UNAUTHORIZED = {"message": "Full authentication is required to access this resource", "code": 401}
# Linux: the kernel stamps each received segment (SO_TIMESTAMPNS), so the log records when a
# request reached the machine even if the server's threads were not scheduled at that moment.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


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


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True
    # ``handle_request`` is only called once the socket is ready: it must not wait for another.
    timeout = 0
    fake: FakeClockify

    def __init__(self, *args, **kwargs):
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._wake_receiver, self._wake_sender = socket.socketpair()
        super().__init__(*args, **kwargs)

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until ``shutdown``. ``poll_interval`` is ignored: ``shutdown`` wakes the loop
        rather than ``socketserver``'s loop noticing it at its next poll, so a test suite that
        stops thousands of fakes does not wait a poll interval for each."""
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(self, selectors.EVENT_READ)
                selector.register(self._wake_receiver, selectors.EVENT_READ)
                while not self._stopping.is_set():
                    ready = [key.fileobj for key, _ in selector.select()]
                    if self in ready and not self._stopping.is_set():
                        self.handle_request()
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        """Stop the ``serve_forever`` loop of another thread and wait until it has ended."""
        self._stopping.set()
        self._wake_sender.send(b"\0")
        self._stopped.wait()

    def server_close(self) -> None:
        super().server_close()
        self._wake_receiver.close()
        self._wake_sender.close()

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


class FakeRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each answer would wait ~40 ms for
    # the client's delayed ACK.
    disable_nagle_algorithm = True
    server: FakeServer

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
        found = WORKSPACE_PATH.match(parts.path.removeprefix(API_PREFIX).removeprefix(REPORTS_PREFIX))
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
