"""Which hosts outbound calls may reach (``CLOCKIFY_ALLOWED_API_DOMAINS``): the SSRF guard.

Patterns: ``api.clockify.me`` (that host), ``*.clockify.me`` (any subdomain, at any depth, not
``clockify.me`` itself), each optionally with ``:port`` (only that port; without one, any port).
A URL is refused when its scheme is not http(s) (https only, if so configured), when it carries
credentials, or when its host matches no pattern.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .client_errors import HostNotAllowed

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HostPattern:
    domain: str
    wildcard: bool
    port: int | None

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        """``*.example.com:8443`` -> HostPattern("example.com", True, 8443).

        :raise ValueError: for an empty pattern or a bad port.
        """
        text = text.strip().lower()
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        wildcard = host.startswith("*.")
        domain = host[2:] if wildcard else host
        if not domain or (port and not port.isdigit()):
            raise ValueError(f"invalid host pattern {text!r}")
        return cls(domain.rstrip("."), wildcard, int(port) if port else None)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        return host.endswith("." + self.domain) if self.wildcard else host == self.domain


class HostPolicy:
    """Checks outbound URLs against the allowed host patterns."""

    def __init__(self, patterns: Iterable[str], *, https_only: bool = False):
        self.patterns = tuple(HostPattern.parse(p) for p in patterns)
        self.https_only = https_only

    def check(self, url: str) -> None:
        """Return when ``url`` may be called.

        :raise HostNotAllowed: naming the host and why, before anything is sent.
        """
        parts = urlsplit(url)
        schemes = ("https",) if self.https_only else ("http", "https")
        if parts.scheme not in schemes:
            raise HostNotAllowed(parts.netloc or url[:64], f"scheme must be {' or '.join(schemes)}")
        try:
            host, port = parts.hostname, parts.port
        except ValueError:
            raise HostNotAllowed(parts.netloc, "malformed host or port") from None
        if not host:
            raise HostNotAllowed(url[:64], "no host")
        if parts.username is not None or parts.password is not None:
            raise HostNotAllowed(host, "credentials in URLs are not allowed")
        host = host.rstrip(".")
        port = port or DEFAULT_PORTS[parts.scheme]
        if not any(p.matches(host, port) for p in self.patterns):
            raise HostNotAllowed(host if port == DEFAULT_PORTS[parts.scheme] else f"{host}:{port}")

    def allows(self, url: str) -> bool:
        """True when ``check(url)`` would pass."""
        try:
            self.check(url)
        except HostNotAllowed:
            return False
        return True
