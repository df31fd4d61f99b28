"""The fake Clockify's webhook deliveries: each entity write it serves (a project created through
API Studio, a time entry deleted...) is POSTed, signed, to every webhook of the workspace that
subscribes to the matching event, as Clockify does.

Subscriptions come from the two places Clockify keeps them: the webhooks of the add-on's manifest
(tokens issued at install, ``subscribe_manifest``) and the webhooks registered through the API
(``POST /workspaces/{ws}/webhooks`` on the fake, read at delivery time). Deliveries run on one
background thread, in order, and each outcome is kept in ``deliveries()``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import requests

from ..clockify.deliveries import EVENT_TYPE_HEADER, TOKEN_HEADER
from .fake_entities import CREATED, DELETED, UPDATED, Change

log = logging.getLogger(__name__)
EVENT_OF_CHANGE = {
    (kind, action): event
    for kind, names in {
        "projects": ("NEW_PROJECT", "PROJECT_UPDATED", "PROJECT_DELETED"),
        "tasks": ("NEW_TASK", "TASK_UPDATED", "TASK_DELETED"),
        "clients": ("NEW_CLIENT", "CLIENT_UPDATED", "CLIENT_DELETED"),
        "tags": ("NEW_TAG", "TAG_UPDATED", "TAG_DELETED"),
        "time-entries": ("NEW_TIME_ENTRY", "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED"),
    }.items()
    for action, event in zip((CREATED, UPDATED, DELETED), names, strict=True)
}
MANIFEST, API = "manifest", "api"


@dataclass(frozen=True)
class Subscription:
    """One webhook of the add-on: the event, where it goes, the token that signs it."""

    event: str
    url: str
    token: str
    source: str


@dataclass(frozen=True)
class Delivery:
    """One delivery attempt and the add-on's answer (``status`` None: it could not be sent)."""

    at: float
    workspace_id: str
    event: str
    url: str
    source: str
    status: int | None
    answer: str


class WebhookDeliverer:
    """Delivers ``fake``'s entity writes to the add-on's subscribed webhooks."""

    def __init__(self, fake, *, timeout: float = 10.0, keep: int = 200):
        self.fake = fake
        self.timeout = timeout
        self._manifest: dict[str, list[Subscription]] = {}
        self._log: deque[Delivery] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._session = requests.Session()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fake-clockify-deliveries")
        fake.on_write(self._on_write)

    def subscribe_manifest(self, workspace_id: str, subscriptions: Iterable[Subscription]) -> None:
        """Replace the manifest webhooks of ``workspace_id`` (an install issues new tokens)."""
        with self._lock:
            self._manifest[workspace_id] = list(subscriptions)

    def subscriptions(self, workspace_id: str) -> list[Subscription]:
        """Every webhook of ``workspace_id``: the manifest's, then those registered through the API."""
        with self._lock:
            found = list(self._manifest.get(workspace_id, ()))
        found += [Subscription(hook["webhookEvent"], hook["url"], hook["authToken"], API)
                  for hook in self.fake.webhooks(workspace_id) if hook.get("enabled", True)]
        return found

    def subscribed_events(self, workspace_id: str) -> list[str]:
        """The events of ``workspace_id`` that some webhook subscribes to, sorted."""
        return sorted({s.event for s in self.subscriptions(workspace_id)})

    def deliver(self, workspace_id: str, event: str, payload: dict) -> list[Future]:
        """Queue ``payload`` for every webhook subscribing to ``event``; [] when none does."""
        body = json.dumps(payload).encode()
        return [self._executor.submit(self._send, workspace_id, subscription, body)
                for subscription in self.subscriptions(workspace_id) if subscription.event == event]

    def deliveries(self, workspace_id: str | None = None) -> list[Delivery]:
        """Deliveries made so far, newest first."""
        with self._lock:
            done = list(self._log)
        return [d for d in reversed(done) if workspace_id in (None, d.workspace_id)]

    def close(self) -> None:
        """Finish the queued deliveries and stop the delivery thread."""
        self._executor.shutdown(wait=True, cancel_futures=False)
        self._session.close()

    def _on_write(self, workspace_id: str, change: Change) -> None:
        event = EVENT_OF_CHANGE.get((change.kind, change.action))
        if event is not None:
            self.deliver(workspace_id, event, {**change.entity, "workspaceId": workspace_id})

    def _send(self, workspace_id: str, subscription: Subscription, body: bytes) -> Delivery:
        headers = {"Content-Type": "application/json", TOKEN_HEADER: subscription.token,
                   EVENT_TYPE_HEADER: subscription.event}
        try:
            response = self._session.post(subscription.url, data=body, headers=headers, timeout=self.timeout)
            status, answer = response.status_code, response.text[:300]
        except requests.RequestException as error:
            status, answer = None, type(error).__name__
        delivery = Delivery(time.time(), workspace_id, subscription.event, subscription.url, subscription.source,
                            status, answer)
        with self._lock:
            self._log.append(delivery)
        log.info("fake Clockify delivered %s to %s: %s", subscription.event, subscription.url,
                 status if status is not None else answer)
        return delivery
