"""What ``flask clockify simulate`` does: sign with the local development key and play Clockify
against a running server, so a developer exercises the real verification path.

The server trusts that key only when ``ADDON_ENV=development``. Tokens are derived from the
workspace and add-on id (``deterministic``), so separate commands agree: ``simulate webhook``
sends the token ``simulate install`` registered.
"""

from __future__ import annotations

import json

from ..dev_signing_key import dev_private_key
from .clockify_calls import DEFAULT_API_URL, ClockifySimulator, HttpTransport, Reply
from .signing import Signer


def dev_simulator(app, url: str | None = None, api_url: str = DEFAULT_API_URL) -> ClockifySimulator:
    """A simulator signing with ``app``'s development key, talking to ``url`` (default BASE_URL)."""
    settings = app.config["SETTINGS"]
    signer = Signer(dev_private_key(app.instance_path), settings.addon_key)
    return ClockifySimulator(signer, HttpTransport(url or settings.base_url), api_url=api_url, deterministic=True)


def describe(reply: Reply) -> str:
    """One status line and the JSON body, for the terminal."""
    try:
        body = json.dumps(reply.json(), indent=2)
    except ValueError:
        body = reply.body.decode("utf-8", "replace")
    text = f"HTTP {reply.status_code}\n{body}"
    if reply.status_code == 401:
        text += "\nhint: the server trusts the development key only when it runs with ADDON_ENV=development"
    return text
