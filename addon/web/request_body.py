"""Reading request bodies safely: a size cap enforced before the body is read, and the one JSON
parser of the app (depth-limited, strict), which answers 400 ``malformed_json`` instead of
raising. Every JSON endpoint (lifecycle, webhooks, API Studio) reads its body here."""

from __future__ import annotations

import json
import math

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

from ..clockify.json_text import UNSUPPORTED_TEXT, find_unsupported_text
from ..errors import BadRequest, PayloadTooLarge

# Arrays and objects inside one another; Clockify's deepest payloads use a handful.
MAX_JSON_DEPTH = 64
MALFORMED_JSON = "malformed_json"


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


def parse_json(raw: bytes, *, storable: bool = True):
    """``decode_json`` answering 400 for whatever it refuses.

    :raise BadRequest: 400 ``unsupported_text`` for text no database can store, else 400
        ``malformed_json``; the message says why.
    """
    try:
        return decode_json(raw, storable=storable)
    except UnsupportedText as error:
        raise BadRequest(str(error), code=UNSUPPORTED_TEXT) from None
    except MalformedJson as error:
        raise BadRequest(str(error), code=MALFORMED_JSON) from None


def refuse_unsupported_text(value) -> None:
    """Refuse a value parsed with ``storable=False`` once it is known to be meant for this server
    (a webhook's token is checked before its text).

    :raise BadRequest: 400 ``unsupported_text``, naming where the text is.
    """
    where = find_unsupported_text(value)
    if where is not None:
        raise BadRequest(_unsupported_message(where), code=UNSUPPORTED_TEXT)


class MalformedJson(ValueError):
    """The body is not JSON this server takes; the message says why."""


class UnsupportedText(MalformedJson):
    """The body is JSON, but holds text no database column can store."""


def _unsupported_message(where: str) -> str:
    return f"The body holds a NUL character or an unpaired surrogate at {where}, which cannot be stored."


def decode_json(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH, storable: bool = True):
    """Parse ``raw`` as strict JSON: UTF-8, no NaN, Infinity or numbers out of a float's range,
    arrays and objects nested at most ``max_depth`` levels, and (with ``storable``) text a
    database can store.

    Escapes can smuggle in what no database column holds: ``\\u0000`` (PostgreSQL refuses NUL in
    text and JSONB) and unpaired surrogates such as ``\\ud800`` (not encodable as UTF-8). Deep
    nesting would exhaust the recursion of whatever walks the value next (the C parser stops at
    the interpreter's recursion limit with a ``RecursionError``, caught here too).
    :raise MalformedJson: a ``ValueError``.
    """
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except UnicodeDecodeError:
        raise MalformedJson("The body is not UTF-8.") from None
    except RecursionError:
        raise MalformedJson(f"The body is nested deeper than {max_depth} levels.") from None
    except ValueError:
        raise MalformedJson("The body is not valid JSON.") from None
    if _depth(value, max_depth) > max_depth:
        raise MalformedJson(f"The body is nested deeper than {max_depth} levels.")
    where = find_unsupported_text(value) if storable else None
    if where is not None:
        raise UnsupportedText(_unsupported_message(where))
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e999 is valid JSON, but Python reads it as infinity, which no JSON encoder writes back.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _depth(value, max_depth: int) -> int:
    """The nesting depth of ``value``, stopping once past ``max_depth``. Iterative: the value may
    be deeper than the interpreter's stack."""
    deepest = 0
    pending = [(value, 1)]
    while pending and deepest <= max_depth:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest
