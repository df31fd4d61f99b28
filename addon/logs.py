"""Logging with request/workspace ids on every line and tokens redacted: JSON on stdout for
machines (``LOG_FORMAT=json``, the default outside development), or one plain line per event on
stderr for a person at a terminal (``LOG_FORMAT=text``, the default in development; stderr keeps a
command's stdout for its own output, e.g. ``flask clockify simulate ui``).

Entry points (``wsgi.py``, ``worker.py``, the CLI) call ``configure_logging``; importing the
package configures nothing.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from pythonjsonlogger.json import JsonFormatter

from .request_context import current_request_id, current_workspace_id

REDACTED = "[REDACTED]"
# JWTs (every Clockify token is one) and the values of token-bearing headers or fields.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_TOKEN_FIELD = re.compile(
    r"(?i)((?:auth_?token|x-addon-token|clockify-signature|x-addon-lifecycle-token|authorization|api[_-]?key)"
    r"[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)[^\s\"'&,;}]+"
)


# The one rule for field names whose whole value is a secret (logs and the API Studio audit):
# names ending in one of these words, ``auth_token``, ``X-Addon-Token``, ``Authorization``,
# ``Clockify-Signature``, ``clientSecret``, ``db_password``... (``token_kind`` or ``token_digest``
# describe a secret without holding it, and stay).
SECRET_FIELD = re.compile(
    r"(?i)(token|tokens|authorization|signature|secret|password|passwd|api[_-]?key|private[_-]?key"
    r"|secret[_-]?key|cookie|credentials?)$")


def redact(text: str) -> str:
    """Replace every token-looking substring of ``text``."""
    return _TOKEN_FIELD.sub(lambda m: m.group(1) + REDACTED, _JWT.sub(REDACTED, text))


def is_secret_field(name) -> bool:
    """Whether a field (header, JSON key, log extra) named ``name`` holds a secret."""
    return isinstance(name, str) and SECRET_FIELD.search(name) is not None


def redact_value(value):
    """``redact`` applied through dicts, lists and tuples; values under secret-named keys
    (``token``, ``Authorization``, ``password``...) are replaced whole."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: REDACTED if is_secret_field(k) and v is not None else redact_value(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def redact_url(url: str) -> str:
    """``url`` as it went on the wire, with the values of secret-named query parameters replaced
    (the rule of ``redact_value``) and token-looking text anywhere redacted; the rest unchanged."""
    parts = urlsplit(url)
    if parts.query:
        parts = parts._replace(query="&".join(_redact_query_pair(pair) for pair in parts.query.split("&")))
    return redact(urlunsplit(parts))


def _redact_query_pair(pair: str) -> str:
    name, equals, _ = pair.partition("=")
    return f"{name}={REDACTED}" if equals and is_secret_field(unquote_plus(name)) else pair


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``workspace_id`` to each record (on the handler, so records
    propagated from child loggers get them too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id() or _access_log_request_id(record)
        if getattr(record, "workspace_id", None) is None:
            record.workspace_id = current_workspace_id()
        return True


def _access_log_request_id(record: logging.LogRecord) -> str | None:
    # gunicorn writes its access line after the request, from the response's headers (its atoms).
    if record.name == "gunicorn.access" and isinstance(record.args, dict):
        return record.args.get("{x-request-id}o")
    return None


class RedactingFilter(logging.Filter):
    """Renders the message once and removes tokens from it, from extras (nested ones too), from
    the traceback and from the stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, REDACTED if is_secret_field(key) and value is not None
                        else redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
# Colour codes some libraries put in messages (werkzeug's request lines): never inside a log line.
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CONTEXT = ("request_id", "workspace_id")


class PlainJsonFormatter(JsonFormatter):
    """The JSON formatter, with terminal colour codes removed from the message."""

    def format(self, record: logging.LogRecord) -> str:
        record.msg = _ANSI.sub("", str(record.msg))
        return super().format(record)


class TextFormatter(logging.Formatter):
    """``12:00:01 WARNING addon.auth: message  request_id=... workspace_id=... key=value``: one
    line per event (a traceback follows on its own indented lines), no colour codes."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        record.msg = _ANSI.sub("", str(record.msg)).replace("\n", " ")
        line = super().formatMessage(_with_message(record, self))
        extras = [f"{k}={getattr(record, k)}" for k in _CONTEXT if getattr(record, k, None)]
        extras += [f"{k}={v}" for k, v in record.__dict__.items()
                   if k not in _STANDARD and k not in _CONTEXT and not k.startswith("_") and v is not None]
        if extras:
            line += "  " + " ".join(extras)
        if record.exc_text:
            line += "\n" + "\n".join("    " + part for part in record.exc_text.splitlines())
        return line


def _with_message(record: logging.LogRecord, formatter: logging.Formatter) -> logging.LogRecord:
    record.message = record.getMessage()
    record.asctime = formatter.formatTime(record, formatter.datefmt)
    return record


def early_log_format(environ=None) -> str:
    """The format to log in before the settings are validated (start-up messages): ``LOG_FORMAT``
    if valid, else the default of ``ADDON_ENV``."""
    from .config import read_environ

    environ = read_environ() if environ is None else environ
    value = (environ.get("LOG_FORMAT") or "").strip().lower()
    if value in ("text", "json"):
        return value
    return "text" if (environ.get("ADDON_ENV") or "").strip() == "development" else "json"


def configure_logging(level: str = "INFO", stream=None, fmt: str = "json") -> None:
    """Send log lines in format ``fmt`` (``json`` on stdout, ``text`` on stderr, unless ``stream``
    is given) at ``level``, replacing other handlers."""
    logging.config.dictConfig(logging_config(level, stream, fmt=fmt))


def logging_config(level: str = "INFO", stream=None, gunicorn: bool = False, fmt: str = "json") -> dict:
    """The ``dictConfig`` of ``configure_logging``.

    :param gunicorn: also route gunicorn's error and access loggers to the handler
        (``gunicorn.conf.py`` hands this to gunicorn as ``logconfig_dict``).
    :param fmt: ``json`` or ``text`` (see the module docstring).
    """
    loggers = {name: {"level": "INFO", "handlers": [], "propagate": True}
               for name in ("gunicorn.error", "gunicorn.access")} if gunicorn else {}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}, "redact": {"()": RedactingFilter}},
        "formatters": {"json": {
            "()": PlainJsonFormatter,
            "fmt": "{asctime}{levelname}{name}{message}",
            "style": "{",
            "rename_fields": {"levelname": "level", "asctime": "time"},
        }, "text": {"()": TextFormatter}},
        "handlers": {"stdout": {
            "class": "logging.StreamHandler",
            "stream": stream or (sys.stderr if fmt == "text" else sys.stdout),
            "formatter": "text" if fmt == "text" else "json",
            "filters": ["context", "redact"],
        }},
        "root": {"level": level, "handlers": ["stdout"]},
        "loggers": loggers,
    }
