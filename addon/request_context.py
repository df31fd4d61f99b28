"""The request id: accepted from ``X-Request-ID`` when well-formed, generated otherwise.

Kept in a ContextVar (safe under gunicorn's threads) and, inside RQ jobs, read from the job's meta.
"""

from __future__ import annotations

import contextvars
import re
import uuid

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_workspace_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("workspace_id", default=None)


def sanitize(value: str | None) -> str:
    """Return ``value`` when it is 1-128 characters of ``[A-Za-z0-9._-]``, else a new id."""
    if value and _VALID.match(value):
        return value
    return uuid.uuid4().hex


def bind(request_id: str | None, workspace_id: str | None = None) -> None:
    """Set the ids that log lines and enqueued jobs will carry."""
    _request_id.set(request_id)
    _workspace_id.set(workspace_id)


def bind_workspace(workspace_id: str | None) -> None:
    """Record the workspace the current request or job is about."""
    _workspace_id.set(workspace_id)


def current_request_id() -> str | None:
    """The request id of the current request or job, if any."""
    rid = _request_id.get()
    if rid is None:
        job = _current_job()
        if job is not None:
            rid = job.meta.get("request_id")
    return rid


def current_workspace_id() -> str | None:
    """The workspace id of the current request or job, if known."""
    wid = _workspace_id.get()
    if wid is None:
        job = _current_job()
        if job is not None:
            wid = job.meta.get("workspace_id")
    return wid


def _current_job():
    from rq import get_current_job

    try:
        return get_current_job()
    except Exception:  # no job, or Redis unreachable: logging must never fail
        return None
