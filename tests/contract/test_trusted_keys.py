"""Which keys the app trusts: Clockify's (or the configured one), plus the local development key
in ``development`` only."""


import pytest
from flask import Flask

from addon import auth, create_app
from addon.clockify.tokens import TokenError
from addon.dev_signing_key import dev_private_key
from addon.testkit.signing import Signer


def verifier_for(settings):
    app = Flask("keys-probe")
    auth.init_app(app, settings)
    return app.extensions[auth.EXTENSION_KEY]


@pytest.fixture
def dev_token(app):
    settings = app.config["SETTINGS"]
    signer = Signer(dev_private_key(settings.instance_path), settings.addon_key)
    return signer.make_token(workspaceId="ws-1", addonId="a-1")


@pytest.mark.parametrize(("env", "trusted"), [("development", True), ("test", False), ("production", False)])
def test_the_development_key_is_trusted_in_development_only(app, dev_token, env, trusted):
    verifier = verifier_for(app.config["SETTINGS"].replace(env=env))
    if trusted:
        assert verifier.verify(dev_token).workspace_id == "ws-1"
    else:
        with pytest.raises(TokenError) as info:
            verifier.verify(dev_token)
        assert info.value.check == "signature"


def test_the_configured_key_is_trusted(app, signer):
    verifier = verifier_for(app.config["SETTINGS"])
    assert verifier.verify(signer.make_token(workspaceId="ws-1")).workspace_id == "ws-1"


def test_the_bundled_clockify_key_is_the_default(app, signer, base_overrides):
    overrides = {k: v for k, v in base_overrides.items() if k != "CLOCKIFY_PUBLIC_KEY"}
    verifier = create_app(overrides).extensions[auth.EXTENSION_KEY]
    with pytest.raises(TokenError):  # our test signer is not Clockify
        verifier.verify(signer.make_token(workspaceId="ws-1"))
    assert len(verifier.public_keys) == 1


def test_a_key_file_can_be_configured(app, signer, base_overrides, tmp_path):
    path = tmp_path / "clockify.pem"
    path.write_text(signer.public_pem)
    overrides = {k: v for k, v in base_overrides.items() if k != "CLOCKIFY_PUBLIC_KEY"}
    verifier = create_app({**overrides, "CLOCKIFY_PUBLIC_KEY_PATH": str(path)}).extensions[auth.EXTENSION_KEY]
    assert verifier.verify(signer.make_token(workspaceId="ws-1")).workspace_id == "ws-1"


def test_signature_verification_off_still_checks_claims(app, signer, base_overrides):
    lax = create_app({**base_overrides, "REQUIRE_SIGNATURE_VERIFICATION": "false"}).extensions[auth.EXTENSION_KEY]
    other = Signer(dev_private_key(str(app.instance_path)), "test-addon")
    assert lax.verify(other.make_token(workspaceId="ws-1")).workspace_id == "ws-1"
    with pytest.raises(TokenError) as info:
        lax.verify(other.make_token(workspaceId="ws-1", type="user"))
    assert info.value.check == "type"


def test_signature_verification_cannot_be_turned_off_in_production(base_overrides):
    with pytest.raises(SystemExit, match="REQUIRE_SIGNATURE_VERIFICATION cannot be false in production"):
        create_app({**base_overrides, "ADDON_ENV": "production", "BASE_URL": "https://a.example.com",
                    "DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "REQUIRE_SIGNATURE_VERIFICATION": "false"})
