"""The last line of the SSRF guard: a requests transport adapter whose sockets open only to a
host and port the ``HostPolicy`` allows.

The client checks every URL before it sends it; this adapter checks again where nothing can
be reinterpreted any more, in urllib3's ``_new_conn``, with the host and port the socket is
about to be opened to. A refusal raises ``HostNotAllowed`` before ``connect()``. Proxies are
refused outright: through one, the socket would open to the proxy, not to the checked host.
"""

from __future__ import annotations

from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .client_errors import HostNotAllowed
from .hosts import HostPolicy


class GuardedAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` whose connection pools only connect where ``policy`` allows."""

    def __init__(self, policy: HostPolicy, **kwargs: Any):
        self.policy = policy
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pool_classes(self.policy)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any):
        raise HostNotAllowed(proxy[:64], "outbound calls never go through a proxy")


def guarded_pool_classes(policy: HostPolicy) -> dict[str, type]:
    """urllib3 pool classes (by scheme) whose connections check ``policy`` before connecting."""

    def refuse_unless_allowed(connection: HTTPConnection, scheme: str) -> None:
        # _dns_host is the name handed to getaddrinfo (``host`` drops a trailing dot).
        host = connection._dns_host
        if not policy.allows_connection(scheme, host, connection.port):
            raise HostNotAllowed(f"{host}:{connection.port}", "refused at connection time")

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self):
            refuse_unless_allowed(self, "http")
            return super()._new_conn()

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self):
            refuse_unless_allowed(self, "https")
            return super()._new_conn()

    class GuardedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    return {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}
