"""What RQ failure callbacks need: an app context wherever RQ calls them.

In a job's horse the context is already there; when RQ's registry cleanup reports an abandoned
job, the worker's maintenance pushes one (``addon.workers``); anywhere else (``rq`` CLI tools)
one app is built from the environment, once, by the factory the package registers
(``use_app_factory``): importing this module runs ``addon/__init__.py`` first, so it is always set,
and the jobs layer never imports the app factory (which imports the web and CLI layers).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from flask import Flask, has_app_context

from ..extensions import db

_app: Flask | None = None
_app_factory: Callable[[], Flask] | None = None


def use_app_factory(factory: Callable[[], Flask]) -> None:
    """Register how to build an app when RQ calls a callback outside any app context."""
    global _app_factory
    _app_factory = factory


@contextmanager
def app_context():
    """Run the block inside an app context, reusing the current one when there is one."""
    global _app
    if has_app_context():
        yield
        return
    if _app is None:
        if _app_factory is None:
            raise RuntimeError("no app factory registered (addon.jobs.callbacks.use_app_factory)")
        _app = _app_factory()
    with _app.app_context():
        try:
            yield
        finally:
            db.session.remove()
