"""Work a request leaves until its answer is sent: API Studio's audit row, the shared count of
requests sent to Clockify.

Neither changes the answer, yet written before it they made every API Studio call wait for a
PostgreSQL and a Redis round trip more. ``defer(function, ...)`` keeps the call while a web
request is being answered; once the server has sent the answer and closes it (WSGI ``close``),
the kept calls run in order, in an app context, each on its own: one that fails is logged and
the others still run. Outside a web request (an RQ job, a CLI command) ``defer`` calls at once,
and so it does for an answer streamed over time (API Studio's "Fetch all pages"), before the
first byte: its later pages' rows must not come before the first one's.

The calls are kept by a WSGI middleware around the app, not by a response: whatever answer
leaves (one an ``after_request`` hook broke and Flask replaced by a 500, or none at all when
an error propagates), the calls run once, when it closes (or when the error leaves the app).

What it trades: a process killed (SIGKILL) between the answer and the write loses the write. The
same window was there before, between Clockify's answer and the write; and a write that fails no
longer turns a call Clockify carried out into an error answer that the user would retry. A
graceful stop lets gunicorn finish the request, its ``close`` included.

Flask's test client closes an answer only when asked to; ``init_app`` gives the app one that
reads and closes each answer, as a server does, so a test sees the deferred writes.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response
from flask.testing import FlaskClient
from werkzeug.test import TestResponse
from werkzeug.wsgi import ClosingIterator

from .request_context import bind, current_request_id, current_workspace_id

log = logging.getLogger(__name__)

_Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class _Kept:
    """The calls one request deferred, and the ids its log lines carry."""

    def __init__(self) -> None:
        self.calls: list[_Call] = []
        self.ids: tuple[str | None, str | None] = (None, None)

    def release(self) -> list[_Call]:
        calls, self.calls = self.calls, []
        return calls


_kept: contextvars.ContextVar[_Kept | None] = contextvars.ContextVar("after_answer", default=None)


def defer(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Call ``function(*args, **kwargs)`` once the current request's answer is sent; at once
    outside a web request."""
    kept = _kept.get()
    if kept is None:
        function(*args, **kwargs)
    else:
        kept.calls.append((function, args, kwargs))


def init_app(app: Flask) -> None:
    """Keep the deferred calls of each request of ``app`` and run them when its answer closes."""
    if not issubclass(app.test_client_class or FlaskClient, ClosingTestClient):  # (the test kit's closes)
        app.test_client_class = ClosingTestClient
    app.wsgi_app = _RunAfterAnswer(app, app.wsgi_app)  # type: ignore[method-assign]

    @app.after_request
    def _note_ids_or_run_before_a_stream(response: Response) -> Response:
        kept = _kept.get()
        if kept is not None:
            kept.ids = current_request_id(), current_workspace_id()
            if response.is_streamed:  # what the stream defers later runs at once, in page order
                _run_each(kept.release())
        return response


class _RunAfterAnswer:
    """WSGI middleware: keeps a request's deferred calls, runs them when its answer closes."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Any]) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        kept = _Kept()
        previous = _kept.set(kept)
        try:
            answer = self.wsgi_app(environ, start_response)
        except BaseException:
            self._run(kept)
            raise
        finally:
            # Past the app's return only a streamed body runs, and its calls run at once; a
            # thread whose answer is never closed keeps nothing for its next work either.
            _kept.reset(previous)
        return ClosingIterator(answer, lambda: self._run(kept))

    def _run(self, kept: _Kept) -> None:
        calls = kept.release()
        if calls:
            with self.app.app_context():
                bind(*kept.ids)  # the request's ids on any log line the calls write
                try:
                    _run_each(calls)
                finally:
                    bind(None)


class ClosingTestClient(FlaskClient):
    """Flask's test client, reading and closing each answer as a WSGI server does (``buffered``),
    so that the calls deferred until after the answer have run when the test looks."""

    def open(self, *args: Any, buffered: bool = True, follow_redirects: bool = False, **kwargs: Any) -> TestResponse:
        return super().open(*args, buffered=buffered, follow_redirects=follow_redirects, **kwargs)


def _run_each(kept: list[_Call]) -> None:
    for function, args, kwargs in kept:
        try:
            function(*args, **kwargs)
        except Exception as exc:  # one lost write must not lose the others; no values logged
            name = getattr(function, "__qualname__", type(function).__name__)
            log.error("a write after the answer failed: %s (%s)", name, type(exc).__name__)
