"""Work a request leaves until its answer is sent: API Studio's audit row, the shared count of
requests sent to Clockify.

Neither changes the answer, yet written before it they made every API Studio call wait for a
PostgreSQL and a Redis round trip more. ``defer(function, ...)`` keeps the call while a web
request is being answered; once the server has sent the answer and closes it (WSGI ``close``),
the kept calls run in order, in an app context, each on its own: one that fails is logged and
the others still run. Outside a web request (an RQ job, a CLI command) ``defer`` calls at once,
and so it does for an answer streamed over time (API Studio's "Fetch all pages"), before the
first byte: its later pages' rows must not come before the first one's.

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

from .request_context import bind, current_request_id, current_workspace_id

log = logging.getLogger(__name__)

_Call = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_kept: contextvars.ContextVar[list[_Call] | None] = contextvars.ContextVar("after_answer", default=None)


def defer(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
    """Call ``function(*args, **kwargs)`` once the current request's answer is sent; at once
    outside a web request."""
    kept = _kept.get()
    if kept is None:
        function(*args, **kwargs)
    else:
        kept.append((function, args, kwargs))


def init_app(app: Flask) -> None:
    """Keep the deferred calls of each request of ``app`` and run them when its answer closes."""
    if not issubclass(app.test_client_class or FlaskClient, ClosingTestClient):  # (the test kit's closes)
        app.test_client_class = ClosingTestClient

    @app.before_request
    def _keep_deferred_calls():
        _kept.set([])

    @app.after_request
    def _run_deferred_calls_on_close(response: Response) -> Response:
        kept = _release()
        if kept and response.is_streamed:
            _run_each(kept)
        elif kept:
            ids = current_request_id(), current_workspace_id()
            response.call_on_close(lambda: _run_in_context(app, kept, ids))
        return response

    @app.teardown_request
    def _run_leftover_calls(_exc):
        # An answer that never reached the hook above (another after_request hook failed).
        _run_each(_release())


class ClosingTestClient(FlaskClient):
    """Flask's test client, reading and closing each answer as a WSGI server does (``buffered``),
    so that the calls deferred until after the answer have run when the test looks."""

    def open(self, *args: Any, buffered: bool = True, follow_redirects: bool = False, **kwargs: Any) -> TestResponse:
        return super().open(*args, buffered=buffered, follow_redirects=follow_redirects, **kwargs)


def _release() -> list[_Call]:
    kept = _kept.get()
    _kept.set(None)
    return kept or []


def _run_in_context(app: Flask, kept: list[_Call], ids: tuple[str | None, str | None]) -> None:
    with app.app_context():
        bind(*ids)  # the request's ids on any log line the calls write
        try:
            _run_each(kept)
        finally:
            bind(None)


def _run_each(kept: list[_Call]) -> None:
    for function, args, kwargs in kept:
        try:
            function(*args, **kwargs)
        except Exception as exc:  # one lost write must not lose the others; no values logged
            name = getattr(function, "__qualname__", type(function).__name__)
            log.error("a write after the answer failed: %s (%s)", name, type(exc).__name__)
