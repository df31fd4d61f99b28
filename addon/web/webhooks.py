"""Webhook deliveries: ``POST /webhooks/time|project|user|expense|custom|generic``, handed to
``addon.flows.webhook_ingestion`` (its checks and what it stores are explained there)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..clockify import deliveries, event_types
from ..flows.webhook_ingestion import ingest
from .request_body import read_limited_body

bp = Blueprint("webhooks", __name__)


@bp.post(f"/webhooks/<any({', '.join(event_types.CATEGORIES)}):category>")
def receive(category: str):
    """Store one delivery and enqueue its processing.

    :return: 200 ``{"status": "accepted", "id"}`` once committed, or 200 ``{"status":
        "duplicate", "duplicate": true, "id"}`` with the id of the row stored for the latest
        delivery it repeats.
    """
    ingested = ingest(category, read_limited_body, token=request.headers.get(deliveries.TOKEN_HEADER, ""),
                      path=request.path, headers=request.headers, settings=current_app.config["SETTINGS"])
    return jsonify(ingested.answer())
