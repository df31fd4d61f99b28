"""API Studio's History tab: the audit rows of ``api_calls``, read back by the people who made them.

A user sees only their own calls in the token's workspace; workspace owners and admins may ask
for the whole workspace (``scope=workspace``). The parameters were redacted when they were
stored, so what is shown here is what the audit holds, never a secret.
"""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..errors import Forbidden
from ..models import isoformat_utc
from ..store import api_calls
from .query_args import QueryArgs
from .studio_auth import user_required

bp = Blueprint("studio_history", __name__)
MAX_PAGE_SIZE = 100
SCOPES = ("mine", "workspace")


@bp.get("/ui/history")
@user_required
def history():
    """One page of API Studio calls, newest first: ``?scope=&q=&statusClass=&page=&pageSize=``.

    :raise Forbidden: 403 ``admin_required`` for ``scope=workspace`` by a non-admin.
    """
    args = QueryArgs(request.args)
    scope = args.choice("scope", SCOPES, default="mine")
    search = args.text("q")
    status_class = args.choice("statusClass", api_calls.STATUS_CLASSES)
    page_number = args.whole_number("page", 1, 1_000_000)
    page_size = args.whole_number("pageSize", 25, MAX_PAGE_SIZE)
    args.done()
    claims = g.claims
    if scope == "workspace" and not claims.is_admin:
        raise Forbidden("Only workspace owners and admins may see everyone's calls.", code="admin_required")
    rows, total = api_calls.history(claims.workspace_id, user_id=None if scope == "workspace" else claims.user_id,
                                    search=search, status_class=status_class, page_number=page_number,
                                    per_page=page_size)
    return jsonify(scope=scope, page=page_number, pageSize=page_size, total=total,
                   items=[_history_item(row) for row in rows])


def _history_item(row) -> dict:
    return {"id": row.id, "userId": row.user_id, "operationId": row.operation_id, "method": row.method,
            "path": row.path, "tokenKind": row.token_kind, "request": row.request or {},
            "statusCode": row.status_code, "outcome": row.outcome, "durationMs": row.duration_ms,
            "error": row.error, "createdAt": isoformat_utc(row.created_at)}
