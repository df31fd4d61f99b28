"""The one reader of query-string arguments: every view parses ``request.args`` here, and every
refusal has the same shape, a 422 ``validation_failed`` whose ``errors`` name each argument:
``{"location": "query", "field": name, "message": sentence}``."""

from __future__ import annotations

from collections.abc import Mapping

from ..clockify.json_text import storable_text
from ..errors import ValidationFailed


class QueryArgs:
    """Reads arguments, collecting every problem; ``done()`` raises them together.

    >>> args = QueryArgs(request.args)
    >>> page, source = args.whole_number("page", 1, 1000), args.text("source")
    >>> args.done()
    """

    def __init__(self, args: Mapping[str, str]):
        self.args = args
        self.errors: list[dict] = []

    def whole_number(self, name: str, default: int, maximum: int) -> int:
        """The argument as a whole number from 1 to ``maximum`` (``default`` when absent or empty)."""
        raw = (self.args.get(name) or "").strip()
        if raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= maximum:
            self._refuse(name, f"Must be a whole number from 1 to {maximum}.")
            return default
        return value

    def text(self, name: str, max_chars: int = 200) -> str | None:
        """The argument stripped (None when absent or empty), at most ``max_chars`` long; NUL and
        unpaired surrogates refused."""
        value = (self.args.get(name) or "").strip()
        if not storable_text(value):
            self._refuse(name, "Must not contain NUL characters or unpaired surrogates.")
            return None
        if len(value) > max_chars:
            self._refuse(name, f"Must be at most {max_chars} characters.")
            return None
        return value or None

    def choice(self, name: str, allowed: tuple[str, ...], default: str | None = None) -> str | None:
        """The argument as one of ``allowed`` (``default`` when absent or empty)."""
        raw = (self.args.get(name) or "").strip()
        if raw == "":
            return default
        if raw not in allowed:
            self._refuse(name, f"Must be one of: {', '.join(allowed)}.")
            return default
        return raw

    def done(self) -> None:
        """:raise ValidationFailed: 422 listing every refused argument."""
        if self.errors:
            raise ValidationFailed("The query is invalid.", errors=self.errors)

    def _refuse(self, name: str, message: str) -> None:
        self.errors.append({"location": "query", "field": name, "message": message})
