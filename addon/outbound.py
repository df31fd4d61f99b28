"""The process's Clockify client and rate limiter, built from the app's settings.

One of each per process (rebuilt after a fork, so an RQ horse never shares a parent's sockets):
``get_client()`` for calls, ``get_rate_limiter()`` for callers that only need slots. The client
counts each attempt in ``CLOCKIFY_REQUESTS{status}`` and sends the current request id.
"""

from __future__ import annotations

import os

from flask import current_app

from . import metrics
from .clockify.client import ClockifyClient
from .clockify.hosts import HostPolicy
from .clockify.ratelimit import RateLimiter, connect
from .queueing import EXTENSION_KEY as REDIS_KEY
from .request_context import current_request_id

EXTENSION_KEY = "addon.outbound"


def get_client() -> ClockifyClient:
    """This process's client for the current app."""
    return _built()[0]


def get_rate_limiter() -> RateLimiter:
    """This process's rate limiter for the current app."""
    return _built()[1]


def _built() -> tuple[ClockifyClient, RateLimiter]:
    app = current_app._get_current_object()
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
        metrics.CLOCKIFY_REQUESTS.inc(status=outcome, connection=connection)

    client = ClockifyClient(
        hosts=HostPolicy(settings.allowed_api_domains, https_only=settings.env == "production"),
        rate_limiter=limiter,
        max_retries=settings.webhook_request_max_retries,
        backoff_base=settings.webhook_request_backoff_base,
        backoff_cap=settings.webhook_request_backoff_cap,
        user_agent=f"{settings.addon_key} (Clockify add-on)",
        request_id=current_request_id,
        on_response=count,
    )
    return client, limiter
