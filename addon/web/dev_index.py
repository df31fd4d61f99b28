"""The development index page (``GET /``) and its two actions; registered only when
``ADDON_ENV=development`` (everywhere else ``/`` is 404).

The page shows what a newcomer needs to see the add-on work: links that open API Studio with fresh
signed tokens, the manifest, the installations with their bootstrap status and cached data, the
webhooks received with their status, buttons that make the fake Clockify deliver any subscribed
event, and the commands to try next. The sandbox of ``make dev`` (``addon.testkit.sandbox``) is
read from ``app.extensions``; without it (``flask run``) the page shows what the database holds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask import Blueprint, current_app, jsonify, redirect, render_template, request

from .. import jobs_health
from ..clockify.json_text import storable_text
from ..errors import BadRequest, NotFound, ValidationFailed
from ..store import bootstrap_runs, webhook_events, workspace_data
from ..store import operator as operator_store
from .bootstrap import status_body

bp = Blueprint("dev_index", __name__)
SANDBOX_KEY = "addon.dev_sandbox"  # addon.testkit.sandbox.EXTENSION_KEY, not imported: dev-only code
RECENT_EVENTS = 15


@bp.get("/")
def index():
    """The index page, rendered on the server (no script, nothing fetched from elsewhere)."""
    settings = current_app.config["SETTINGS"]
    sandbox = current_app.extensions.get(SANDBOX_KEY)
    installations = operator_store.page_installations(per_page=10).items
    for installation in installations:
        workspace_id = installation["workspace_id"]
        installation["bootstrap"] = status_body(bootstrap_runs.latest(workspace_id))
        installation["cached"] = workspace_data.counts(workspace_id)
    workspace_id = sandbox.workspace_id if sandbox else (installations[0]["workspace_id"] if installations else None)
    html = render_template(
        "dev_index.html", settings=settings, sandbox=sandbox, installations=installations,
        workspace_id=workspace_id, studio_links=_studio_links(settings, sandbox, installations),
        events=[(event, _entity_label(event.payload)) for event in webhook_events.page(per_page=RECENT_EVENTS).items],
        counts=operator_store.event_counts_by_status(), jobs=jobs_health.snapshot(),
        subscribed=sandbox.deliverer.subscribed_events(sandbox.workspace_id) if sandbox else [],
        deliveries=sandbox.deliverer.deliveries()[:10] if sandbox else [],
        sent=request.args.get("sent"), sent_statuses=request.args.get("statuses"), now=datetime.now(UTC))
    response = current_app.response_class(html, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"  # the links carry fresh tokens
    return response


@bp.post("/dev/webhooks/send")
def send_webhook():
    """Make the fake Clockify deliver ``event`` (a sample, or the JSON body's ``payload``) to every
    webhook that subscribes to it. A form (the page's buttons) goes back to the page (303), which
    shows the add-on's answers; JSON (``flask clockify simulate webhook``) gets them as JSON."""
    sandbox = _sandbox()
    body = request.get_json(silent=True) if request.is_json else None
    fields = body if isinstance(body, dict) else request.form
    event = fields.get("event")
    event = event.strip() if isinstance(event, str) else ""
    payload = fields.get("payload") if isinstance(body, dict) else None
    if payload is not None and not isinstance(payload, dict):
        raise ValidationFailed("Invalid payload.", errors=[{"location": "body", "field": "payload",
                                                           "message": "must be a JSON object"}])
    if event not in sandbox.deliverer.subscribed_events(sandbox.workspace_id):
        raise BadRequest(f"{event or 'The event'} is not subscribed: neither the manifest nor an API "
                         "registration of the add-on asks for it.", code="not_subscribed")
    statuses = sandbox.send_sample(event, payload)
    if isinstance(body, dict):
        return jsonify(event=event, statuses=statuses)
    query = urlencode({"sent": event, "statuses": ",".join(str(s) for s in statuses)})
    return redirect(f"/?{query}#webhooks", code=303)


@bp.post("/dev/replay")
def replay_events():
    """Replay stored events in this process (``flask webhooks replay`` in embedded mode, whose own
    queue no worker reads): ``{"workspace", "since", "event"}``."""
    from ..jobs.webhook_requeue import replay

    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("workspace"), str) or not body["workspace"].strip():
        raise ValidationFailed("Invalid replay.", errors=[{"location": "body", "field": "workspace",
                                                          "message": "required, a workspace id"}])
    fields = {name: body.get(name) for name in ("workspace", "since", "event")}
    if any(v is not None and (not isinstance(v, str) or not storable_text(v)) for v in fields.values()):
        raise ValidationFailed("Invalid replay.", errors=[{"location": "body", "field": "since/event",
                                                          "message": "must be strings without NUL"}])
    try:
        since = datetime.fromisoformat(fields["since"]) if fields["since"] else None
    except ValueError:
        raise ValidationFailed("Invalid replay.", errors=[{"location": "body", "field": "since",
                                                          "message": "expected an ISO 8601 time"}]) from None
    if since is not None:
        since = since.replace(tzinfo=UTC) if since.tzinfo is None else since.astimezone(UTC)
    result = replay(fields["workspace"].strip(), since=since, event_type=fields["event"])
    return jsonify(enqueued=result.enqueued, pending=result.pending)


def _entity_label(payload) -> str:
    """The name (or description, or id) of the entity a delivery is about, for the table."""
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            return ""
    if not isinstance(payload, dict):
        return ""
    return str(payload.get("name") or payload.get("description") or payload.get("id") or "")[:80]


def _sandbox():
    sandbox = current_app.extensions.get(SANDBOX_KEY)
    if sandbox is None:
        raise NotFound("No fake Clockify runs in this process: start the server with `make dev`.",
                       code="no_sandbox")
    return sandbox


def _studio_links(settings, sandbox, installations) -> list[dict]:
    """"Open API Studio" links with fresh 30-minute tokens: the owner's and a regular member's."""
    if sandbox is not None:
        tokens = [(role, sandbox.user_token(role)) for role in ("OWNER", "USER")]
    elif installations:
        from ..dev_signing_key import dev_private_key
        from ..testkit.signing import Signer

        first = installations[0]
        signer = Signer(dev_private_key(settings.instance_path), settings.addon_key, backend_url=first["api_url"],
                        reports_url=first["reports_url"] or first["api_url"])
        tokens = [(role, signer.user_token(first["workspace_id"], first["addon_id"], user_id=f"dev-{role.lower()}",
                                           role=role)) for role in ("OWNER", "USER")]
    else:
        return []
    return [{"role": role, "label": "owner" if role == "OWNER" else "regular user",
             "url": f"{settings.base_url}/ui?{urlencode({'auth_token': token})}"} for role, token in tokens]
