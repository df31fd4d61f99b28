"""The outbound side of an API Studio call, on the add-on's Clockify client
(``addon.outbound.get_client``): the request exactly as it will be sent (``prepare``: the URL
the audit row stores), the send, and the shape of Clockify's answer.

The client takes the workspace's rate-limit slot itself. API Studio waits at most
``SLOT_WAIT_SECONDS`` for it: a spent budget (next slot further away) is a 429 with
``Retry-After`` at once. Not ``wait=0``: the limiter gives up a slot reserved more than 20 ms
before it returns (so a descheduled caller cannot crowd the window) and with no wait allowed a
single slow Redis round trip would then refuse a call on an idle workspace. API Studio never
retries either (a retried POST could create twice; the user sees Clockify's answer and decides).
"""

from __future__ import annotations

import json
from typing import Any

from ..clockify.client import ClockifyError, ClockifyUnavailable, HostNotAllowed, RateLimitExceeded
from ..errors import RateLimited, ServiceUnavailable
from ..logs import REDACTED
from ..outbound import get_client, host_not_allowed

# Clockify's answer headers shown to the browser; cookies and anything unknown stay behind.
ALLOWED_RESPONSE_HEADERS = ("content-type", "content-length", "date", "etag", "last-modified", "last-page",
                            "location", "retry-after", "x-request-id", "x-ratelimit-limit",
                            "x-ratelimit-remaining", "x-ratelimit-reset")
MAX_RESPONSE_TEXT_CHARS = 5 * 1024 * 1024
SLOT_WAIT_SECONDS = 0.5


def prepare(call):
    """The request of a call that passed every check, exactly as it will go on the wire.

    :raise Forbidden: 403 ``host_not_allowed`` (nothing was sent).
    :raise ServiceUnavailable: 503 ``clockify_unavailable``, the request cannot be built.
    """
    try:
        return get_client().prepare(call.operation.method, call.url, token=call.token,
                                    params=call.query_pairs or None, json=call.body)
    except HostNotAllowed:
        raise host_not_allowed() from None
    except ClockifyError:
        raise ServiceUnavailable("The call could not be sent to Clockify.", code="clockify_unavailable") from None


def send(call, outgoing) -> dict:
    """Send ``outgoing`` (from ``prepare(call)``) and shape Clockify's answer for the browser.

    :return: ``{"status", "headers", "body", "duration_ms", "request": {"method", "url", "query"}}``
        (plus ``"truncated": true`` when the body was cut), with the token masked wherever it
        appears; ``request.url`` is the URL exactly as it was sent, query included.
    :raise RateLimited: 429, the workspace's budget is empty (nothing was sent).
    :raise Forbidden: 403 ``host_not_allowed`` (refused at connection time; nothing was sent).
    :raise ServiceUnavailable: 503 ``clockify_unavailable``, Clockify could not be reached.
    """
    operation = call.operation
    try:
        response = get_client().send(outgoing, workspace_id=call.workspace_id, wait=SLOT_WAIT_SECONDS,
                                     max_retries=0)
    except RateLimitExceeded as exc:
        raise RateLimited("The workspace's Clockify request budget is spent; try again shortly.",
                          retry_after=exc.retry_after) from None
    except HostNotAllowed:
        raise host_not_allowed() from None
    except ClockifyUnavailable:
        raise ServiceUnavailable("Clockify could not be reached; try again later.",
                                 code="clockify_unavailable") from None
    except ClockifyError:
        raise ServiceUnavailable("The call could not be sent to Clockify.", code="clockify_unavailable") from None

    body: Any = response.body
    truncated = len(response.text) > MAX_RESPONSE_TEXT_CHARS
    if truncated:
        body = response.text[:MAX_RESPONSE_TEXT_CHARS]
    answer = {
        "status": response.status,
        "headers": {name: value for name, value in response.headers.items()
                    if name.lower() in ALLOWED_RESPONSE_HEADERS},
        "body": body,
        "duration_ms": round(response.duration_ms, 1),
        "request": {"method": operation.method, "url": response.url, "query": call.query},
    }
    if truncated:
        answer["truncated"] = True
    # One C-speed dump finds whether the token is anywhere at all (a verified JWT needs no JSON
    # escaping, so it appears verbatim); only then is the answer walked to mask it.
    if not call.token or call.token not in json.dumps(answer, ensure_ascii=False, default=str):
        return answer
    return _mask(answer, call.token)


def _mask(value: Any, token: str) -> Any:
    """``value`` with every occurrence of ``token`` replaced (Clockify might echo it)."""
    if isinstance(value, str):
        return value.replace(token, REDACTED) if token and token in value else value
    if isinstance(value, dict):
        return {_mask(k, token): _mask(v, token) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, token) for v in value]
    return value
