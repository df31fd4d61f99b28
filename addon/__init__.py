"""Clockify add-on server: lifecycle callbacks, webhooks, API Studio, background jobs.

``create_app`` only wires: it validates the configuration, binds the extensions and registers
the blueprints. Nothing connects to anything when the package is imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import after_answer, auth, crypto, metrics, queueing
from .config import VARIABLES, ConfigError, load_settings, read_environ
from .errors import register_error_handlers
from .extensions import db, migrate
from .jobs import callbacks as job_callbacks
from .request_context import HEADER as REQUEST_ID_HEADER
from .request_context import bind, sanitize
from .web.connection import CloseUnreadBodies

ROOT = Path(__file__).resolve().parent.parent
_VARIABLE_NAMES = {v.name for v in VARIABLES}


def create_app(overrides: Mapping[str, Any] | None = None, instance_path: str | None = None) -> Flask:
    """Build the Flask app.

    :param overrides: values that win over the environment and ``.env``. Keys named like
        environment variables (``DATABASE_URL``...) are validated with them (a None value unsets
        the variable); other keys go to ``app.config``.
    :param instance_path: the instance folder (default: ``instance/`` beside the package).
    :raise SystemExit: with one ``configuration error: ...`` line per bad variable.
    """
    overrides = dict(overrides or {})
    app = Flask(__name__, instance_relative_config=True, instance_path=instance_path,
                static_folder=str(ROOT / "static"), template_folder=str(ROOT / "templates"))

    environ = read_environ({k: v for k, v in overrides.items() if k in _VARIABLE_NAMES})
    try:
        settings = load_settings(environ, app.instance_path)
    except ConfigError as error:
        raise SystemExit(error.report()) from None
    os.makedirs(app.instance_path, exist_ok=True)

    app.config.update(
        SETTINGS=settings,
        TESTING=settings.env == "test",
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        JSON_SORT_KEYS=False,
    )
    app.config.update({k: v for k, v in overrides.items() if k not in _VARIABLE_NAMES})
    # One trusted proxy hop (Heroku's router); more hops would let clients spoof remote_addr.
    # Flask documents wrapping wsgi_app by assignment; its stubs declare a method.
    app.wsgi_app = CloseUnreadBodies(  # type: ignore[method-assign]
        ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1))

    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    crypto.init_app(app, settings.token_encryption_key)
    queueing.init_app(app, settings.redis_url)
    metrics.init_app(app)
    auth.init_app(app, settings)
    _register_request_hooks(app)
    after_answer.init_app(app)
    register_error_handlers(app)

    from . import models  # noqa: F401  (registers the tables with the metadata)
    from .cli import register_cli
    from .web import register_blueprints

    register_blueprints(app)
    register_cli(app)

    if settings.embedded_redis and settings.env == "development":
        from .workers import EmbeddedWorker

        # Started by the first request, so CLI commands and worker.py never run a job thread.
        worker = EmbeddedWorker(app, app.extensions[queueing.EXTENSION_KEY])
        app.extensions[EmbeddedWorker.EXTENSION_KEY] = worker
        app.before_request(worker.ensure_started)
    if settings.env != "test":
        from .jobs_health import JobsWatcher

        # Started by the first request: only serving processes warn about a missing worker.
        watcher = JobsWatcher(app)
        app.extensions[JobsWatcher.EXTENSION_KEY] = watcher
        app.before_request(watcher.ensure_started)
    return app


job_callbacks.use_app_factory(create_app)


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 5}}
    # Fail fast when PostgreSQL is unreachable so requests answer 503 instead of hanging.
    return {"pool_pre_ping": True, "pool_recycle": 300, "connect_args": {"connect_timeout": 3}}


def _register_request_hooks(app: Flask) -> None:
    settings = app.config["SETTINGS"]

    @app.before_request
    def _bind_request_id():
        g.request_id = sanitize(request.headers.get(REQUEST_ID_HEADER))
        bind(g.request_id)

    @app.after_request
    def _response_headers(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id") or sanitize(None)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # The sidebar URL carries the user token: never leak it in a Referer.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if settings.env == "production":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    @app.teardown_request
    def _unbind(_exc):
        bind(None)
