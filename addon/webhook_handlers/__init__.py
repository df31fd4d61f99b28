"""Webhook handlers: functions that run, in an RQ job, for each stored webhook event.

Register one with the ``on`` decorator in any module of this package (every module here is
imported before the first event is handled)::

    from addon.webhook_handlers import Event, on

    @on("NEW_PROJECT", "PROJECT_UPDATED")
    def log_project(event: Event) -> None:
        print(event.workspace_id, event.payload.get("name"))

* ``@on("*")`` runs for every event, unknown ones included.
* Handlers of one event run in registration order, each in its own database savepoint: a
  failing handler's writes are rolled back, the others' are kept.
* Raise ``Skipped("why")`` when a payload is not what you expect: the reason is recorded on the
  event, which still counts as processed. Any other exception makes the whole event retry with
  backoff (so every handler must be idempotent) and, after the last attempt, end ``failed``.
* Use ``event.workspace_id`` (the verified one), never a workspace id read from the payload.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

ANY_EVENT = "*"
_EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")

Handler = Callable[["Event"], Any]


@dataclass(frozen=True)
class Event:
    """What a handler receives: one stored webhook delivery.

    :ivar id: the ``webhook_events`` row id.
    :ivar workspace_id: the workspace, verified from the webhook token.
    :ivar event_type: e.g. ``NEW_PROJECT``.
    :ivar payload: the parsed JSON body (usually a dict; shapes are not documented by Clockify).
    :ivar known: False for an event name the contract does not know yet.
    :ivar received_at: when the delivery was stored.
    :ivar attempt: 1 on the first run, 2 on the first retry...
    """

    id: int
    workspace_id: str
    event_type: str
    payload: Any
    known: bool
    received_at: datetime
    attempt: int


class Skipped(Exception):
    """Raise from a handler to skip an event it cannot use; recorded, never retried."""


class Registry:
    """Handlers by event name."""

    def __init__(self):
        self._handlers: dict[str, list[Handler]] = {}

    def on(self, *event_types: str) -> Callable[[Handler], Handler]:
        """Decorator: run the function for each of ``event_types`` (``"*"`` = every event).

        :raise ValueError: no event name given, or one that is not shaped like an event name.
        """
        if not event_types:
            raise ValueError("on() needs at least one event name")
        bad = [e for e in event_types if e != ANY_EVENT and not _EVENT_NAME.match(e)]
        if bad:
            raise ValueError(f"not an event name: {bad[0]!r}")

        def register(func: Handler) -> Handler:
            for event_type in event_types:
                handlers = self._handlers.setdefault(event_type, [])
                if func not in handlers:
                    handlers.append(func)
            return func
        return register

    def remove(self, func: Handler) -> None:
        """Unregister ``func`` from every event."""
        for handlers in self._handlers.values():
            if func in handlers:
                handlers.remove(func)

    def handlers_for(self, event_type: str) -> tuple[Handler, ...]:
        """The handlers of ``event_type``, then the ``"*"`` ones, each once."""
        load_handler_modules()
        ordered: list[Handler] = []
        for func in self._handlers.get(event_type, []) + self._handlers.get(ANY_EVENT, []):
            if func not in ordered:
                ordered.append(func)
        return tuple(ordered)


registry = Registry()
on = registry.on

_loaded = False
_load_lock = threading.Lock()


def load_handler_modules() -> None:
    """Import every module of this package once, so their ``@on`` registrations exist."""
    global _loaded
    if _loaded:
        return
    with _load_lock:
        if _loaded:
            return
        for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True


def handler_name(func: Handler) -> str:
    """``module.function`` of a handler, for logs and ``last_error``."""
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


__all__ = ["ANY_EVENT", "Event", "Handler", "Registry", "Skipped", "handler_name", "load_handler_modules", "on",
           "registry"]
