"""Lifecycle calls, webhook deliveries and jobs over tokens the configured TOKEN_ENCRYPTION_KEY
cannot decrypt: a 503 ``token_unreadable`` JSON answer (Clockify retries; the operator puts the old
key back), never a 500; a delivery decrypts nothing and is accepted; a job fails with the same
clear error."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from addon.extensions import db
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator

WS = "60332d61ff30282b1f23e625"


@pytest.fixture
def wrong_key(app, app_with, kit, signer):
    """WS installed under the session's key; a simulator talking to an app configured with
    another key alone, and the stored ciphertext."""
    installed = kit.install(WS)
    other = app_with(TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode())
    with app.app_context():
        ciphertext = db.session.execute(sa.text("SELECT installation_token FROM installations")).scalar_one()
    simulator = ClockifySimulator(signer, FlaskTransport(other.test_client()))
    simulator.installs[WS] = installed
    yield other, simulator, installed, ciphertext
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("call", [
    lambda simulator: simulator.change_status(WS, "INACTIVE"),
    lambda simulator: simulator.update_settings(WS, {"auto_bootstrap": False, "developer_mode": True}),
], ids=["STATUS_CHANGED", "SETTINGS_UPDATED"])
def test_a_lifecycle_call_over_an_unreadable_token_is_a_503_naming_the_key(wrong_key, caplog, call):
    _, simulator, installed, ciphertext = wrong_key
    caplog.set_level(logging.DEBUG)
    reply = call(simulator)
    assert reply.status_code == 503
    body = reply.json()
    assert body["error"] == "token_unreadable" and "TOKEN_ENCRYPTION_KEY" in body["message"]
    for secret in (ciphertext, installed.auth_token):
        assert secret not in reply.body.decode() and secret not in caplog.text


def test_a_webhook_delivery_decrypts_nothing_and_is_accepted(wrong_key):
    _, simulator, _, _ = wrong_key
    reply = simulator.send_webhook("NEW_PROJECT", workspace_id=WS)
    assert reply.status_code < 300, reply.body.decode()


def test_a_job_over_an_unreadable_token_fails_with_the_clear_error(wrong_key):
    from addon.errors import TokenUnreadable
    from addon.jobs.webhook_registration import register_webhooks

    other, *_ = wrong_key
    with other.app_context(), pytest.raises(TokenUnreadable) as raised:
        register_webhooks(WS)
    assert "TOKEN_ENCRYPTION_KEY" in str(raised.value)
