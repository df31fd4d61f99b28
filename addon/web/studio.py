"""API Studio: the sidebar page and its JSON endpoints.

Every endpoint needs the viewing user's token (``Authorization: Bearer`` or ``X-Addon-Token``;
the page itself is opened with ``?auth_token=``). The page gets the token once from its URL,
keeps it in memory and sends it on every XHR.
"""

from __future__ import annotations

import time

from flask import Blueprint, current_app, g, jsonify, make_response, render_template, request

from ..clockify.openapi_catalog import get_catalog
from ..errors import AddonError, NotFound
from ..flows import studio_execute
from ..jobs import bootstrap
from ..models import isoformat_utc
from ..store import workspace_data
from . import studio_calls
from .query_args import QueryArgs
from .studio_auth import authorize, user_required

bp = Blueprint("studio", __name__)
CATALOG_MAX_AGE = 300
MAX_PAGE_SIZE = 200


@bp.get("/ui")
def page():
    """The sidebar page. An invalid token gets an HTML error page with the JSON error's status."""
    try:
        caller = authorize(allow_query=True)
    except AddonError as error:
        html = render_template("studio_error.html", status=error.status, code=error.code, message=error.message)
        return _page_response(html, error.status)
    settings = current_app.config["SETTINGS"]
    claims = caller.claims
    bootstrap = {
        **_session(claims),
        "frameAncestors": settings.frame_ancestors.split(),
        "maxPayloadBytes": settings.api_call_max_payload_bytes,
    }
    theme = "dark" if (claims.theme or "").upper() == "DARK" else "light"
    html = render_template("studio.html", bootstrap=bootstrap, theme=theme)
    return _page_response(html, 200)


@bp.get("/ui/session")
@user_required
def session():
    """What the page needs to know about the current token (a fresh token is checked here)."""
    return jsonify(_session(g.claims))


@bp.get("/ui/api-explorer/endpoints")
@user_required
def endpoints():
    """The catalog: every operation grouped by tag; cached by the browser, revalidated by ETag."""
    catalog = get_catalog()
    return _cacheable(lambda: current_app.response_class(catalog.listing_json, mimetype="application/json"),
                      catalog.etag)


@bp.get("/ui/api-explorer/endpoints/<operation_id>")
@user_required
def endpoint(operation_id: str):
    """One operation with its parameters and resolved request body schema."""
    catalog = get_catalog()
    operation = catalog.get(operation_id)
    if operation is None:
        raise NotFound(f"No operation is named {operation_id!r}.", code="unknown_operation",
                       suggestions=catalog.suggest_operation_ids(operation_id))
    return _cacheable(lambda: jsonify(operation.detail_dict()), f"{catalog.etag}-{operation_id}")


@bp.post("/ui/api-explorer/execute")
@user_required
def execute():
    """Run one operation by id: ``{operationId, pathParams, query, body, confirm}``."""
    return jsonify(studio_execute.run(studio_calls.parse_execute(request), g.caller, current_app.config["SETTINGS"]))


@bp.post("/api-call")
@user_required
def api_call():
    """Run one operation by method and path: ``{method, path, query, body, confirm}``."""
    return jsonify(studio_execute.run(studio_calls.parse_api_call(request), g.caller, current_app.config["SETTINGS"]))


@bp.get("/ui/workspace-data")
@user_required
def cached_workspace_data():
    """Counts of the cached entities per source and, with ``source``, one page of them (``q``:
    only those whose id or JSON contains it)."""
    args = QueryArgs(request.args)
    source = args.text("source")
    search = args.text("q")
    page_number = args.whole_number("page", 1, 1_000_000)
    page_size = args.whole_number("pageSize", 50, MAX_PAGE_SIZE)
    args.done()
    workspace_id = g.claims.workspace_id
    counts = workspace_data.counts(workspace_id)
    items, total = [], sum(counts.values())
    if source is not None:
        rows, total = workspace_data.search_entities(workspace_id, source, search, limit=page_size,
                                                     offset=(page_number - 1) * page_size)
        items = [{"entityId": r.entity_id, "name": _entity_name(r.data), "data": r.data,
                  "fetchedAt": isoformat_utc(r.fetched_at)} for r in rows]
    collections = [{"source": f.source, "freshness": f.kept_by, "events": list(f.events),
                    "lastRefreshedAt": isoformat_utc(f.last_refreshed_at)}
                   for f in bootstrap.collection_freshness(workspace_id, counts)]
    return jsonify(counts=counts, source=source, page=page_number, pageSize=page_size, total=total, items=items,
                   collections=collections)


def _session(claims) -> dict:
    settings = current_app.config["SETTINGS"]
    return {
        "workspaceId": claims.workspace_id,
        "userId": claims.user_id,
        "role": claims.workspace_role,
        "theme": claims.theme,
        "language": claims.language,
        "expiresAt": claims.expires_at,
        "serverTime": time.time(),
        "backendUrl": claims.backend_url,
        "reportsUrl": studio_execute.reports_url_of(claims),
        "installationTokenAllowed": settings.studio_allow_installation_token and claims.is_admin,
    }


def _cacheable(build, etag: str):
    """The JSON response ``build()`` makes, with ``ETag``; 304 when the browser already has it."""
    if etag in request.if_none_match:
        response = make_response("", 304)
    else:
        response = build()
    response.set_etag(etag)
    # The catalog is the same for everyone, but only authenticated users may fetch it.
    response.headers["Cache-Control"] = f"private, max-age={CATALOG_MAX_AGE}"
    response.headers["Vary"] = "Authorization, X-Addon-Token"
    return response


def _page_response(html: str, status: int):
    settings = current_app.config["SETTINGS"]
    response = make_response(html, status)
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        "script-src 'self'; "
        "style-src 'self'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "object-src 'none'; "
        "base-uri 'none'; "
        "form-action 'none'; "
        f"frame-ancestors {settings.frame_ancestors}"
    )
    # Bootstrap data comes in a data- attribute, so no inline script needs allowing. The URL
    # carries the user token: never cache the page.
    response.headers["Cache-Control"] = "no-store"
    return response


def _entity_name(data) -> str | None:
    if isinstance(data, dict):
        for key in ("name", "description", "email"):
            if isinstance(data.get(key), str):
                return data[key]
    return None
