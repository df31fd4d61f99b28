"""Reading request bodies safely: a size cap enforced before the body is read, and JSON
parsing that answers 400 instead of raising."""

from __future__ import annotations

import json

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from ..errors import BadRequest, PayloadTooLarge


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


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def parse_json(raw: bytes):
    """Parse ``raw`` as strict JSON (UTF-8; no NaN or Infinity) whose text can be stored.

    Escapes can smuggle in what no database column holds: ``\\u0000`` (PostgreSQL refuses NUL in
    text and JSONB) and unpaired surrogates such as ``\\ud800`` (not encodable as UTF-8). Such
    bodies are refused here rather than failing at the insert.
    :raise BadRequest: 400 ``invalid_json``.
    """
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from None
    if not _storable(value):
        raise BadRequest("The body holds a NUL character or an unpaired surrogate, which cannot be stored.",
                         code="invalid_json")
    return value


def _storable(value) -> bool:
    """True when every string (keys included) is free of NUL and encodes as UTF-8."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not storable_text(item):
            return False
    return True


def storable_text(text: str) -> bool:
    """True when ``text`` has no NUL and no unpaired surrogate (a database can store it)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
