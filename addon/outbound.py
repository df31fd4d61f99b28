"""The process's Clockify client and rate limiter, built from the app's settings.

One of each per process (rebuilt after a fork, so an RQ horse never shares a parent's sockets):
``get_client()`` for calls, ``get_rate_limiter()`` for callers that only need slots. The client
counts each attempt in ``CLOCKIFY_REQUESTS{status}`` (after the answer, in a web request:
``addon.after_answer``) and sends the current request id.
``require_allowed_hosts`` is the HTTP edge's one check of the Clockify URLs a request brings
(token claims, base URLs): 403 ``host_not_allowed`` before anything is stored or sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from flask import current_app

from . import after_answer, metrics
from .clockify.client import ClockifyClient, HostNotAllowed
from .clockify.hosts import HostPolicy
from .clockify.ratelimit import RateLimiter, connect
from .errors import Forbidden
from .queueing import EXTENSION_KEY as REDIS_KEY
from .request_context import current_request_id

EXTENSION_KEY = "addon.outbound"
log = logging.getLogger(__name__)
HOST_NOT_ALLOWED = "The Clockify host of this call is not in CLOCKIFY_ALLOWED_API_DOMAINS."


def get_client() -> ClockifyClient:
    """This process's client for the current app."""
    return _built()[0]


def get_rate_limiter() -> RateLimiter:
    """This process's rate limiter for the current app."""
    return _built()[1]


def require_allowed_hosts(*urls: str | None, claims: Mapping[str, Any] | None = None) -> None:
    """Refuse unless every URL and every URL claim of ``claims`` (a token's) pass the host policy.

    :raise Forbidden: 403 ``host_not_allowed`` (a missing URL counts as refused).
    """
    policy = get_client().hosts
    try:
        if claims is not None:
            policy.check_claims(claims)
        for url in urls:
            policy.check(url or "")
    except HostNotAllowed as refused:
        log.warning("outbound call refused: %s", refused)
        raise host_not_allowed() from None


def host_not_allowed() -> Forbidden:
    """The 403 answered for any refused Clockify host (the reason stays in the logs, not the body)."""
    return Forbidden(HOST_NOT_ALLOWED, code="host_not_allowed")


def _built() -> tuple[ClockifyClient, RateLimiter]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]  # a LocalProxy method; stubs say Flask
    built = app.extensions.get(EXTENSION_KEY)
    if built is None or built[0] != os.getpid():
        built = (os.getpid(), *_build(app))
        app.extensions[EXTENSION_KEY] = built
    return built[1], built[2]


def _build(app) -> tuple[ClockifyClient, RateLimiter]:
    settings = app.config["SETTINGS"]
    if settings.redis_url is None:
        connection = app.extensions[REDIS_KEY]
    else:
        # Its own client: the limiter must fail over fast when Redis is unreachable.
        connection = connect(settings.redis_url)
    limiter = RateLimiter(connection, settings.rate_limit_rps, on_fallback=metrics.RATE_LIMITER_FALLBACKS.inc)

    def count(outcome: str) -> None:
        after_answer.defer(metrics.CLOCKIFY_REQUESTS.inc, status=outcome, connection=connection)

    client = ClockifyClient(
        hosts=HostPolicy(settings.allowed_api_domains, https_only=settings.env == "production"),
        rate_limiter=limiter,
        max_retries=settings.webhook_request_max_retries,
        backoff_base=settings.webhook_request_backoff_base,
        backoff_cap=settings.webhook_request_backoff_cap,
        read_timeout=settings.clockify_read_timeout,
        user_agent=f"{settings.addon_key} (Clockify add-on)",
        request_id=current_request_id,
        on_response=count,
    )
    return client, limiter
