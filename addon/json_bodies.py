"""The one JSON parser of the app (strict, depth-limited), and its refusals as 400 answers
(``malformed_json``, ``unsupported_text``). Every JSON body (lifecycle, webhooks, API Studio) is
parsed here, after ``addon.web.request_body`` has read it within its size cap."""

from __future__ import annotations

import json
import math

from .clockify.json_text import UNSUPPORTED_TEXT, find_unsupported_text
from .errors import BadRequest

# Arrays and objects inside one another; Clockify's deepest payloads use a handful.
MAX_JSON_DEPTH = 64
MALFORMED_JSON = "malformed_json"


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
