"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from addon import create_app
from addon.logs import configure_logging

app = create_app()
configure_logging(app.config["SETTINGS"].log_level)
