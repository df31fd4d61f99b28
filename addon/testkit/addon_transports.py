"""How the test kit's requests reach the add-on: through a Flask test client (no socket) or over
HTTP to a running server. Both answer a ``Reply``, so a caller works the same with either.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class Reply:
    """An answer of the add-on, the same whichever transport carried the request."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes

    def json(self):
        """The body parsed as JSON (None when empty)."""
        return json.loads(self.body) if self.body else None


class FlaskTransport:
    """Sends requests through a Flask test client (no socket)."""

    def __init__(self, client):
        self.client = client

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: Mapping | None = None,
                chunked: bool = False) -> Reply:
        """Send one request; ``chunked`` streams the body without a Content-Length."""
        options: dict[str, Any] = {"headers": dict(headers or {})}
        if chunked:
            # As gunicorn does for a chunked request: no Content-Length, and the server has
            # already de-chunked and terminates the stream.
            options["headers"]["Transfer-Encoding"] = "chunked"
            options.update(input_stream=io.BytesIO(body or b""), environ_overrides={"wsgi.input_terminated": True})
        else:
            options["data"] = body
        response = self.client.open(path, method=method, **options)
        return Reply(response.status_code, dict(response.headers), response.get_data())


class HttpTransport:
    """Sends requests over HTTP to a running server at ``base_url``."""

    def __init__(self, base_url: str, session: requests.Session | None = None, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.session = session or requests.Session()
        self.timeout = timeout

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: Mapping | None = None,
                chunked: bool = False) -> Reply:
        """Send one request; ``chunked`` uses Transfer-Encoding: chunked."""
        data = iter([body or b""]) if chunked else body
        response = self.session.request(method, self.base_url + path, data=data, headers=dict(headers or {}),
                                        timeout=self.timeout)
        return Reply(response.status_code, dict(response.headers), response.content)
