"""Every kind of token on every token-authenticated entry point: accepted or refused, and a
refused call changes nothing.

Two workspaces are installed through the Clockify simulator, so every stored token is a real one:
``WS`` (the workspace each call is about) and ``OTHER_WS`` (an attacker holding the add-on in
their own workspace). Tokens ``of another add-on`` name ``WS`` with an add-on id no installation
has. Lifecycle token claims are unconfirmed (they look like webhook tokens), so the lifecycle gate
refuses, by digest, the workspace's stored installation and webhook tokens (401 ``token_kind``).

The operator listings (``/webhooks``, ``/installations``) take no token (development only, 404
elsewhere) and ``/metrics`` takes ``METRICS_TOKEN``, not a Clockify token: they are not rows here.
The sidebar's own kinds (claims shapes, ``STUDIO_ALLOW_INSTALLATION_TOKEN``) are in
``test_token_kinds.py``.
"""

from __future__ import annotations

import json
import time

import pytest

from addon.clockify import lifecycle
from addon.extensions import db
from addon.models import ApiCall, BootstrapRun, Installation, InstallationWebhook, LifecycleOutbox, WebhookEvent
from addon.store import api_webhooks
from addon.testkit import clockify_payloads as payloads
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.forgery import hmac_token, unsigned_token

WS, ADDON = "ws-kinds-a", "addon-kinds-a"
OTHER_WS, OTHER_WS_ADDON = "ws-kinds-b", "addon-kinds-b"
OTHER_ADDON = "addon-kinds-other"
EVENT = "NEW_TIME_ENTRY"


@pytest.fixture
def kit(app, client, signer, fake_clockify):
    """Clockify against the session app; installations point at the fake Clockify."""
    return ClockifySimulator(signer, FlaskTransport(client), api_url=fake_clockify.api_url)


@pytest.fixture
def world(app, kit):
    """``WS`` and ``OTHER_WS`` installed; ``world[ws]`` is the simulator's ``Installed``."""
    # No bootstrap at install: ``POST /bootstrap`` would then answer 409 to every token.
    installed = {ws: kit.install(ws, addon, settings={"auto_bootstrap": False})
                 for ws, addon in ((WS, ADDON), (OTHER_WS, OTHER_WS_ADDON))}
    assert all(i.reply.status_code == 200 for i in installed.values())
    return installed


def _lifecycle_claims(signer, **changes) -> dict:
    claims = {"iss": "clockify", "sub": signer.addon_key, "type": "addon", "workspaceId": WS, "addonId": ADDON,
              "exp": int(time.time()) + 300}
    return {**claims, **changes}


def _user_token(kit, workspace_id: str, addon_id: str, role: str = "OWNER", ttl: int = 1800) -> str:
    # Its backendUrl is the fake Clockify's, where API Studio's calls go.
    return kit.signer.make_token(workspaceId=workspace_id, addonId=addon_id, user="user-1", workspaceRole=role,
                                 theme="DEFAULT", language="EN", backendUrl=kit.api_url,
                                 exp=int(time.time()) + ttl)


def _tokens_of(kit, world, workspace_id: str, addon_id: str) -> dict:
    """The four genuine kinds for ``workspace_id``/``addon_id`` (the stored ones when installed)."""
    installed = world.get(workspace_id)
    if installed is not None and installed.addon_id == addon_id:
        installation, webhook = installed.auth_token, installed.webhook_tokens[EVENT]
    else:
        installation = kit.installation_token(workspace_id, addon_id)
        webhook = kit.webhook_token(workspace_id, addon_id, EVENT)
    return {"installation": installation, "webhook": webhook, "lifecycle": kit.lifecycle_token(workspace_id, addon_id),
            **{f"user {role}": _user_token(kit, workspace_id, addon_id, role)
               for role in ("OWNER", "ADMIN", "USER")}}


def build_tokens(kit, world) -> dict[str, str]:
    """Every token of the matrix, by name."""
    signer = kit.signer
    tokens = dict(_tokens_of(kit, world, WS, ADDON))
    for suffix, (workspace_id, addon_id) in {"of another workspace": (OTHER_WS, OTHER_WS_ADDON),
                                             "of another add-on": (WS, OTHER_ADDON)}.items():
        tokens.update({f"{name} {suffix}": token
                       for name, token in _tokens_of(kit, world, workspace_id, addon_id).items()})
    tokens["user, expired"] = _user_token(kit, WS, ADDON, ttl=-3600)
    tokens["lifecycle, expired"] = signer.make_token(**_lifecycle_claims(signer, exp=int(time.time()) - 3600))
    tokens["alg none"] = unsigned_token(_lifecycle_claims(signer))
    tokens["HS256 with the public key"] = hmac_token(_lifecycle_claims(signer), signer.public_pem)
    return tokens


LIFECYCLE = (lifecycle.INSTALLED, lifecycle.SETTINGS_UPDATED, lifecycle.STATUS_CHANGED, lifecycle.DELETED)
SIDEBAR = {"session": ("GET", "/ui/session", None), "execute": ("POST", "/ui/api-explorer/execute",
                                                                {"operationId": "getProjects"}),
           "bootstrap": ("POST", "/bootstrap", None)}
ENTRY_POINTS = (*LIFECYCLE, "webhook", *SIDEBAR)

OK = (200, None)
KIND, EXPIRED, ALGORITHM = (401, "token_kind"), (401, "expired"), (401, "algorithm")
NOT_STORED = (401, "webhook_token")
WORKSPACE_MISMATCH, ADDON_MISMATCH = (403, "workspace_mismatch"), (403, "addon_mismatch")
USERS = ("user OWNER", "user ADMIN", "user USER")
# Refusals every entry point shares.
COMMON = {"user, expired": EXPIRED, "lifecycle, expired": EXPIRED, "alg none": ALGORITHM,
          "HS256 with the public key": ALGORITHM}

# token name -> (status, check or error code), per kind of entry point.
AT_LIFECYCLE = {
    **COMMON, "lifecycle": OK, "installation": KIND, "webhook": KIND, **dict.fromkeys(USERS, KIND),
    # The other workspace's tokens are about it, not about the body's workspace (checked before
    # the stored tokens' digests; user tokens are refused by their claims before anything).
    "installation of another workspace": WORKSPACE_MISMATCH, "webhook of another workspace": WORKSPACE_MISMATCH,
    "lifecycle of another workspace": WORKSPACE_MISMATCH,
    **{f"{user} of another workspace": KIND for user in USERS},
    "installation of another add-on": ADDON_MISMATCH, "webhook of another add-on": ADDON_MISMATCH,
    "lifecycle of another add-on": ADDON_MISMATCH, **{f"{user} of another add-on": KIND for user in USERS},
}
AT_WEBHOOK = {
    **COMMON, **{name: NOT_STORED for name in AT_LIFECYCLE if name not in COMMON}, "webhook": OK,
    # Stored for the same path, but in the other workspace: the payload is about WS.
    "webhook of another workspace": WORKSPACE_MISMATCH,
}
AT_SIDEBAR = {
    **COMMON, **{name: KIND for name in AT_LIFECYCLE if name not in COMMON},
    # A user token opens the sidebar of its own workspace (the token alone names it).
    **dict.fromkeys(USERS, OK), **{f"{user} of another workspace": OK for user in USERS},
    **{f"{user} of another add-on": ADDON_MISMATCH for user in USERS},
}
EXPECTED = {**{entry: AT_LIFECYCLE for entry in LIFECYCLE}, "webhook": AT_WEBHOOK,
            "session": AT_SIDEBAR, "execute": AT_SIDEBAR,
            "bootstrap": {**AT_SIDEBAR, "user USER": (403, "admin_required"),
                          "user USER of another workspace": (403, "admin_required")}}
TOKEN_NAMES = tuple(AT_LIFECYCLE)


def test_the_table_names_every_token(kit, world):
    assert set(build_tokens(kit, world)) == set(TOKEN_NAMES)
    assert all(set(table) == set(TOKEN_NAMES) for table in EXPECTED.values())


def lifecycle_body(kind: str, signer, fake_api_url: str) -> dict:
    """A call of ``kind`` about ``WS`` that its installation would accept."""
    if kind == lifecycle.INSTALLED:
        return payloads.installed_payload(signer, WS, ADDON, api_url=fake_api_url)
    if kind == lifecycle.SETTINGS_UPDATED:
        return payloads.settings_updated_payload(WS, ADDON, {"auto_bootstrap": False})
    if kind == lifecycle.STATUS_CHANGED:
        return payloads.status_changed_payload(WS, ADDON, "INACTIVE")
    return payloads.deleted_payload(WS, ADDON)


def send(entry: str, token: str, *, kit, client, fake_api_url: str):
    """Call ``entry`` with ``token``; return ``(status, JSON answer)``."""
    if entry in LIFECYCLE:
        reply = kit.send_lifecycle(entry, lifecycle_body(entry, kit.signer, fake_api_url), token=token)
        return reply.status_code, reply.json()
    if entry == "webhook":
        reply = kit.send_webhook(EVENT, payloads.sample_webhook_payload(EVENT, WS), workspace_id=WS, token=token)
        return reply.status_code, reply.json()
    method, path, body = SIDEBAR[entry]
    response = client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.get_json()


def state(app) -> dict:
    """Everything a call could change: installations, webhook rows, outbox, inbox, audit, runs."""
    with app.app_context():
        rows = lambda model: db.session.execute(db.select(model)).scalars().all()  # noqa: E731
        snapshot = {
            "installations": sorted((i.workspace_id, i.addon_id, i.status, json.dumps(i.settings, sort_keys=True),
                                     i.installation_token_digest, i.installation_token is None)
                                    for i in rows(Installation)),
            "webhooks": sorted((w.workspace_id, w.path, w.token_digest, w.status, w.token is None)
                               for w in rows(InstallationWebhook)),
            **{name: len(rows(model)) for name, model in (("outbox", LifecycleOutbox), ("events", WebhookEvent),
                                                          ("audit", ApiCall), ("runs", BootstrapRun))},
        }
        db.session.remove()
    return snapshot


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("name", TOKEN_NAMES)
def test_every_token_kind_on_every_entry_point(app, client, kit, world, fake_clockify, name, entry):
    token = build_tokens(kit, world)[name]
    before = state(app)
    status, answer = send(entry, token, kit=kit, client=client, fake_api_url=fake_clockify.api_url)
    expected_status, code = EXPECTED[entry][name]
    expected_answer = 202 if entry == "bootstrap" and expected_status == 200 else expected_status
    assert status == expected_answer, answer
    if expected_status == 200:
        return
    assert code in (answer.get("check"), answer.get("error")), answer
    assert state(app) == before
    assert fake_clockify.requests() == []


# -- the reviewer's reproductions, and the edges of the digest check ----------------------------

def test_a_webhook_token_is_not_a_lifecycle_token(app, kit, world):
    webhook_token = next(iter(world[WS].webhook_tokens.values()))
    assert kit.uninstall(WS, token=webhook_token).status_code == 401


def test_the_installation_token_is_not_a_lifecycle_token(app, kit, world):
    assert kit.change_status(WS, "INACTIVE", token=world[WS].auth_token).status_code == 401


@pytest.mark.parametrize("role", ["OWNER", "ADMIN", "USER"])
@pytest.mark.parametrize("existing", [False, True], ids=["first install", "reinstall"])
def test_installed_refuses_a_user_token_as_the_installation_token(app, kit, signer, fake_clockify, role, existing):
    workspace_id, addon_id = "ws-kind2", "addon-kind2"
    if existing:
        assert kit.install(workspace_id, addon_id).reply.status_code == 200
    before = state(app)
    user_token = signer.user_token(workspace_id, addon_id, role=role)
    body = payloads.installed_payload(signer, workspace_id, addon_id, auth_token=user_token,
                                      api_url=fake_clockify.api_url)
    reply = kit.send_lifecycle("INSTALLED", body)
    assert reply.status_code == 422
    assert [e["field"] for e in reply.json()["errors"]] == ["authToken"]
    assert state(app) == before


def test_installed_takes_an_installation_token_with_an_exp(app, kit, signer, fake_clockify):
    """Whether Clockify's installation token carries ``exp`` is unconfirmed: one is not refused."""
    token = signer.installation_token(WS, ADDON, exp=int(time.time()) + 3600)
    body = payloads.installed_payload(signer, WS, ADDON, auth_token=token, api_url=fake_clockify.api_url)
    assert kit.send_lifecycle("INSTALLED", body).status_code == 200


@pytest.mark.parametrize("header", lifecycle.TOKEN_HEADERS)
def test_every_lifecycle_header_refuses_a_webhook_token_and_takes_a_lifecycle_token(app, kit, world, header):
    body = payloads.settings_updated_payload(WS, ADDON, {"auto_bootstrap": False})
    before = state(app)
    reply = kit.send_lifecycle("SETTINGS_UPDATED", body, token=world[WS].webhook_tokens[EVENT], header=header)
    assert (reply.status_code, reply.json()["check"]) == (401, "token_kind")
    assert state(app) == before
    assert kit.send_lifecycle("SETTINGS_UPDATED", body, header=header).status_code == 200


def test_an_api_registered_webhook_token_is_not_a_lifecycle_token(app, kit, world):
    token = kit.webhook_token(WS, ADDON, "NEW_TAG")
    with app.app_context():
        api_webhooks.save_registered(WS, "NEW_TAG", "/webhooks/generic", "hook-1", token)
        db.session.commit()
    before = state(app)
    reply = kit.change_status(WS, "INACTIVE", token=token)
    assert (reply.status_code, reply.json()["check"]) == (401, "token_kind")
    assert state(app) == before


@pytest.mark.parametrize("kind", ["installation", "webhook"])
def test_tokens_of_an_uninstalled_installation_stay_refused_at_installed(app, kit, world, signer, fake_clockify, kind):
    """DELETED erases the tokens but keeps their digests: they never open a reinstall."""
    old = world[WS].auth_token if kind == "installation" else world[WS].webhook_tokens[EVENT]
    assert kit.uninstall(WS).status_code == 200
    before = state(app)
    body = payloads.installed_payload(signer, WS, ADDON, api_url=fake_clockify.api_url)
    reply = kit.send_lifecycle("INSTALLED", body, token=old)
    assert (reply.status_code, reply.json()["check"]) == (401, "token_kind")
    assert state(app) == before
