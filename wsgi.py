"""WSGI entry point for gunicorn: ``gunicorn wsgi:app``."""

from addon import create_app
from addon.logs import configure_logging, early_log_format

configure_logging(fmt=early_log_format())  # the chosen format from the first line, start-up messages included
app = create_app()
configure_logging(app.config["SETTINGS"].log_level, fmt=app.config["SETTINGS"].log_format)
