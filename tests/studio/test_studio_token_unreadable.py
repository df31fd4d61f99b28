"""A stored installation token the configured TOKEN_ENCRYPTION_KEY cannot decrypt (the key was
changed without keeping the old one) is a 503 ``token_unreadable`` naming the variable and the fix,
audited like every refusal; never a 500, and never the token or its ciphertext in the answer or
the logs."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from cryptography.fernet import Fernet

from addon import create_app
from addon.extensions import db
from addon.models import ApiCall, Installation

EXECUTE = "/ui/api-explorer/execute"
WORKSPACE, ADDON_ID = "ws-studio-1", "addon-studio-1"  # the `installation` fixture's


def test_execute_with_an_unreadable_installation_token_is_a_503_naming_the_key(
        app, base_overrides, signer, installation, caplog):
    with app.app_context():
        ciphertext = db.session.execute(sa.text("SELECT installation_token FROM installations")).scalar_one()
        plain = db.session.execute(db.select(Installation)).scalar_one().installation_token
        db.session.remove()
    other_key = create_app({**base_overrides, "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                            "STUDIO_ALLOW_INSTALLATION_TOKEN": "true"})
    token = signer.user_token(WORKSPACE, ADDON_ID, role="OWNER")
    caplog.set_level(logging.DEBUG)

    response = other_key.test_client().post(EXECUTE, json={"operationId": "getProjects", "useInstallationToken": True},
                                            headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 503
    data = response.get_json()
    assert data["error"] == "token_unreadable"
    assert "TOKEN_ENCRYPTION_KEY" in data["message"] and "reinstall" in data["message"]
    for secret in (ciphertext, plain):
        assert secret not in response.get_data(as_text=True)
        assert secret not in caplog.text
    with app.app_context():
        [row] = db.session.execute(db.select(ApiCall)).scalars().all()
        assert (row.outcome, row.token_kind, row.status_code) == ("token_unreadable", "installation", None)
        assert ciphertext not in (row.error or "") and plain not in (row.error or "")
    with other_key.app_context():
        db.session.remove()
        db.engine.dispose()
