"""Reading request bodies safely: a size cap enforced before the body is read, and JSON
parsing that answers 400 instead of raising."""

from __future__ import annotations

import json

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from ..clockify.json_text import UNSUPPORTED_TEXT, find_unsupported_text
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

    :raise BadRequest: 400 ``invalid_json``; 400 ``unsupported_text`` (``refuse_unsupported_text``).
    """
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.", code="invalid_json") from None
    refuse_unsupported_text(value)
    return value


def storable_text(text: str) -> bool:
    """True when ``text`` has no NUL and no unpaired surrogate (a database can store it)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def refuse_unsupported_text(value) -> None:
    """Refuse a parsed JSON body holding text no database can store (``addon.clockify.json_text``).

    :raise BadRequest: 400 ``unsupported_text``, naming where the text is.
    """
    where = find_unsupported_text(value)
    if where is not None:
        raise BadRequest(f"The body holds a NUL character or an unpaired surrogate at {where}, which cannot be "
                         "stored.", code=UNSUPPORTED_TEXT)
