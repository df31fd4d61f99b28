"""Reading request bodies safely: a size cap enforced before the body is read. Every JSON
endpoint (lifecycle, webhooks, API Studio) reads its body here, and parses it with
``addon.json_bodies``."""

from __future__ import annotations

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import PayloadTooLarge
from ..json_bodies import parse_json


def read_limited_body(limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes.

    A ``Content-Length`` above the limit is refused before anything is read; a chunked body is
    read through a stream that stops one byte past the limit. Call it before anything touches
    the body.
    :raise PayloadTooLarge: 413.
    """
    too_large = PayloadTooLarge(f"The body is larger than {limit} bytes.", limit=limit)
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    # Werkzeug's capped stream stops silently at the cap, so read one byte more to tell a body
    # of exactly `limit` bytes from a longer one.
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise too_large from None
    if len(data) > limit:
        raise too_large
    return data


def read_json(limit: int, *, too_large_limit: int | None = None):
    """The body, at most ``limit`` bytes, parsed by ``parse_json``: what every JSON endpoint with
    nothing to check before the body calls.

    :param too_large_limit: the limit a 413 names, when it differs from ``limit`` (a limit on the
        value inside an envelope).
    :raise PayloadTooLarge: 413. :raise BadRequest: 400 ``malformed_json``.
    """
    try:
        raw = read_limited_body(limit)
    except PayloadTooLarge as error:
        if too_large_limit is not None:
            error.extra["limit"] = too_large_limit
        raise
    return parse_json(raw)
