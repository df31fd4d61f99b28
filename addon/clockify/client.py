"""The outbound Clockify client: one ``requests.Session`` per process, every call checked,
rate-limited and retried the same way.

For each attempt of a call the client
1. refuses URLs outside the allowed hosts (``HostPolicy``) before anything is sent: the URL it
   is given, then the prepared URL exactly as it goes on the wire; its sockets open only to
   hosts the policy allows (``GuardedAdapter``, checked again at connection time);
2. takes a slot from the workspace's rate limiter, waiting at most ``wait`` seconds
   (``wait=0``: never wait; no slot raises ``RateLimitExceeded`` with ``retry_after``);
3. sends with ``X-Addon-Token`` (installation or user token), ``X-Request-ID``, connect/read
   timeouts, and redirects not followed;
4. retries connection errors, timeouts, 5xx and 429 with exponential backoff and full jitter;
   a 429's ``Retry-After`` (seconds or HTTP date, capped) becomes a penalty on the shared
   limiter, so every process of the workspace backs off. Other 4xx are never retried.

Tokens are never logged. No Flask here: the app wires metrics and the request id in.
"""

from __future__ import annotations

import email.utils
import http.cookiejar
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from .client_errors import (
    ClockifyError,
    ClockifyHTTPError,
    ClockifyUnavailable,
    HostNotAllowed,
    RateLimitExceeded,
)
from .hosts import HostPolicy
from .transport import GuardedAdapter

log = logging.getLogger(__name__)

MAX_PENALTY_SECONDS = 24 * 3600.0

__all__ = ["ClockifyClient", "ClockifyResponse", "ClockifyError", "ClockifyHTTPError", "ClockifyUnavailable",
           "HostNotAllowed", "RateLimitExceeded", "join_url", "reports_base", "retry_after_seconds"]


@dataclass(frozen=True)
class ClockifyResponse:
    """What Clockify answered: status, headers, parsed body (JSON, else text), timing; ``url`` is
    the URL exactly as it was sent (query included)."""

    method: str
    url: str
    status: int
    headers: dict[str, str]
    body: Any
    text: str
    duration_ms: float
    attempts: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    def header(self, name: str) -> str | None:
        """A response header, case-insensitively."""
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    def error_message(self) -> str:
        """Clockify's ``message`` field, else the start of the body text."""
        if isinstance(self.body, dict) and isinstance(self.body.get("message"), str):
            return self.body["message"][:300]
        return self.text[:300]

    def raise_for_status(self) -> ClockifyResponse:
        """Return self when 2xx. :raise ClockifyHTTPError: otherwise."""
        if not self.ok:
            raise ClockifyHTTPError(self)
        return self


class ClockifyClient:
    """Calls Clockify. Build one per process (``addon.outbound.get_client`` does)."""

    def __init__(self, *, hosts: HostPolicy, rate_limiter=None, max_retries: int = 5,
                 backoff_base: float = 0.5, backoff_cap: float = 30.0, retry_after_cap: float = 60.0,
                 connect_timeout: float = 5.0, read_timeout: float = 30.0, pool_size: int = 32,
                 user_agent: str = "clockify-addon", request_id: Callable[[], str | None] | None = None,
                 on_response: Callable[[str], None] | None = None, sleep: Callable[[float], None] = time.sleep):
        """
        :param rate_limiter: has ``acquire(workspace_id, timeout)`` and
            ``penalize(workspace_id, seconds)`` (``addon.clockify.ratelimit.RateLimiter``); None:
            no limiting (tests of the client alone).
        :param on_response: called with each attempt's outcome (``"200"``, ``"503"``,
            ``"timeout"``, ``"connection_error"``) for metrics.
        """
        self.hosts = hosts
        self.rate_limiter = rate_limiter
        self.max_retries = max_retries
        self.backoff_base, self.backoff_cap, self.retry_after_cap = backoff_base, backoff_cap, retry_after_cap
        self.timeout = (connect_timeout, read_timeout)
        self.request_id = request_id or (lambda: None)
        self.on_response = on_response or (lambda outcome: None)
        self.sleep = sleep
        self.session = requests.Session()
        # No proxies or .netrc credentials from the environment: outbound calls go where the
        # host policy says, carrying only the headers set here.
        self.session.trust_env = False
        # No cookies either: one session serves every workspace, and a cookie set by one
        # workspace's answer must not ride along on another's calls.
        self.session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.session.headers.update({"Accept": "application/json", "User-Agent": user_agent})
        adapter = GuardedAdapter(hosts, pool_connections=8, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def request(self, method: str, url: str, *, workspace_id: str, token: str,
                params: Mapping[str, Any] | list[tuple[str, Any]] | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None, wait: float | None = 30.0,
                max_retries: int | None = None) -> ClockifyResponse:
        """Send ``method url`` for ``workspace_id`` with ``token`` as ``X-Addon-Token``
        (``prepare`` then ``send``).

        :raise HostNotAllowed: the URL is refused; nothing was sent.
        """
        prepared = self.prepare(method, url, token=token, params=params, json=json, headers=headers)
        return self.send(prepared, workspace_id=workspace_id, wait=wait, max_retries=max_retries)

    def prepare(self, method: str, url: str, *, token: str,
                params: Mapping[str, Any] | list[tuple[str, Any]] | None = None, json: Any = None,
                headers: Mapping[str, str] | None = None) -> requests.PreparedRequest:
        """The request exactly as ``send`` will put it on the wire (its ``url`` is final, query
        included), after the host policy passed on both the given and the prepared URL.

        :raise HostNotAllowed: the URL is refused; nothing was sent.
        :raise ClockifyError: the request cannot be built (a body JSON cannot carry).
        """
        self.hosts.check(url)
        outgoing = {"X-Addon-Token": token, **(headers or {})}
        request_id = self.request_id()
        if request_id:
            outgoing.setdefault("X-Request-ID", request_id)
        try:
            prepared = self.session.prepare_request(
                requests.Request(method.upper(), url, params=params, json=json, headers=outgoing))
        except requests.RequestException as exc:
            raise ClockifyError(f"Could not send {method} {_where(url)}: {type(exc).__name__}") from None
        if prepared.url is None:  # requests always sets it when preparing
            raise ClockifyError(f"Could not send {method} {_where(url)}: no URL prepared")
        self.hosts.check(prepared.url)
        return prepared

    def send(self, prepared: requests.PreparedRequest, *, workspace_id: str, wait: float | None = 30.0,
             max_retries: int | None = None) -> ClockifyResponse:
        """Send a request built by ``prepare``, rate-limited and retried (module docstring).

        :param wait: longest wait for each rate-limit slot, seconds (0 = never wait, None = no
            limit).
        :param max_retries: overrides the client's retry count for this call.
        :return: the final answer, including a 4xx, or the 5xx/429 left after the retries.
        :raise HostNotAllowed: the connection was refused at connection time; nothing was sent.
        :raise RateLimitExceeded: no slot within ``wait`` (``retry_after`` says when).
        :raise ClockifyUnavailable: connection errors/timeouts on every attempt.
        """
        retries = self.max_retries if max_retries is None else max_retries
        method, url = prepared.method, prepared.url
        if method is None or url is None:
            raise ClockifyError("Could not send a request that was not prepared (ClockifyClient.prepare).")
        attempt = 0
        while True:
            attempt += 1
            if self.rate_limiter is not None:
                self.rate_limiter.acquire(workspace_id, timeout=wait)
            started = time.monotonic()
            try:
                raw = self.session.send(prepared, timeout=self.timeout, allow_redirects=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                outcome = "timeout" if isinstance(exc, requests.Timeout) else "connection_error"
                self.on_response(outcome)
                log.warning("clockify %s %s: %s (attempt %d)", method, _where(url), outcome, attempt)
                if attempt > retries:
                    raise ClockifyUnavailable(f"Clockify unreachable ({outcome}) after {attempt} attempts "
                                              f"to {method} {_where(url)}.", attempt) from None
                self.sleep(self._backoff(attempt))
                continue
            except requests.RequestException as exc:
                raise ClockifyError(f"Could not send {method} {_where(url)}: {type(exc).__name__}") from None
            response = _response(method, url, raw, (time.monotonic() - started) * 1000, attempt)
            self.on_response(str(response.status))
            if response.status != 429 and response.status < 500:
                log.debug("clockify %s %s -> %d in %.0f ms (attempt %d)", method, _where(url), response.status,
                          response.duration_ms, attempt)
                return response
            log.warning("clockify %s %s -> %d in %.0f ms (attempt %d)", method, _where(url), response.status,
                        response.duration_ms, attempt)
            retry_after = retry_after_seconds(response.header("Retry-After"), self.retry_after_cap)
            if response.status == 429 and self.rate_limiter is not None:
                # The limiter keeps the whole wait Clockify asks for (30 requests an hour on new
                # Free workspaces): callers unable to wait that long learn it from RateLimitExceeded.
                penalty = retry_after_seconds(response.header("Retry-After"), MAX_PENALTY_SECONDS)
                self.rate_limiter.penalize(workspace_id, penalty if penalty is not None else self._backoff(attempt))
            if attempt > retries:
                return response
            if response.status != 429 or self.rate_limiter is None:
                self.sleep(max(self._backoff(attempt), retry_after or 0.0))

    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))]."""
        return random.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def close(self) -> None:
        self.session.close()


def retry_after_seconds(value: str | None, cap: float) -> float | None:
    """A ``Retry-After`` value (seconds or HTTP date) in seconds, within [0, cap]; None if absent
    or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(seconds, cap))


def join_url(base: str, path: str) -> str:
    """``https://api.clockify.me/api`` + ``/v1/user`` -> ``https://api.clockify.me/api/v1/user``."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def reports_base(api_url: str, reports_url: str | None = None) -> str:
    """The reports base of an installation: its ``reportsUrl`` when known, else derived from the
    API base (global ``https://reports.api.clockify.me``; regional and developer hosts serve
    reports under ``/report``)."""
    if reports_url:
        return reports_url.rstrip("/")
    parts = urlsplit(api_url)
    if parts.hostname == "api.clockify.me":
        return f"{parts.scheme}://reports.api.clockify.me"
    return f"{parts.scheme}://{parts.netloc}/report"


def _where(url: str) -> str:
    """Host and path, never the query (it may carry anything)."""
    parts = urlsplit(url)
    return f"{parts.hostname}{parts.path}"


def _response(method: str, url: str, raw: requests.Response, duration_ms: float, attempts: int) -> ClockifyResponse:
    text = raw.text
    body: Any = text
    if "json" in raw.headers.get("Content-Type", "") and text:
        try:
            body = raw.json()
        except ValueError:
            body = text
    elif not text:
        body = None
    return ClockifyResponse(method=method, url=url, status=raw.status_code, headers=dict(raw.headers), body=body,
                            text=text, duration_ms=duration_ms, attempts=attempts)
