"""API Studio's "Copy as": the code that makes a call directly against Clockify.

The call is checked exactly as Execute checks it (unknown operation, another workspace,
allowed host, size, spec validation) and built the way the add-on would send it, but nothing is
sent and no rate-limit slot is taken, so no audit row is written either.
"""

from __future__ import annotations

from dataclasses import replace

from flask import Blueprint, current_app, g, jsonify, request

from ..clockify.snippets import SnippetCall, all_snippets
from ..flows import studio_execute
from . import studio_calls
from .studio_auth import user_required

bp = Blueprint("studio_snippets", __name__)


@bp.post("/ui/api-explorer/snippets")
@user_required
def snippets():
    """``{operationId, pathParams, query, body}`` → ``{method, url, curl, python, javascript}``."""
    call = studio_calls.parse_execute(request)
    # A snippet sends nothing: no confirmation needed, and always the user's own credentials.
    prepared = studio_execute.prepare(replace(call, confirm=True, use_installation_token=False), g.caller,
                                      current_app.config["SETTINGS"])
    wire = SnippetCall.build(prepared.operation.method, prepared.base_url, prepared.path, prepared.query_pairs,
                             prepared.body)
    return jsonify(method=wire.method, url=wire.url, **all_snippets(wire))
