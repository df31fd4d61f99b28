"""Exceptions of outbound Clockify calls (the client and the rate limiter). No secrets in messages."""

from __future__ import annotations


class ClockifyError(Exception):
    """Base of every outbound-call error."""


class HostNotAllowed(ClockifyError, ValueError):
    """The URL's scheme or host is not allowed (``CLOCKIFY_ALLOWED_API_DOMAINS``); nothing was sent."""

    def __init__(self, url_host: str, reason: str = "not in CLOCKIFY_ALLOWED_API_DOMAINS"):
        super().__init__(f"Refused to call {url_host!r}: {reason}.")
        self.host = url_host
        self.reason = reason


class RateLimitExceeded(ClockifyError):
    """No rate-limit slot for the workspace within the allowed wait; ``retry_after`` in seconds."""

    def __init__(self, retry_after: float):
        super().__init__(f"Clockify rate limit budget exhausted; retry in {retry_after:.2f} s.")
        self.retry_after = retry_after


class ClockifyUnavailable(ClockifyError):
    """Clockify could not be reached (connection errors or timeouts) even after the retries."""

    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


class ClockifyHTTPError(ClockifyError):
    """Clockify answered with an error status (raised by ``ClockifyResponse.raise_for_status``)."""

    def __init__(self, response):
        super().__init__(f"Clockify answered {response.status} to {response.method} {response.path}: "
                         f"{response.error_message()}")
        self.response = response
        self.status = response.status
