"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from addon import create_app
from addon.logs import configure_logging

configure_logging()  # JSON from the first line, start-up messages included
app = create_app()
configure_logging(app.config["SETTINGS"].log_level)
