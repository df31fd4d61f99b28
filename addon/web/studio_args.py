"""Query-string arguments of the API Studio endpoints: a wrong one is a 422 naming it."""

from __future__ import annotations

from flask import request

from ..errors import ValidationFailed


def positive_int(name: str, default: int, maximum: int) -> int:
    """``?name=`` as a whole number from 1 to ``maximum``; ``default`` when absent or empty.

    :raise ValidationFailed: 422 naming the parameter.
    """
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise _invalid(name, f"Must be a whole number from 1 to {maximum}.")
    return value


def choice(name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
    """``?name=`` as one of ``allowed``; ``default`` when absent or empty.

    :raise ValidationFailed: 422 naming the parameter and the allowed values.
    """
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if raw not in allowed:
        raise _invalid(name, f"Must be one of: {', '.join(allowed)}.")
    return raw


def text(name: str, max_chars: int = 200) -> str | None:
    """``?name=`` as text of at most ``max_chars`` (None when absent or empty).

    :raise ValidationFailed: 422 when longer.
    """
    raw = (request.args.get(name) or "").strip()
    if len(raw) > max_chars:
        raise _invalid(name, f"Must be at most {max_chars} characters.")
    return raw or None


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed("The query is invalid.", errors=[{"location": "query", "field": name, "message": message}])
