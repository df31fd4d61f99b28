"""API Studio's "Fetch all pages": one list operation walked page by page on the server.

A bounded streaming response, not a job: the pages run with the user's own token, which must not
be written to Redis for a worker, and a run is short by construction. It stops at the last page
(``Last-Page: true``, else a short page), at ``STUDIO_MAX_PAGES`` pages, after
``MAX_RUN_SECONDS``, or when the merged items pass ``MAX_MERGED_BYTES``; so a gunicorn thread is
held for at most about a minute. Cancelling is closing the connection: the next progress line
fails to write, the server closes this generator, and no further page is requested.

Every page is an ordinary API Studio call (``addon.flows.studio_execute.run``): the same checks,
an audit row each, and a slot of the workspace's shared rate budget. A spent budget is waited out
(the run goes on at the pace the budget allows) instead of being refused.

The answer is NDJSON: ``{"type": "progress", "pages", "items", "requestsLeft",
"rateLimitRemaining"}`` after each page, then one ``{"type": "done", "stoppedBy", "pages",
"items", "status", "headers", "body", "duration_ms", "request"}`` whose body is the merged list.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, replace

from flask import Blueprint, Response, current_app, g, request, stream_with_context

from ..clockify.bootstrap_operations import PAGE_SIZE_PARAMS
from ..errors import AddonError, NotFound, RateLimited, ValidationFailed
from ..flows import studio_execute
from ..flows.studio_execute import CallRequest
from ..jobs.bootstrap_plan import is_last_page
from . import studio_calls
from .studio_auth import user_required

bp = Blueprint("studio_pages", __name__)
MAX_RUN_SECONDS = 60.0
MAX_MERGED_BYTES = 20 * 1024 * 1024
RATE_LIMIT_PAUSE_SECONDS = 0.2
# ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
_PAGE_SIZE_TEXT = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class PagePlan:
    """How one run pages: the page-size parameter, the page size, the page cap, the deadline."""

    size_param: str
    page_size: int
    max_pages: int
    deadline: float


@bp.post("/ui/api-explorer/all-pages")
@user_required
def all_pages():
    """``{operationId, pathParams, query}`` of a GET with ``page`` and a page-size parameter →
    NDJSON progress lines, then the merged result. The first page is fetched before the answer
    starts, so a refused call gets its usual JSON error."""
    call = studio_calls.parse_execute(request)
    plan = _plan(call)
    first = _fetch(call, plan, 1)
    return Response(stream_with_context(_walk(call, plan, first)), mimetype="application/x-ndjson",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _plan(call: CallRequest) -> PagePlan:
    operation = call.operation
    if operation is None:
        raise NotFound(call.unknown_message, code="unknown_operation", suggestions=call.suggestions)
    params = {p["name"]: p for p in operation.parameters_in("query")}
    size_param = next((name for name in PAGE_SIZE_PARAMS if name in params), None)
    if operation.method != "GET" or "page" not in params or size_param is None:
        raise ValidationFailed("This operation is not paginated.", errors=[{
            "location": "body", "field": "operationId", "message": "Only GET operations with page and page-size."}])
    settings = current_app.config["SETTINGS"]
    maximum = (params[size_param].get("schema") or {}).get("maximum")
    asked = call.query.get(size_param)
    if asked is None:
        size = settings.bootstrap_page_size
    elif isinstance(asked, int) and not isinstance(asked, bool) and asked > 0:
        size = asked
    elif isinstance(asked, str) and _PAGE_SIZE_TEXT.fullmatch(asked) and int(asked) > 0:
        size = int(asked)
    else:
        raise ValidationFailed("The page size is invalid.", errors=[
            {"location": "query", "field": size_param, "message": "Must be a whole number above 0."}])
    size = min(size, int(maximum)) if maximum else size
    return PagePlan(size_param, size, settings.studio_max_pages, time.monotonic() + MAX_RUN_SECONDS)


def _fetch(call: CallRequest, plan: PagePlan, page: int) -> dict:
    """Page ``page`` through the ordinary call path, waiting out a spent rate budget."""
    query = {name: value for name, value in call.query.items() if name not in ("page", *PAGE_SIZE_PARAMS)}
    paged = replace(call, query={**query, "page": page, plan.size_param: plan.page_size}, confirm=False)
    while True:
        try:
            return studio_execute.run(paged, g.caller, current_app.config["SETTINGS"])
        except RateLimited:
            if time.monotonic() + RATE_LIMIT_PAUSE_SECONDS > plan.deadline:
                raise
            time.sleep(RATE_LIMIT_PAUSE_SECONDS)


def _items(body) -> tuple[list | None, str | None]:
    """The items of a page: the body when it is a list, or its one list-valued field."""
    if isinstance(body, list):
        return body, None
    if isinstance(body, dict):
        lists = [key for key, value in body.items() if isinstance(value, list)]
        if len(lists) == 1:
            return body[lists[0]], lists[0]
    return None, None


def _header(answer: dict, name: str) -> str | None:
    return next((value for key, value in answer["headers"].items() if key.lower() == name.lower()), None)


def _walk(call, plan: PagePlan, first: dict):
    started = time.monotonic()
    items, key = _items(first["body"])
    merged = list(items or [])
    size = len(json.dumps(merged))
    pages, answer, stopped = 1, first, None
    while True:
        yield _line({"type": "progress", "pages": pages, "items": len(merged),
                     "requestsLeft": plan.max_pages - pages,
                     "rateLimitRemaining": _header(answer, "X-RateLimit-Remaining")})
        page_items, _ = _items(answer["body"])
        if answer["status"] >= 400:
            stopped = "clockify_error"
        elif page_items is None:
            stopped = "not_a_list"
        elif is_last_page(_header(answer, "Last-Page"), len(page_items), plan.page_size):
            stopped = "last_page"
        elif pages >= plan.max_pages:
            stopped = "max_pages"
        elif time.monotonic() >= plan.deadline:
            stopped = "time_limit"
        elif size > MAX_MERGED_BYTES:
            stopped = "size_limit"
        if stopped:
            break
        try:
            answer = _fetch(call, plan, pages + 1)
        except AddonError as refusal:
            stopped = refusal.code
            break
        pages += 1
        more, _ = _items(answer["body"])
        if answer["status"] < 400 and more:
            merged.extend(more)
            size += len(json.dumps(more))
    body = merged if key is None else {**first["body"], key: merged}
    if items is None or stopped == "clockify_error":
        body = answer["body"]  # nothing to merge, or Clockify's error is the news
    yield _line({"type": "done", "stoppedBy": stopped, "pages": pages, "items": len(merged),
                 "status": answer["status"], "headers": answer["headers"], "body": body,
                 "duration_ms": round((time.monotonic() - started) * 1000 + first["duration_ms"], 1),
                 "request": first["request"]})


def _line(event: dict) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()
