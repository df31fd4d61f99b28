"""What RQ failure callbacks need: an app context wherever RQ calls them.

In a job's horse the context is already there; when RQ's registry cleanup reports an abandoned
job, the worker's maintenance pushes one (``addon.workers``); anywhere else (``rq`` CLI tools)
one app is built from the environment, once.
"""

from __future__ import annotations

from contextlib import contextmanager

from flask import has_app_context

from ..extensions import db

_app = None


@contextmanager
def app_context():
    """Run the block inside an app context, reusing the current one when there is one."""
    global _app
    if has_app_context():
        yield
        return
    if _app is None:
        from .. import create_app

        _app = create_app()
    with _app.app_context():
        try:
            yield
        finally:
            db.session.remove()
