"""Fixtures of the security tests: real TCP listeners on 127.0.0.2 that count every connection,
the table of confusable URLs, and an installed workspace with a user-token factory."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from confusable_urls import ADDON_ID, TRAP_HOST, WORKSPACE

from addon.extensions import db
from addon.models import Installation


class Listeners:
    """Plain TCP listeners on 127.0.0.2 (ports 80, 443 and one chosen by the OS) that accept and
    count every connection, from a background thread."""

    def __init__(self):
        self.sockets: list[socket.socket] = []
        self.accepted: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        for port in (80, 443, 0):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((TRAP_HOST, port))
            listener.listen(64)
            listener.settimeout(0.05)
            self.sockets.append(listener)
        self.port = self.sockets[-1].getsockname()[1]
        self._thread = threading.Thread(target=self._accept_all, daemon=True)
        self._thread.start()

    def _accept_all(self) -> None:
        while not self._stop.is_set():
            for listener in self.sockets:
                try:
                    connection, peer = listener.accept()
                except (TimeoutError, OSError):
                    continue
                with self._lock:
                    self.accepted.append((listener.getsockname()[1], peer[0]))
                connection.close()

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for listener in self.sockets:
            listener.close()


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
    # Give a connect that slipped through time to be accepted before counting.
    threading.Event().wait(0.02)
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
