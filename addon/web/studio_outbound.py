"""The outbound side of an API Studio call: allowed hosts, the workspace's request budget, and
sending through the add-on's Clockify client."""

from __future__ import annotations

from urllib.parse import urlsplit


def host_allowed(url: str, patterns: tuple[str, ...]) -> bool:
    """True when ``url`` is http(s) and its host (with port, when one is given) matches a pattern.

    ``*.example.com`` matches sub-domains of example.com, not example.com itself; a pattern with
    ``:port`` matches that port only, one without matches any port.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    host = parts.hostname.lower()
    port = parts.port
    for pattern in patterns:
        name, _, pattern_port = pattern.lower().partition(":")
        if pattern_port and str(port) != pattern_port:
            continue
        if name.startswith("*.") and host.endswith(name[1:]) and host != name[2:]:
            return True
        if host == name:
            return True
    return False
