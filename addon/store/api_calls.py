"""Audit trail of API Studio calls: who ran which operation, with what, and how it ended.

A call that reaches Clockify is written twice: ``start`` commits a row with outcome
``started`` before the request leaves (no call goes out unaudited), ``finish`` fills in
Clockify's status. A refused call is one ``record``. Parameters are stored with secrets
redacted and large bodies summarised.
"""

from __future__ import annotations

import json
from typing import Any

from ..extensions import db
from ..logs import redact, redact_value
from ..models import ApiCall

STARTED = "started"
MAX_STORED_BODY_BYTES = 16 * 1024
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
           error: str | None = None, token_kind: str = "user") -> ApiCall:
    """Write and commit one audit row; returns it."""
    row = ApiCall(workspace_id=workspace_id, user_id=user_id, operation_id=operation_id, method=method[:8],
                  path=path[:512], token_kind=token_kind, request=request, outcome=outcome[:32],
                  status_code=status_code, duration_ms=duration_ms, error=redact(error)[:2000] if error else None)
    db.session.add(row)
    db.session.commit()
    return row


def start(workspace_id: str, **fields) -> ApiCall:
    """Commit the row of a call about to be sent (outcome ``started``)."""
    return record(workspace_id, outcome=STARTED, **fields)


def finish(row: ApiCall, *, outcome: str, status_code: int | None, duration_ms: float,
           error: str | None = None) -> None:
    """Complete the row written by ``start``."""
    row.outcome = outcome[:32]
    row.status_code = status_code
    row.duration_ms = duration_ms
    row.error = redact(error)[:2000] if error else None
    db.session.commit()


def recent(workspace_id: str, limit: int = 50, user_id: str | None = None) -> list[ApiCall]:
    """The latest audit rows of ``workspace_id`` (optionally of one user), newest first."""
    query = db.select(ApiCall).where(ApiCall.workspace_id == workspace_id)
    if user_id is not None:
        query = query.where(ApiCall.user_id == user_id)
    return list(db.session.execute(query.order_by(ApiCall.id.desc()).limit(limit)).scalars())
