"""Audit trail of API Studio calls: who ran which operation, with what, and how it ended.

A call that reaches Clockify is written twice: ``start`` commits a row with outcome
``started`` before the request leaves (no call goes out unaudited), ``finish`` fills in
Clockify's status. A refused call is one ``record``. Parameters are stored with secrets
redacted and large bodies summarised.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..extensions import db
from ..logs import REDACTED, redact
from ..models import ApiCall

STARTED = "started"
MAX_STORED_BODY_BYTES = 16 * 1024
_SECRET_KEY = re.compile(r"(?i)(token|secret|password|passwd|api[-_]?key|authorization|signature|cookie|credential)")


def redact_parameters(value: Any) -> Any:
    """``value`` with secret-named keys masked and token-looking strings removed, recursively;
    NaN and infinities become strings."""
    if isinstance(value, dict):
        return {str(k): (REDACTED if _SECRET_KEY.search(str(k)) else redact_parameters(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_parameters(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON columns cannot hold NaN or infinities
    return value


def stored_request(path_params: dict | None, query: dict | None, body: Any) -> dict:
    """The parameters of a call as they are audited: redacted; a body over 16 KiB is summarised."""
    stored: dict[str, Any] = {"pathParams": redact_parameters(path_params or {}),
                              "query": redact_parameters(query or {})}
    if body is not None:
        size = len(json.dumps(body, default=str).encode())
        stored["body"] = redact_parameters(body) if size <= MAX_STORED_BODY_BYTES else {"_omitted_bytes": size}
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
