"""gunicorn settings for Heroku-style dynos (``gunicorn wsgi:app`` picks this file up).

Validates the configuration before any worker boots, exactly as ``create_app`` will (``.env``
included), so bad values end the master with one ``configuration error`` line each instead of a
loop of workers failing to boot. Also: connections closed after an answer that left a body
unread (``pre_request``, see ``addon/web/connection.py``), JSON logs (access lines included, tokens redacted), a
fresh Prometheus multiprocess directory per boot, and dead workers' live gauges removed.
"""

import os
import shutil
import sys

_multiproc_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _multiproc_dir:
    # Before anything imports prometheus_client: stale files would be summed in, and importing
    # the add-on (below) creates its label-less counters' files in this directory at once (a
    # directory that does not exist yet, on a fresh dyno, would stop the master right there).
    shutil.rmtree(_multiproc_dir, ignore_errors=True)
    os.makedirs(_multiproc_dir)

from addon.config import ConfigError, load_settings, read_environ  # noqa: E402
from addon.logs import logging_config  # noqa: E402
from addon.web.connection import bind_server_request  # noqa: E402

try:
    _settings = load_settings(read_environ(), os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance"))
except ConfigError as _error:
    sys.exit(_error.report())

bind = [f"0.0.0.0:{os.environ.get('PORT', '5000')}"]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The router gives up after 30 s; finish or drop requests before Heroku's SIGKILL.
timeout = 20
graceful_timeout = 20
keepalive = 100
# Nothing drives gunicorn through its control socket, and one fixed path in $HOME would be
# shared by every gunicorn of the machine.
control_socket_disable = True

logconfig_dict = logging_config(_settings.log_level, gunicorn=True, fmt=_settings.log_format)
# The path without its query string: the sidebar's query carries the user's token.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s'

def pre_request(worker, req):
    # An answer given before the app read the whole body must be able to close the connection
    # (addon/web/connection.py); gunicorn ignores a Connection header set by the app.
    bind_server_request(req)


def post_request(worker, req, environ, resp):
    bind_server_request(None)


def child_exit(server, worker):
    if _multiproc_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
