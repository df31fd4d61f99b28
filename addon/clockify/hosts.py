"""Which hosts outbound calls may reach (``CLOCKIFY_ALLOWED_API_DOMAINS``): the SSRF guard.

Patterns: ``api.clockify.me`` (that host), ``*.clockify.me`` (any subdomain, at any depth, not
``clockify.me`` itself), each optionally with ``:port`` (only that port; without one, any port).

URL parsers disagree on odd URLs (``http://127.0.0.2\\.x.clockify.me/`` is host
``127.0.0.2\\.x.clockify.me`` to ``urllib.parse`` and ``127.0.0.2`` to urllib3, which is what
connects), so the policy never has to guess which reading wins. It checks, in order:

1. the URL is printable ASCII: no whitespace, control or non-ASCII characters, no backslash;
2. the scheme is http(s) (https only, if so configured);
3. the authority is exactly ``host[:port]``: no userinfo (``@``), percent-encoding, IP-literal
   brackets or stray ``:``; the host is dot-separated letters, digits and hyphens without a
   trailing dot, and a numeric host is a canonical dotted-quad IPv4 address (``2130706434``,
   ``0x7f.1``, ``0177.0.0.1`` are refused: the resolver would read them as other addresses);
4. urllib3, which opens the socket, reads the same scheme, host and port;
5. the host and port match a pattern.

``allows_connection`` repeats step 5 for the host and port a socket is about to open to
(``addon.clockify.transport``), the last line of defence.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .client_errors import HostNotAllowed

DEFAULT_PORTS = {"http": 80, "https": 443}
# The claims of Clockify's installation and user tokens that name a base URL to call.
URL_CLAIMS = ("backendUrl", "reportsUrl", "ptoUrl", "locationsUrl", "screenshotsUrl")
MAX_HOST_CHARS = 253
_PRINTABLE_ASCII = re.compile(r"[\x21-\x7e]*")
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?", re.DOTALL)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_AUTHORITY = re.compile(r"(?P<host>[^:]+)(?::(?P<port>[0-9]{1,5}))?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


@dataclass(frozen=True)
class Target:
    """Where a URL connects: scheme, lower-case host and port (the scheme's default when absent)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return self.host if self.port == DEFAULT_PORTS[self.scheme] else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class HostPattern:
    domain: str
    wildcard: bool
    port: int | None

    @classmethod
    def parse(cls, text: str) -> HostPattern:
        """``*.example.com:8443`` -> HostPattern("example.com", True, 8443).

        :raise ValueError: for an empty pattern, a malformed host or a bad port.
        """
        text = text.strip().lower()
        host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        wildcard = host.startswith("*.")
        domain = host[2:] if wildcard else host
        if not valid_host(domain) or (port and not (port.isdigit() and 0 < int(port) < 65536)):
            raise ValueError(f"invalid host pattern {text!r}")
        return cls(domain, wildcard, int(port) if port else None)

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        return host.endswith("." + self.domain) if self.wildcard else host == self.domain


def valid_host(host: str) -> bool:
    """True for a host name or canonical IPv4 address that every resolver reads the same way
    (lower-case letters, digits, hyphens, dots; no trailing dot)."""
    if len(host) > MAX_HOST_CHARS or not _HOST.fullmatch(host):
        return False
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        try:
            return str(ipaddress.IPv4Address(host)) == host
        except ValueError:
            return False
    return True


class HostPolicy:
    """Checks outbound URLs, and the sockets opened for them, against the allowed host patterns."""

    def __init__(self, patterns: Iterable[str], *, https_only: bool = False):
        self.patterns = tuple(HostPattern.parse(p) for p in patterns)
        self.https_only = https_only
        self.schemes = ("https",) if https_only else ("http", "https")
        # The answer depends on the URL and the policy alone, and an API Studio call checks the
        # same few base URLs several times (token claims, base URL, prepared URL). Only allowed
        # URLs are kept (a raise is not cached), so refusals cannot fill it.
        self._checked = functools.lru_cache(maxsize=1024)(self._check)

    def check(self, url: str) -> Target:
        """Return where ``url`` connects when it may be called (see the module docstring).

        :raise HostNotAllowed: naming the host (or the start of the URL) and why; nothing was sent.
        """
        if not isinstance(url, str) or not url:
            raise HostNotAllowed("", "no URL")
        return self._checked(url)

    def _check(self, url: str) -> Target:
        if not _PRINTABLE_ASCII.fullmatch(url):
            raise HostNotAllowed(_shown(url), "whitespace, control or non-ASCII characters in the URL")
        if "\\" in url:
            raise HostNotAllowed(_shown(url), "backslash in the URL")
        found = _URL.fullmatch(url)
        if found is None:
            raise HostNotAllowed(_shown(url), "not an absolute http(s) URL")
        scheme, authority = found["scheme"].lower(), found["authority"]
        if scheme not in self.schemes:
            raise HostNotAllowed(authority or _shown(url), f"scheme must be {' or '.join(self.schemes)}")
        target = self._strict_target(scheme, authority)
        try:
            parsed = parse_url(url)
        except LocationParseError:
            raise HostNotAllowed(authority, "malformed URL") from None
        read = (parsed.scheme, parsed.host, parsed.port or DEFAULT_PORTS[scheme])
        if read != (target.scheme, target.host, target.port):
            raise HostNotAllowed(authority, "the HTTP client would read another host from this URL")
        if not self._matches(target.host, target.port):
            raise HostNotAllowed(str(target))
        return target

    def allows(self, url: str) -> bool:
        """True when ``check(url)`` would pass."""
        try:
            self.check(url)
        except HostNotAllowed:
            return False
        return True

    def check_claims(self, claims: Mapping[str, Any]) -> None:
        """Check every URL claim (``URL_CLAIMS``) a token carries: one host outside the policy
        and the token is not one the configured Clockify issues.

        :raise HostNotAllowed: for the first refused claim (a present non-string one included).
        """
        for name in URL_CLAIMS:
            value = claims.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise HostNotAllowed(name, "the claim is not a URL")
            self.check(value)

    def allows_connection(self, scheme: str, host: str, port: int) -> bool:
        """True when a socket may open to ``host:port`` for ``scheme`` (host exactly as the
        connection resolves it)."""
        return scheme in self.schemes and valid_host(host) and self._matches(host, port)

    def _strict_target(self, scheme: str, authority: str) -> Target:
        if "@" in authority:
            raise HostNotAllowed(authority.rpartition("@")[2], "credentials in URLs are not allowed")
        if "%" in authority:
            raise HostNotAllowed(authority, "percent-encoding in the host")
        if authority.startswith("["):
            raise HostNotAllowed(authority, "IP-literal hosts are not allowed")
        parts = _AUTHORITY.fullmatch(authority)
        if parts is None:
            raise HostNotAllowed(authority or "", "malformed host or port" if authority else "no host")
        host = parts["host"].lower()
        port = int(parts["port"]) if parts["port"] else DEFAULT_PORTS[scheme]
        if host.endswith("."):
            raise HostNotAllowed(host, "trailing dot in the host")
        if not valid_host(host):
            raise HostNotAllowed(host, "malformed or ambiguous host")
        if not 0 < port < 65536:
            raise HostNotAllowed(authority, "port out of range")
        return Target(scheme, host, port)

    def _matches(self, host: str, port: int) -> bool:
        return any(p.matches(host, port) for p in self.patterns)


def _shown(url: str) -> str:
    """The start of a refused URL, printable, for the error message."""
    return url[:64].encode("ascii", "backslashreplace").decode("ascii")
