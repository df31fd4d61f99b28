"""Reading request bodies safely: a size cap enforced before the body is read, and the one JSON
parser of the app (depth-limited, strict), which answers 400 ``malformed_json`` instead of
raising. Every JSON endpoint (lifecycle, webhooks, API Studio) reads its body here."""

from __future__ import annotations

import json
import math

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

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
    """``decode_json`` answering 400 ``malformed_json`` for whatever it refuses.

    :raise BadRequest: 400 ``malformed_json``, the message saying why.
    """
    try:
        return decode_json(raw, storable=storable)
    except MalformedJson as error:
        raise BadRequest(str(error), code=MALFORMED_JSON) from None


class MalformedJson(ValueError):
    """The body is not JSON this server takes; the message says why."""


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
    depth, text_ok = _measure(value, max_depth)
    if depth > max_depth:
        raise MalformedJson(f"The body is nested deeper than {max_depth} levels.")
    if storable and not text_ok:
        raise MalformedJson("The body holds a NUL character or an unpaired surrogate, which cannot be stored.")
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # 1e999 is valid JSON, but Python reads it as infinity, which no JSON encoder writes back.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _measure(value, max_depth: int) -> tuple[int, bool]:
    """The nesting depth of ``value`` (stopping once past ``max_depth``) and whether every string,
    keys included, is storable. Iterative: the value may be deeper than the interpreter's stack."""
    deepest, text_ok = 0, True
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth)
            pending.extend((key, depth) for key in item)
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, str) and text_ok:
            text_ok = storable_text(item)
        if deepest > max_depth:
            break
    return deepest, text_ok


def storable_text(text: str) -> bool:
    """True when ``text`` has no NUL and no unpaired surrogate (a database can store it)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
