"""Text a parsed JSON document may hold that no database column can: the one rule every JSON
endpoint applies before it acknowledges anything.

JSON escapes can smuggle in ``\\u0000`` (PostgreSQL refuses NUL in ``text`` and ``jsonb``) and
unpaired surrogates such as ``\\ud800`` (not encodable as UTF-8). A body holding either is refused
at ingestion (400 ``unsupported_text``) rather than acknowledged and then failing on every
processing attempt. A valid surrogate pair (``\\ud83d\\ude00``) is one ordinary character and is
accepted.
"""

from __future__ import annotations

from typing import Any

UNSUPPORTED_TEXT = "unsupported_text"


def find_unsupported_text(value: Any) -> str | None:
    """Where the first string (object key or value, at any depth) holding NUL or an unpaired
    surrogate is, as a path such as ``$.settings[2].value``; None when the document is storable."""
    pending: list[tuple[str, Any]] = [("$", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                if not storable_text(key):
                    return f"{path} (a key)"
                pending.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
        elif isinstance(item, str) and not storable_text(item):
            return path
    return None


def storable_text(text: str) -> bool:
    """True when ``text`` has no NUL and no unpaired surrogate (a database can store it)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
