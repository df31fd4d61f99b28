"""Audit trail of API Studio calls: who ran which operation, with what, and how it ended.

Every call is one ``record``, one statement committed on its own (``autocommit_connection``,
outside the request's session): a refused call when it is refused, a sent call once Clockify
answered (or could not be reached), with the outcome. A process killed while a call is in flight
leaves no row for it: the price of one write per call instead of two. On PostgreSQL that
statement's commit does not wait for the WAL to reach the disk (``synchronous_commit`` off for
its own transaction, set in the statement itself, since an autocommitted statement has no
transaction block for ``SET LOCAL``): waiting cost each call more than a millisecond, and what it
protects against, the server itself crashing within the fraction of a second before the WAL
writer flushes, would lose only audit rows of calls already answered, never leave the database
inconsistent. Parameters are stored with secrets redacted and large bodies summarised; a sent
call also keeps its URL as it went on the wire (``url``, secrets redacted the same way), so the
audit shows the call Clockify received, not only the one validated.
"""

from __future__ import annotations

import json
from typing import Any, cast

import sqlalchemy as sa

from ..extensions import autocommit_connection, db
from ..logs import redact, redact_url, redact_value
from ..models import ApiCall, utcnow

MAX_STORED_BODY_BYTES = 16 * 1024
_calls = cast(sa.Table, ApiCall.__table__)
_COLUMNS = ("workspace_id", "user_id", "operation_id", "method", "path", "url", "token_kind", "request", "outcome",
            "status_code", "duration_ms", "error", "created_at")
# Built once and run on a connection, not through the ORM: the audit row is on the hot path of
# every call.
_INSERT_CALL = sa.insert(_calls).values(
    **{name: sa.bindparam(name, type_=_calls.c[name].type) for name in _COLUMNS}).returning(_calls.c.id)
# The same row selected FROM set_config(...): the setting holds for this statement's own
# transaction (the casts give the parameters their column's type in a SELECT list).
_INSERT_CALL_ASYNC_COMMIT = sa.insert(_calls).from_select(_COLUMNS, sa.select(
    *(sa.cast(sa.bindparam(name, type_=_calls.c[name].type), _calls.c[name].type) for name in _COLUMNS)
).select_from(sa.func.set_config("synchronous_commit", "off", True))).returning(_calls.c.id)


def stored_request(path_params: dict | None, query: dict | None, body: Any) -> dict:
    """The parameters of a call as they are audited: redacted; a body over 16 KiB is summarised."""
    stored: dict[str, Any] = {"pathParams": redact_value(path_params or {}),
                              "query": redact_value(query or {})}
    if body is not None:
        size = len(json.dumps(body, default=str).encode())
        stored["body"] = redact_value(body) if size <= MAX_STORED_BODY_BYTES else {"_omitted_bytes": size}
    return stored


def record(workspace_id: str, *, user_id: str | None, operation_id: str | None, method: str, path: str,
           request: dict, outcome: str, status_code: int | None = None, duration_ms: float | None = None,
           error: str | None = None, token_kind: str = "user", url: str | None = None) -> int:
    """Write one audit row, committed on its own; returns its id. ``url`` is the URL exactly as it
    goes on the wire (query included), for a call that is sent; it is kept with secrets redacted,
    like the parameters."""
    values = {
        "workspace_id": workspace_id, "user_id": user_id, "operation_id": operation_id, "method": method[:8],
        "path": path[:512], "url": redact_url(url) if url else None, "token_kind": token_kind, "request": request,
        "outcome": outcome[:32],
        "status_code": status_code, "duration_ms": duration_ms, "error": redact(error)[:2000] if error else None,
        "created_at": utcnow()}
    with autocommit_connection() as connection:
        insert = _INSERT_CALL_ASYNC_COMMIT if connection.dialect.name == "postgresql" else _INSERT_CALL
        return connection.execute(insert, values).scalar_one()


def recent(workspace_id: str, limit: int = 50, user_id: str | None = None) -> list[ApiCall]:
    """The latest audit rows of ``workspace_id`` (optionally of one user), newest first."""
    query = db.select(ApiCall).where(ApiCall.workspace_id == workspace_id)
    if user_id is not None:
        query = query.where(ApiCall.user_id == user_id)
    return list(db.session.execute(query.order_by(ApiCall.id.desc()).limit(limit)).scalars())


# Status classes the history can be filtered by; ``refused`` is a call that never got an answer
# from Clockify (refused by the add-on, or Clockify unreachable).
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "refused")


def history(workspace_id: str, *, user_id: str | None, search: str | None = None, status_class: str | None = None,
            page_number: int = 1, per_page: int = 25) -> tuple[list[ApiCall], int]:
    """One page of ``workspace_id``'s audit rows, newest first, and how many match in all.

    ``user_id=None`` lists every user's calls (workspace admins only: the caller decides).
    ``search`` matches the operation id or the path, case-insensitively; ``status_class`` is one
    of ``STATUS_CLASSES``.
    """
    query = db.select(ApiCall).where(ApiCall.workspace_id == workspace_id)
    if user_id is not None:
        query = query.where(ApiCall.user_id == user_id)
    if search:
        pattern = "%" + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(db.or_(db.func.lower(ApiCall.operation_id).like(pattern, escape="\\"),
                                   db.func.lower(ApiCall.path).like(pattern, escape="\\")))
    if status_class == "refused":
        query = query.where(ApiCall.status_code.is_(None))
    elif status_class is not None:
        floor = int(status_class[0]) * 100
        query = query.where(ApiCall.status_code >= floor, ApiCall.status_code < floor + 100)
    total = db.session.execute(db.select(db.func.count()).select_from(query.subquery())).scalar_one()
    rows = db.session.execute(query.order_by(ApiCall.id.desc()).limit(per_page)
                              .offset((page_number - 1) * per_page)).scalars()
    return list(rows), total
