"""The parsers of ``VARIABLES`` (``addon/config.py``): each turns one variable's text (its default
already applied; None when it has none) into its setting, or raises ``ConfigError`` naming it.

A parser is called as ``parse(name, value)``; the factories (``whole(1, 100)``,
``choice("a", "b")``) build one from the limits it checks. Errors never echo a secret (database
and Redis URLs, keys).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from redis.connection import parse_url as parse_redis_url

from .clockify import event_types
from .clockify.hosts import HostPattern
from .clockify.tokens import load_public_key

Parser = Callable[[str, "str | None"], Any]


class ConfigError(ValueError):
    """Variables are missing or malformed: one line per problem, each starting with the
    variable's name (``lines``)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.lines = message.splitlines()

    def report(self) -> str:
        """What an entry point prints before it exits: ``configuration error: ...`` per line."""
        return "\n".join(f"configuration error: {line}" for line in self.lines)


def text(name: str, value: str | None) -> str | None:
    """The text as given (None when unset)."""
    return value


def choice(*choices: str, upper: bool = False) -> Parser:
    """One of ``choices`` (compared upper-cased with ``upper``)."""
    def parse(name: str, value: str | None) -> str:
        given = (value or "").upper() if upper else (value or "")
        if given not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
        return given
    return parse


def log_format(name: str, value: str | None) -> str | None:
    """``text`` or ``json``, lower-cased (None when unset: the environment decides)."""
    if value is None:
        return None
    if value.lower() not in ("text", "json"):
        raise ConfigError(f"{name} must be one of text, json (got {value!r})")
    return value.lower()


def flag(name: str, value: str | None) -> bool:
    """``true``/``false`` (also 1/0, yes/no, on/off)."""
    lowered = (value or "").lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false (got {value!r})")


def whole(low: int, high: int) -> Parser:
    """A whole number from ``low`` to ``high``."""
    def parse(name: str, value: str | None) -> int:
        try:
            number = int(value or "")
        except ValueError:
            raise ConfigError(f"{name} must be a whole number (got {value!r})") from None
        if not low <= number <= high:
            raise ConfigError(f"{name} must be between {low} and {high} (got {number})")
        return number
    return parse


def number(low: float, high: float) -> Parser:
    """A number from ``low`` to ``high``."""
    def parse(name: str, value: str | None) -> float:
        try:
            result = float(value or "")
        except ValueError:
            raise ConfigError(f"{name} must be a number (got {value!r})") from None
        if not low <= result <= high:
            raise ConfigError(f"{name} must be between {low} and {high} (got {result})")
        return result
    return parse


def _split(name: str, value: str):
    """``urlsplit(value)``; a malformed host (``https://[::1``) is a ConfigError naming ``name``,
    never a traceback. The value is not echoed: database and Redis URLs hold passwords."""
    try:
        return urlsplit(value)
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL (check the host)") from None


def url(name: str, value: str | None) -> str | None:
    """An http(s) URL (None when unset)."""
    if value is None:
        return None
    parts = _split(name, value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{name} must be an http(s) URL (got {value!r})")
    return value


def base_url(name: str, value: str | None) -> str:
    """An http(s) URL without its trailing slash."""
    return (url(name, value) or "").rstrip("/")


def names(name: str, value: str | None) -> tuple[str, ...]:
    """A comma list (blank items dropped)."""
    return tuple(item.strip() for item in (value or "").split(",") if item.strip())


def names_among(what: str, allowed: tuple[str, ...]) -> Parser:
    """A non-empty comma list of ``allowed`` items (``what`` they are, for the message)."""
    def parse(name: str, value: str | None) -> tuple[str, ...]:
        items = names(name, value)
        if not items or [item for item in items if item not in allowed]:
            raise ConfigError(f"{name} must list {what} among {', '.join(allowed)}")
        return items
    return parse


def bounded_text(low: int, high: int) -> Parser:
    """Text of ``low`` to ``high`` characters."""
    def parse(name: str, value: str | None) -> str:
        if not low <= len(value or "") <= high:
            raise ConfigError(f"{name} must be {low} to {high} characters")
        return value or ""
    return parse


def secret(min_length: int) -> Parser:
    """A secret of at least ``min_length`` characters (None when unset); never echoed."""
    def parse(name: str, value: str | None) -> str | None:
        if value is not None and len(value) < min_length:
            raise ConfigError(f"{name} must be at least {min_length} characters")
        return value
    return parse


def webhook_events(name: str, value: str | None) -> tuple[str, ...] | str | None:
    """None (the schema's events), ``"all"``, or known event names."""
    if value is None:
        return None
    if value.lower() == "all":
        return "all"
    events = names(name, value)
    unknown = [e for e in events if not event_types.is_known(e)]
    if not events or unknown:
        raise ConfigError(f"{name} names an unknown event: {unknown[0] if unknown else '(empty)'!r}")
    return events


_DOMAIN = re.compile(r"^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$")


def domains(name: str, value: str | None) -> tuple[str, ...]:
    """Host patterns (``*.`` wildcard, optional ``:port``), lower-cased."""
    patterns = tuple(d.lower() for d in names(name, value))
    bad = [d for d in patterns if not _DOMAIN.match(d) or not _host_pattern_ok(d)]
    if not patterns or bad:
        raise ConfigError(f"{name} has an invalid host pattern: {bad[0] if bad else '(empty)'!r}")
    return patterns


def _host_pattern_ok(pattern: str) -> bool:
    """True when the outbound host guard accepts ``pattern`` (no trailing dot, no ambiguous
    numeric host): refused here, it names the variable at start-up instead of failing a call."""
    try:
        HostPattern.parse(pattern)
    except ValueError:
        return False
    return True


# A source list is printable ASCII; ';' or ',' would smuggle in other directives or policies.
_CSP_SOURCES = re.compile(r"^[\x21-\x7e ]+$")
_CSP_SEPARATORS = re.compile(r"[;,]")


def csp_sources(name: str, value: str | None) -> str:
    """Space-separated CSP sources."""
    if not _CSP_SOURCES.match(value or "") or _CSP_SEPARATORS.search(value or ""):
        raise ConfigError(f"{name} must be space-separated CSP sources (no ';', ',' or control characters)")
    return value or ""


def database_url(name: str, value: str | None) -> str | None:
    """A PostgreSQL (``postgres://`` accepted, psycopg 3 driver) or SQLite URL; None when unset."""
    if value is None:
        return None
    scheme = _split(name, value).scheme
    # Heroku hands out postgres://, which SQLAlchemy no longer accepts; we ship psycopg 3.
    if scheme in ("postgres", "postgresql"):
        value = "postgresql+psycopg://" + value.split("://", 1)[1]
    elif not (scheme.startswith("postgresql+") or scheme.startswith("sqlite")):
        raise ConfigError(f"{name} must be a PostgreSQL or SQLite URL (got scheme {scheme!r})")
    # Parsed now so a malformed URL is a configuration error, not a traceback when the engine is
    # built. The URL may hold a password: never echo it.
    try:
        sa.engine.make_url(value).get_dialect().import_dbapi()
    except ImportError:
        raise ConfigError(f"{name} names a database driver that is not installed (scheme {scheme!r})") from None
    except Exception:  # SQLAlchemy raises ArgumentError, ValueError or NoSuchModuleError here
        raise ConfigError(f"{name} is not a valid database URL") from None
    return value


def redis_url(name: str, value: str | None) -> str | None:
    """A redis://, rediss:// or unix:// URL ending with a database number; None when unset."""
    if value is None:
        return None
    # The URL may hold a password: never echo it.
    parts = _split(name, value)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL")
    try:
        parse_redis_url(value)
    except ValueError:
        raise ConfigError(f"{name} is not a valid Redis URL (check the port and the database number)") from None
    database = parts.path.strip("/")
    if parts.scheme != "unix" and database and not database.isdigit():
        raise ConfigError(f"{name} must end with a database number, e.g. redis://host:6379/0")
    return value


def public_key_pem(name: str, value: str | None) -> str | None:
    """PEM text of an RSA public key (one-line PEMs with literal ``\\n`` accepted)."""
    if value is None:
        return None
    # Dashboards often store a PEM on one line with literal "\n" separators.
    pem = value.replace("\\n", "\n")
    _check_public_key(name, pem.encode())
    return pem


def public_key_file(name: str, value: str | None) -> str | None:
    """The path of a readable PEM file of an RSA public key."""
    if value is None:
        return None
    try:
        pem = Path(value).read_bytes()
    except OSError:
        raise ConfigError(f"{name}: no readable file at {value!r}") from None
    _check_public_key(name, pem)
    return value


def _check_public_key(name: str, pem: bytes) -> None:
    try:
        load_public_key(pem)
    except ValueError:
        raise ConfigError(f"{name} must be an RSA public key in PEM form (-----BEGIN PUBLIC KEY-----)") from None


# A Fernet key is exactly 32 bytes in url-safe base64: 43 characters and one '=' of padding.
# Matched strictly because the base64 decoder would skip a stray space or quote without a word.
_FERNET_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=$")


def fernet_keys(name: str, value: str | None) -> tuple[bytes, ...] | None:
    """One Fernet key, or several separated by commas, newest first (None when unset); each is
    checked, and an error names its position, never the key."""
    if value is None:
        return None
    items = [item.strip() for item in value.split(",")]
    for position, item in enumerate(items, 1):
        problem = ("is empty" if not item else None if _FERNET_KEY.match(item)
                   else "is not a Fernet key (32 url-safe base64-encoded bytes)")
        if problem:
            raise ConfigError(f"{name} must be one Fernet key or several separated by commas, newest first: "
                              f"key {position} of {len(items)} {problem}")
    return tuple(item.encode() for item in items)
