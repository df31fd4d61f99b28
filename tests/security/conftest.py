"""Fixtures of the security tests: real TCP listeners on 127.0.0.2 that count every connection,
the table of confusable URLs, and an installed workspace with a user-token factory."""

from __future__ import annotations

import selectors
import socket
import threading
import time

import pytest
from confusable_urls import ADDON_ID, TRAP_HOST, WORKSPACE

from addon.extensions import db
from addon.models import Installation


class Listeners:
    """Plain TCP listeners on 127.0.0.2 (ports 80, 443 and one chosen by the OS) that accept and
    count every connection.

    The kernel queues a connection before the client's ``connect()`` returns, so ``count`` first
    accepts whatever is queued: the count is exact the moment a call that connected has returned,
    with no wait. A background thread also accepts (and closes) connections as they come, so a
    client that should not have connected fails at once rather than at its read timeout."""

    def __init__(self):
        self.sockets: list[socket.socket] = []
        self.accepted: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._wake_receiver, self._wake_sender = socket.socketpair()
        for port in (80, 443, 0):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((TRAP_HOST, port))
            listener.listen(64)
            listener.setblocking(False)
            self.sockets.append(listener)
        self.port = self.sockets[-1].getsockname()[1]
        self._thread = threading.Thread(target=self._accept_all, daemon=True)
        self._thread.start()

    def _accept_all(self) -> None:
        with selectors.DefaultSelector() as selector:
            for listener in self.sockets:
                selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wake_receiver, selectors.EVENT_READ)
            while all(key.fileobj is not self._wake_receiver for key, _ in selector.select()):
                self._accept_queued()

    def _accept_queued(self) -> None:
        """Accept, count and close every connection waiting in the listeners' queues."""
        with self._lock:
            for listener in self.sockets:
                while True:
                    try:
                        connection, peer = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    self.accepted.append((listener.getsockname()[1], peer[0]))
                    connection.close()

    def count(self) -> int:
        """Connections made so far, including those the kernel has queued but not yet handed over."""
        self._accept_queued()
        with self._lock:
            return len(self.accepted)

    def close(self) -> None:
        self._wake_sender.send(b"\0")
        self._thread.join(timeout=2)
        for listener in self.sockets:
            listener.close()
        self._wake_receiver.close()
        self._wake_sender.close()


@pytest.fixture(scope="session")
def listeners():
    trap = Listeners()
    yield trap
    trap.close()


@pytest.fixture
def no_connections(listeners, fake_clockify):
    """Fails the test if anything connected to the 127.0.0.2 listeners or reached the fake Clockify.
    Yields ``format(url)`` filling in the trap and fake ports."""
    before = listeners.count()

    def fill(template: str) -> str:
        return template.replace("{p}", str(listeners.port)).replace("{f}", str(fake_clockify.port))

    yield fill
    assert listeners.count() == before, f"connections reached the trap: {listeners.accepted[before:]}"
    assert fake_clockify.requests() == []


@pytest.fixture
def installation(app, signer, fake_clockify):
    """An ACTIVE installation of WORKSPACE on the fake Clockify."""
    with app.app_context():
        row = Installation(workspace_id=WORKSPACE, addon_id=ADDON_ID,
                           installation_token=signer.installation_token(WORKSPACE, ADDON_ID),
                           api_url=fake_clockify.api_url, reports_url=fake_clockify.reports_url)
        db.session.add(row)
        db.session.commit()
        db.session.expunge(row)
    return row


@pytest.fixture
def user_token(signer, installation, fake_clockify):
    """``user_token(**claims)``: an OWNER's user token whose URLs point at the fake Clockify,
    with ``claims`` overriding any of them."""
    def make(**claims) -> str:
        base = {"workspaceId": WORKSPACE, "addonId": ADDON_ID, "user": "user-1", "workspaceRole": "OWNER",
                "theme": "DEFAULT", "language": "EN", "backendUrl": fake_clockify.api_url,
                "reportsUrl": fake_clockify.reports_url, "exp": int(time.time()) + 1800}
        base.update(claims)
        return signer.make_token(**base)
    return make
