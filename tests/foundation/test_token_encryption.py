"""Clockify tokens are encrypted at rest: the ORM hands plain text to the app, the database only
ever holds Fernet ciphertext, and another key cannot read it."""

from __future__ import annotations

import os
import stat

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from addon import create_app
from addon.config import ConfigError, load_settings
from addon.crypto import TokenCipher, current_cipher, token_digest
from addon.errors import TokenUnreadable
from addon.extensions import db
from addon.models import Installation, InstallationWebhook

INSTALLATION_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJpbnN0YWxsYXRpb24ifQ.c2lnbmF0dXJlLW9mLWluc3RhbGxhdGlvbg"
WEBHOOK_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3ZWJob29rIn0.c2lnbmF0dXJlLW9mLXdlYmhvb2s"


def _store(workspace_id: str = "ws-crypto") -> None:
    db.session.add(Installation(workspace_id=workspace_id, addon_id="addon-1", installation_token=INSTALLATION_TOKEN,
                                api_url="https://api.clockify.me/api"))
    db.session.add(InstallationWebhook(workspace_id=workspace_id, path="/webhooks/time", event="NEW_TIME_ENTRY",
                                       token=WEBHOOK_TOKEN, token_digest=token_digest(WEBHOOK_TOKEN)))
    db.session.commit()
    db.session.expunge_all()


def _raw(column: str, table: str) -> str:
    return db.session.execute(sa.text(f"SELECT {column} FROM {table}")).scalar_one()


def test_tokens_round_trip_through_the_models(ctx):
    _store()
    installation = db.session.execute(db.select(Installation)).scalar_one()
    webhook = db.session.execute(db.select(InstallationWebhook)).scalar_one()
    assert installation.installation_token == INSTALLATION_TOKEN
    assert webhook.token == WEBHOOK_TOKEN


def test_raw_columns_hold_only_ciphertext(ctx):
    _store()
    for column, table, plain in (("installation_token", "installations", INSTALLATION_TOKEN),
                                 ("token", "installation_webhooks", WEBHOOK_TOKEN)):
        raw = _raw(column, table)
        assert plain not in raw
        for part in plain.split("."):  # not even a piece of the JWT
            assert part not in raw
        assert current_cipher().decrypt(raw) == plain  # Fernet ciphertext of the token


def test_same_token_encrypts_differently_but_digests_the_same(ctx):
    _store("ws-a")
    _store("ws-b")
    rows = db.session.execute(sa.text("SELECT installation_token FROM installations")).scalars().all()
    assert len(set(rows)) == 2
    digests = db.session.execute(sa.text("SELECT token_digest FROM installation_webhooks")).scalars().all()
    assert digests == [token_digest(WEBHOOK_TOKEN)] * 2


def test_a_wrong_key_cannot_decrypt(ctx):
    _store()
    raw = _raw("installation_token", "installations")
    with pytest.raises(TokenUnreadable):
        TokenCipher([Fernet.generate_key()]).decrypt(raw)


def test_an_app_with_another_key_cannot_read_the_tokens(app, base_overrides):
    with app.app_context():
        _store()
    other = create_app({**base_overrides, "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()})
    with other.app_context():
        with pytest.raises(TokenUnreadable):
            db.session.execute(db.select(Installation)).scalar_one()
        db.session.remove()
        db.engine.dispose()


def test_development_key_is_generated_once_and_private(tmp_path):
    first = load_settings({"ADDON_ENV": "development"}, str(tmp_path)).token_encryption_key
    second = load_settings({"ADDON_ENV": "development"}, str(tmp_path)).token_encryption_key
    assert first == second and len(first) == 1
    Fernet(first[0])  # a valid key
    key_file = tmp_path / "token_encryption.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_an_instance_folder_that_cannot_hold_the_key_is_one_configuration_line(tmp_path):
    not_a_folder = tmp_path / "instance"
    not_a_folder.write_text("a file where the instance folder should be")
    with pytest.raises(ConfigError) as raised:
        load_settings({"ADDON_ENV": "development"}, str(not_a_folder))
    [line] = raised.value.lines
    assert line.startswith(f"TOKEN_ENCRYPTION_KEY is not set and no key can be kept in {str(not_a_folder)!r} (")
