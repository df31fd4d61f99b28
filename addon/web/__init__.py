"""HTTP adapters: one blueprint per surface. Views read the request, call plain-Python code
from ``addon.clockify``, ``addon.store`` and ``addon.jobs``, and return JSON."""


def register_blueprints(app) -> None:
    """Register every blueprint of the add-on on ``app``."""
    from . import (
        bootstrap,
        dev_index,
        health,
        lifecycle,
        manifest,
        openapi_document,
        operator,
        studio,
        studio_events,
        studio_history,
        studio_pages,
        studio_snippets,
        webhooks,
    )

    app.register_blueprint(health.bp)
    app.register_blueprint(manifest.bp)
    app.register_blueprint(openapi_document.bp)
    app.register_blueprint(lifecycle.bp)
    app.register_blueprint(webhooks.bp)
    app.register_blueprint(bootstrap.bp)
    app.register_blueprint(studio.bp)
    app.register_blueprint(studio_history.bp)
    app.register_blueprint(studio_events.bp)
    app.register_blueprint(studio_snippets.bp)
    app.register_blueprint(studio_pages.bp)
    if app.config["SETTINGS"].env == "development":
        app.register_blueprint(operator.bp)
        app.register_blueprint(dev_index.bp)
