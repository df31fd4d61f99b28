"""The add-on's exceptions and the one place that turns them into JSON answers.

Views and jobs raise; they never build error responses by hand. Every error answer is
``{"error": code, "message": sentence, "request_id": id, ...extra}``.
"""

from __future__ import annotations

import logging

from flask import jsonify
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from .request_context import current_request_id

log = logging.getLogger(__name__)


class AddonError(Exception):
    """Base of every error the add-on answers with. ``extra`` adds fields to the JSON body."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 headers: dict | None = None, **extra):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers = headers or {}
        self.extra = extra


class BadRequest(AddonError):
    status, code = 400, "bad_request"


class ValidationFailed(AddonError):
    """The body parsed but its fields are wrong; ``errors`` lists them."""

    status, code = 422, "validation_failed"


class InvalidToken(AddonError):
    """401: the token is missing or fails a check; ``check`` names which."""

    status, code = 401, "invalid_token"

    def __init__(self, message: str, check: str):
        super().__init__(message, check=check)
        self.check = check


class Forbidden(AddonError):
    status, code = 403, "forbidden"


class NotFound(AddonError):
    status, code = 404, "not_found"


class Conflict(AddonError):
    status, code = 409, "conflict"


class Gone(AddonError):
    status, code = 410, "installation_inactive"


class PayloadTooLarge(AddonError):
    status, code = 413, "payload_too_large"


class RateLimited(AddonError):
    """429 with ``Retry-After`` (whole seconds, at least 1)."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: float):
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message, headers={"Retry-After": str(seconds)}, retry_after=seconds)


class ServiceUnavailable(AddonError):
    status, code = 503, "service_unavailable"


class TokenUnreadable(AddonError):
    """503: a stored Clockify token that none of the ``TOKEN_ENCRYPTION_KEY`` keys decrypts (the
    variable was changed without keeping the old key). Never carries the ciphertext."""

    status, code = 503, "token_unreadable"

    def __init__(self) -> None:
        super().__init__("A stored Clockify token cannot be decrypted with TOKEN_ENCRYPTION_KEY: the key it was "
                         "encrypted with is missing. Put the previous key back after the new one "
                         "(TOKEN_ENCRYPTION_KEY=new,old), or reinstall the add-on on this workspace.",
                         # Retrying can succeed only once an operator has mended the key: not soon.
                         headers={"Retry-After": "60"})


# Werkzeug's name for 413 ("request_entity_too_large") would differ from PayloadTooLarge's code.
_HTTP_CODES = {413: PayloadTooLarge.code}


def error_response(status: int, code: str, message: str, headers: dict | None = None, /, **extra):
    """Build the JSON error answer every handler returns (``extra`` may hold any field name, even
    ``status``: the parameters are positional-only)."""
    body = {"error": code, "message": message, "request_id": current_request_id(), **extra}
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app) -> None:
    """Answer AddonError, HTTP errors, storage outages and anything unexpected with JSON."""

    @app.errorhandler(AddonError)
    def _addon_error(error: AddonError):
        if error.status >= 500:
            log.warning("answered %s %s: %s", error.status, error.code, error.message)
        return error_response(error.status, error.code, error.message, error.headers, **error.extra)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        code = _HTTP_CODES.get(error.code or 500) or (error.name or "error").lower().replace(" ", "_")
        # Keep the headers the status needs (Allow on 405, WWW-Authenticate on 401...).
        headers = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        return error_response(error.code or 500, code, error.description or error.name, headers)

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBAPIError)
    def _database_down(error: Exception):
        log.error("database unavailable: %s", type(error).__name__)
        return error_response(503, "storage_unavailable", "The database is unavailable; try again later.",
                              {"Retry-After": "5"})

    @app.errorhandler(DataError)
    def _unstorable_value(error: DataError):
        # The database refused a value (NUL in text, out of range...): the input's fault, and a
        # retry would fail the same way, so never a 503 that invites one.
        log.warning("database refused a value: %s", type(error.orig).__name__)
        return error_response(400, "invalid_data", "A value in the request cannot be stored.")

    @app.errorhandler(RedisError)
    def _redis_down(error: Exception):
        log.error("redis unavailable: %s", type(error).__name__)
        return error_response(503, "queue_unavailable", "The job queue is unavailable; try again later.",
                              {"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "An unexpected error occurred.")
