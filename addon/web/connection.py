"""Keep-alive connections survive early refusals.

A view may answer before it reads the body (401 before a 3 MB body, 413 on a Content-Length
over the cap or part-way through a chunked body). The unread bytes stay on the socket; gunicorn
then drains only a little of them after the answer, and closes the connection it had just
announced as ``keep-alive``: the client's next request on it fails.

``CloseUnreadBodies`` wraps the WSGI app and counts what the app reads of ``wsgi.input``. When
the answer starts with body left unread, it reads and discards up to ``DRAIN_BYTES`` more; if
the body still is not finished, the answer says ``Connection: close`` and the server closes the
connection after it. gunicorn drops a ``Connection`` header set by the application, so the
close is asked for through its request object, which ``gunicorn.conf.py``'s ``pre_request``
hook hands over with ``bind_server_request``. Under another server nothing is closed.
"""

from __future__ import annotations

import threading

# What is worth reading to keep a connection: a small unread body (a refused JSON call).
DRAIN_BYTES = 64 * 1024
_READ_SIZE = 16 * 1024
_server_request = threading.local()


def bind_server_request(req) -> None:
    """Remember the server's request object of this thread (gunicorn's ``pre_request``), or
    forget it (None, from ``post_request``)."""
    _server_request.value = req


def _close_after_response() -> None:
    req = getattr(_server_request, "value", None)
    if req is not None:
        req.must_close = True  # gunicorn then answers Connection: close and closes the socket


class _CountingInput:
    """``wsgi.input`` that knows whether the body has been read to its end."""

    def __init__(self, stream, content_length: int | None):
        self._stream = stream
        self._remaining = content_length  # None: chunked, the end is the first empty read
        self.finished = content_length == 0

    def read(self, size: int | None = -1) -> bytes:
        if self.finished:
            return b""
        if self._remaining is not None and (size is None or size < 0 or size > self._remaining):
            size = self._remaining
        return self._count(self._stream.read(size) if size is not None else self._stream.read())

    def readline(self, size: int | None = -1) -> bytes:
        if self.finished:
            return b""
        if self._remaining is not None and (size is None or size < 0 or size > self._remaining):
            size = self._remaining
        return self._count(self._stream.readline(size))

    def __iter__(self):
        while line := self.readline():
            yield line

    def _count(self, data: bytes) -> bytes:
        if self._remaining is not None:
            self._remaining -= len(data)
            self.finished = self._remaining <= 0 or not data
        elif not data:
            self.finished = True
        return data

    def drain(self, limit: int) -> bool:
        """Read and discard at most ``limit`` bytes; True when the body is then finished. A
        declared length over ``limit`` is not read at all."""
        if self._remaining is not None and self._remaining > limit:
            return False
        budget = limit
        while not self.finished and budget > 0:
            data = self.read(min(_READ_SIZE, budget))
            if not data:
                break
            budget -= len(data)
        return self.finished


class CloseUnreadBodies:
    """WSGI middleware: see the module docstring."""

    def __init__(self, app, drain_bytes: int = DRAIN_BYTES):
        self.app = app
        self.drain_bytes = drain_bytes

    def __call__(self, environ, start_response):
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        length = _content_length(environ)
        if not chunked and not length:
            return self.app(environ, start_response)
        body = _CountingInput(environ["wsgi.input"], None if chunked else length)
        environ["wsgi.input"] = body

        def start(status, headers, exc_info=None):
            if not body.finished and not _drained(body, self.drain_bytes):
                _close_after_response()
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def _drained(body: _CountingInput, limit: int) -> bool:
    try:
        return body.drain(limit)
    except (OSError, ValueError):  # the client went away or sent a broken chunk
        return False


def _content_length(environ) -> int | None:
    try:
        value = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return value if value >= 0 else None
