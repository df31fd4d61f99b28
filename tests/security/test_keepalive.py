"""Early refusals never poison a kept-alive connection (issue #11 item 5).

Against real gunicorn, over raw sockets: a request whose body the app refuses before reading it
(401 before the body, 413 on Content-Length or while streaming a chunked body), then a second
request on the same socket. Either that second request is answered normally, or the first
answer said ``Connection: close`` and the server closed the socket: never a garbled answer or
a request that hangs.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from addon.testkit import processes

pytestmark = pytest.mark.slow

CAP = 65536
BIG = 3 * 1024 * 1024


@pytest.fixture(scope="module")
def server(base_overrides, tmp_path_factory):
    """gunicorn (1 worker x 2 threads, keep-alive on) with small body caps."""
    port = processes.free_port()
    variables = {**base_overrides, "PORT": str(port), "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2",
                 "LOG_LEVEL": "WARNING", "WEBHOOK_MAX_PAYLOAD_BYTES": str(CAP),
                 "API_CALL_MAX_PAYLOAD_BYTES": str(CAP)}
    log = tmp_path_factory.mktemp("gunicorn") / "server.log"
    with open(log, "wb") as output:
        process = processes.start("gunicorn", variables, processes.ROOT, stdout=output)
    try:
        processes.wait_for_http(f"http://127.0.0.1:{port}/health", process)
        yield port
    finally:
        processes.stop(process)


def _read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, str], bytes] | None:
    """One HTTP/1.1 response (Content-Length or chunked framing), or None when the server closed
    the connection before sending any byte."""
    sock.settimeout(timeout)
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            assert buffer == b"", f"connection closed inside a response head: {buffer[:200]!r}"
            return None
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response body"
        rest += chunk
    return int(status_line.split()[1]), headers, rest[:length]


def _chunked(body: bytes, size: int = 16384) -> bytes:
    parts = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def _send_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    """Send ``data`` from a thread: the server may answer (and close) before it has read it all."""
    def send():
        try:
            sock.sendall(data)
        except OSError:
            pass  # the server closed the connection: allowed when it said Connection: close
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


# (name, method, path, headers, body, chunked, expected first status)
REFUSALS = [
    ("401 before a Content-Length body, execute", "POST", "/ui/api-explorer/execute",
     {"Authorization": "Bearer not-a-token"}, BIG, False, 401),
    ("401 before a chunked body, execute", "POST", "/ui/api-explorer/execute",
     {"Authorization": "Bearer not-a-token"}, BIG, True, 401),
    ("401 before a Content-Length body, api-call", "POST", "/api-call", {}, BIG, False, 401),
    ("401 before a small body, bootstrap", "POST", "/bootstrap", {}, 1000, False, 401),
    ("401 before a chunked body, bootstrap", "POST", "/bootstrap", {}, 100_000, True, 401),
    ("413 on Content-Length, webhook", "POST", "/webhooks/time", {}, BIG, False, 413),
    ("413 while streaming chunks, webhook", "POST", "/webhooks/time", {}, BIG, True, 413),
    ("413 while streaming chunks, just over the cap", "POST", "/webhooks/time", {}, CAP + 10, True, 413),
    ("413 on Content-Length, lifecycle", "POST", "/lifecycle/installed", {}, BIG, False, 413),
    ("413 while streaming chunks, lifecycle", "POST", "/lifecycle/deleted", {}, BIG, True, 413),
    ("401 on a lifecycle body under the cap", "POST", "/lifecycle/deleted", {}, CAP - 100, True, 401),
    ("a body sent to a GET", "GET", "/health", {}, 200_000, False, 200),
    ("a chunked body sent to a GET", "GET", "/health", {}, 200_000, True, 200),
    ("404 with a body", "POST", "/no-such-route", {}, BIG, False, 404),
]


@pytest.mark.parametrize(("name", "method", "path", "headers", "size", "chunked", "status"), REFUSALS,
                         ids=[r[0] for r in REFUSALS])
def test_the_next_request_on_the_connection_is_answered(server, name, method, path, headers, size, chunked, status):
    body = b'{"a": "' + b"x" * (size - 9) + b'"}'
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(len(body))}
    head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", "Content-Type": "application/json",
                                                **framing, **headers}.items())
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\n{head}\r\n".encode())
        sender = _send_in_background(sock, _chunked(body) if chunked else body)
        first = _read_response(sock)
        assert first is not None and first[0] == status, first
        if first[1].get("connection", "").lower() == "close":
            sender.join(10)
            assert _closed_by_server(sock), "Connection: close was answered, but the socket stays open"
            return
        sender.join(10)
        assert not sender.is_alive(), "the server stopped reading a body on a kept-alive connection"
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        second = _read_response(sock)
        assert second is not None and second[0] == 200, second


def _closed_by_server(sock: socket.socket, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return False


def test_many_refusals_in_a_row_on_one_connection(server):
    """Ten early refusals, then a good request, all on one socket (the issue saw 9 of 10 fail)."""
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        for _ in range(10):
            body = b"x" * 200_000
            sock.sendall(b"POST /ui/session HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            answer = _read_response(sock)
            assert answer is not None and answer[0] in (401, 405), answer
            if answer[1].get("connection", "").lower() == "close":
                return
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n")
        assert _read_response(sock)[0] == 200
