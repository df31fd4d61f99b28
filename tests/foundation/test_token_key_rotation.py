"""TOKEN_ENCRYPTION_KEY rotation: a comma list of Fernet keys, newest first (the first encrypts,
every one decrypts), and ``flask tokens reencrypt`` moving every stored token to the first key,
so the old one can be dropped. Real apps on the test database; only the keys differ."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from addon import config_parsers as P
from addon.config import load_settings
from addon.config_parsers import ConfigError
from addon.crypto import token_digest
from addon.errors import TokenUnreadable
from addon.extensions import db
from addon.models import Installation, InstallationWebhook

KEY_B, KEY_C = Fernet.generate_key().decode(), Fernet.generate_key().decode()
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb3RhdGUifQ.c2lnbmF0dXJlLW9mLXJvdGF0ZQ"


LIST = "TOKEN_ENCRYPTION_KEY must be one Fernet key or several separated by commas, newest first: "
NOT_A_KEY = "is not a Fernet key (32 url-safe base64-encoded bytes)"


@pytest.mark.parametrize(("value", "says"), [
    ("", "key 1 of 1 is empty"),
    (",", "key 1 of 2 is empty"),
    (f"{KEY_B},", "key 2 of 2 is empty"),
    (f"{KEY_B},not-a-key", f"key 2 of 2 {NOT_A_KEY}"),
    (f"{KEY_B} {KEY_C}", f"key 1 of 1 {NOT_A_KEY}"),  # spaces are not separators
    (f"{KEY_B}, ,{KEY_C}", "key 2 of 3 is empty"),
    (KEY_B[:10] + " " + KEY_B[10:], f"key 1 of 1 {NOT_A_KEY}"),  # base64 would skip the space silently
])
def test_a_malformed_key_list_names_the_variable_and_the_position_never_a_key(value, says):
    with pytest.raises(ConfigError) as raised:
        P.fernet_keys("TOKEN_ENCRYPTION_KEY", value)
    assert raised.value.lines == [LIST + says]
    assert KEY_B not in str(raised.value) and KEY_C not in str(raised.value)


@pytest.mark.parametrize(("value", "keys"), [
    (KEY_B, (KEY_B,)),
    (f"{KEY_B},{KEY_C}", (KEY_B, KEY_C)),
    (f"{KEY_B} , {KEY_C}", (KEY_B, KEY_C)),  # spaces around the commas are how people write lists
])
def test_a_key_list_parses_newest_first(value, keys):
    assert P.fernet_keys("TOKEN_ENCRYPTION_KEY", value) == tuple(k.encode() for k in keys)


def test_the_settings_hold_every_key_and_a_bad_list_is_one_configuration_line(tmp_path):
    settings = load_settings({"ADDON_ENV": "test", "TOKEN_ENCRYPTION_KEY": f"{KEY_B},{KEY_C}"}, str(tmp_path))
    assert settings.token_encryption_key == (KEY_B.encode(), KEY_C.encode())
    with pytest.raises(ConfigError) as raised:
        load_settings({"ADDON_ENV": "test", "TOKEN_ENCRYPTION_KEY": f"{KEY_B},oops"}, str(tmp_path))
    [line] = raised.value.lines
    assert line.startswith("TOKEN_ENCRYPTION_KEY ") and "key 2 of 2" in line


def _store(app, workspace_id: str) -> None:
    with app.app_context():
        db.session.add(Installation(workspace_id=workspace_id, addon_id="addon-1", installation_token=TOKEN,
                                    api_url="https://api.clockify.me/api"))
        db.session.add(InstallationWebhook(workspace_id=workspace_id, path="/webhooks/time", event="NEW_TIME_ENTRY",
                                           token=TOKEN, token_digest=token_digest(TOKEN)))
        db.session.commit()
        db.session.remove()


def _raw(app, workspace_id: str) -> str:
    with app.app_context():
        return db.session.execute(sa.text("SELECT installation_token FROM installations WHERE workspace_id = :w"),
                                  {"w": workspace_id}).scalar_one()


def _read(app, workspace_id: str) -> str:
    with app.app_context():
        try:
            return db.session.execute(db.select(Installation).where(
                Installation.workspace_id == workspace_id)).scalar_one().installation_token
        finally:
            db.session.remove()


def _reencrypt(app, *args: str):
    return app.test_cli_runner().invoke(args=["tokens", "reencrypt", *args])


def test_new_keys_first_old_keys_still_read_and_reencrypt_lets_the_old_key_go(app, make_app, base_overrides):
    old_key = base_overrides["TOKEN_ENCRYPTION_KEY"]
    for n in range(3):
        _store(app, f"ws-old-{n}")
    rotating = make_app(TOKEN_ENCRYPTION_KEY=f"{KEY_B},{old_key}")
    new_only = make_app(TOKEN_ENCRYPTION_KEY=KEY_B)

    assert _read(rotating, "ws-old-0") == TOKEN  # the old key still reads what it wrote
    _store(rotating, "ws-new")
    assert Fernet(KEY_B.encode()).decrypt(_raw(app, "ws-new").encode()).decode() == TOKEN  # written with the first
    assert _read(new_only, "ws-new") == TOKEN
    with pytest.raises(TokenUnreadable):
        _read(new_only, "ws-old-0")  # not yet: the old rows are still under the old key

    result = _reencrypt(rotating, "--batch-size", "2")  # several batches
    assert result.exit_code == 0, result.output
    assert sorted(result.output.splitlines()) == [
        "installation_webhooks.token: 3 re-encrypted, 1 already under the first key, 0 unreadable",
        "installations.installation_token: 3 re-encrypted, 1 already under the first key, 0 unreadable"]
    assert TOKEN not in result.output
    for workspace_id in ("ws-old-0", "ws-old-1", "ws-old-2", "ws-new"):
        assert _read(new_only, workspace_id) == TOKEN  # the old key can be dropped now
    with new_only.app_context():
        assert {w.token for w in db.session.execute(db.select(InstallationWebhook)).scalars()} == {TOKEN}
        db.session.remove()

    again = _reencrypt(rotating)  # idempotent: nothing left to move
    assert again.exit_code == 0
    assert "installations.installation_token: 0 re-encrypted, 4 already under the first key, 0 unreadable" \
        in again.output


def test_reencrypt_leaves_unreadable_tokens_untouched_and_names_their_rows(app, make_app, base_overrides):
    _store(app, "ws-lost")
    lost = _raw(app, "ws-lost")
    with app.app_context():
        lost_id = db.session.execute(sa.text("SELECT id FROM installations")).scalar_one()
        hook_id = db.session.execute(sa.text("SELECT id FROM installation_webhooks")).scalar_one()
    result = _reencrypt(make_app(TOKEN_ENCRYPTION_KEY=f"{KEY_B},{KEY_C}"))
    assert result.exit_code != 0
    assert "installations.installation_token: 0 re-encrypted, 0 already under the first key, 1 unreadable" \
        in result.output
    assert f"unreadable: installations row {lost_id}" in result.output
    assert f"unreadable: installation_webhooks row {hook_id}" in result.output
    assert lost not in result.output and TOKEN not in result.output
    assert _raw(app, "ws-lost") == lost
    assert _read(app, "ws-lost") == TOKEN
