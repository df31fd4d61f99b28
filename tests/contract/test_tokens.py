"""``TokenVerifier``: every accepted shape and every rejection, with real RS256 signatures."""

import time

import jwt
import pytest

from addon.clockify.tokens import BUNDLED_PUBLIC_KEY, TokenError, TokenMismatch, TokenVerifier, load_public_key
from addon.testkit.forgery import hmac_token, unsigned_token, with_claims
from addon.testkit.signing import Signer, generate_private_key

KEY = "my-addon"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def signer():
    return Signer(generate_private_key(), KEY)


@pytest.fixture(scope="module")
def verifier(signer):
    return TokenVerifier([signer.private_key.public_key()], KEY, clock=lambda: NOW)


def claims(**extra):
    return {"iss": "clockify", "sub": KEY, "type": "addon", "workspaceId": "ws-a", "addonId": "addon-1", **extra}


def rejected(verifier, token, **kwargs) -> str:
    with pytest.raises(TokenError) as info:
        verifier.verify(token, **kwargs)
    assert info.value.message
    return info.value.check


def test_a_valid_token_gives_its_claims(signer, verifier):
    token = signer.make_token(**claims(user="u-1", workspaceRole="ADMIN", backendUrl="https://euc1.clockify.me/api",
                                       exp=NOW + 60))
    result = verifier.verify(token, workspace_id="ws-a", addon_id="addon-1")
    assert (result.workspace_id, result.addon_id, result.user_id) == ("ws-a", "addon-1", "u-1")
    assert result.backend_url == "https://euc1.clockify.me/api" and result.is_admin and result.expires_at == NOW + 60


def test_tokens_without_exp_are_accepted(signer, verifier):
    """Installation and webhook tokens never expire."""
    assert verifier.verify(signer.make_token(**claims())).workspace_id == "ws-a"


def test_missing_token(verifier):
    assert rejected(verifier, None) == "missing"
    assert rejected(verifier, "") == "missing"


def test_signature_by_another_key(verifier):
    other = Signer(generate_private_key(), KEY)
    assert rejected(verifier, other.make_token(**claims())) == "signature"


def test_tampered_payload(signer, verifier):
    token = with_claims(signer.make_token(**claims()), workspaceId="ws-b")
    assert rejected(verifier, token) == "signature"


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", "Bearer x.y.z", "ü.ü.ü"])
def test_garbage(verifier, garbage):
    assert rejected(verifier, garbage) == "signature"


def test_alg_none(verifier):
    assert rejected(verifier, unsigned_token(claims())) == "algorithm"


def test_alg_none_is_refused_even_without_signature_verification(signer):
    lax = TokenVerifier([signer.private_key.public_key()], KEY, verify_signature=False)
    assert rejected(lax, unsigned_token(claims())) == "algorithm"


def test_hs256_with_the_public_key_as_secret(signer, verifier):
    """Algorithm confusion: HMAC keyed with the PEM the verifier trusts."""
    token = hmac_token(claims(), signer.public_pem)
    assert rejected(verifier, token) == "algorithm"


def test_hs256_confusion_against_clockify_s_bundled_key():
    pem = BUNDLED_PUBLIC_KEY.read_text()
    verifier = TokenVerifier([load_public_key(pem)], KEY)
    assert rejected(verifier, hmac_token(claims(), pem)) == "algorithm"


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "ES256", "HS512"])
def test_every_other_algorithm(signer, verifier, alg):
    if alg.startswith("HS"):
        token = hmac_token(claims(), signer.public_pem, alg=alg)
    elif alg.startswith("ES"):
        from cryptography.hazmat.primitives.asymmetric import ec

        token = jwt.encode(claims(), ec.generate_private_key(ec.SECP256R1()), algorithm=alg)
    else:
        token = jwt.encode(claims(), signer.private_key, algorithm=alg)
    assert rejected(verifier, token) == "algorithm"


def test_expired(signer, verifier):
    assert rejected(verifier, signer.make_token(**claims(exp=NOW - 3600))) == "expired"


def test_expiry_has_a_small_leeway(signer, verifier):
    assert verifier.verify(signer.make_token(**claims(exp=NOW - 10))).workspace_id == "ws-a"
    assert rejected(verifier, signer.make_token(**claims(exp=NOW - 31))) == "expired"


def test_a_remembered_signature_still_has_its_time_claims_checked(signer):
    now = [NOW]
    verifier = TokenVerifier([signer.private_key.public_key()], KEY, clock=lambda: now[0])
    token = signer.make_token(**claims(exp=NOW + 60))
    assert verifier.verify(token).workspace_id == "ws-a"
    assert verifier.verify(token).workspace_id == "ws-a"
    now[0] = NOW + 120
    assert rejected(verifier, token) == "expired"


def test_a_forged_signature_is_refused_after_the_genuine_token_was_seen(signer, verifier):
    token = signer.make_token(**claims())
    verifier.verify(token)
    header, payload, signature = token.split(".")
    forged = ".".join((header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")))
    assert rejected(verifier, forged) == "signature"
    assert verifier.verify(token).workspace_id == "ws-a"


def test_not_yet_valid(signer, verifier):
    assert rejected(verifier, signer.make_token(**claims(nbf=NOW + 3600))) == "expired"


def test_non_numeric_exp_fails_closed(signer, verifier):
    assert rejected(verifier, signer.make_token(**claims(exp="tomorrow"))) == "expired"


@pytest.mark.parametrize(("claim", "value", "check"), [
    ("iss", "someone-else", "issuer"), ("iss", None, "issuer"),
    ("sub", "another-addon", "subject"), ("sub", None, "subject"),
    ("type", "user", "type"), ("type", None, "type"),
    ("workspaceId", None, "workspace"), ("workspaceId", "", "workspace"), ("workspaceId", 42, "workspace"),
])
def test_wrong_or_missing_claims(signer, verifier, claim, value, check):
    token = signer.make_token(**{**claims(), claim: value})
    assert rejected(verifier, token) == check


def test_token_for_workspace_a_used_for_workspace_b(signer, verifier):
    with pytest.raises(TokenMismatch) as info:
        verifier.verify(signer.make_token(**claims()), workspace_id="ws-b")
    assert info.value.code == "workspace_mismatch"


def test_addon_id_mismatch(signer, verifier):
    with pytest.raises(TokenMismatch) as info:
        verifier.verify(signer.make_token(**claims()), workspace_id="ws-a", addon_id="addon-2")
    assert info.value.code == "addon_mismatch"


def test_a_token_without_addon_id_passes_the_addon_check_but_not_the_workspace_check(signer, verifier):
    token = signer.make_token(**claims(addonId=None))
    assert verifier.verify(token, workspace_id="ws-a", addon_id="addon-2").addon_id is None
    with pytest.raises(TokenMismatch):
        verifier.verify(token, workspace_id="ws-b", addon_id="addon-2")


def test_check_match_on_verified_claims(signer, verifier):
    result = verifier.verify(signer.make_token(**claims()))
    TokenVerifier.check_match(result, workspace_id="ws-a", addon_id="addon-1")
    with pytest.raises(TokenMismatch, match="another workspace"):
        TokenVerifier.check_match(result, workspace_id="ws-b")


def test_signature_checks_can_be_turned_off_but_claims_are_still_checked(signer):
    lax = TokenVerifier([signer.private_key.public_key()], KEY, verify_signature=False)
    other = Signer(generate_private_key(), KEY)
    assert lax.verify(other.make_token(**claims())).workspace_id == "ws-a"
    assert rejected(lax, other.make_token(**claims(iss="evil"))) == "issuer"
    assert rejected(lax, other.make_token(**claims(exp=int(time.time()) - 3600))) == "expired"


def test_several_trusted_keys(signer):
    second = Signer(generate_private_key(), KEY)
    verifier = TokenVerifier([signer.private_key.public_key(), second.private_key.public_key()], KEY)
    assert verifier.verify(second.make_token(**claims())).workspace_id == "ws-a"
    assert verifier.verify(signer.make_token(**claims())).workspace_id == "ws-a"


def test_jwks_client_is_used_for_tokens_with_a_kid(signer):
    class FakeJwks:
        def __init__(self, key):
            self.key = key

        def get_signing_key_from_jwt(self, token):
            kid = jwt.get_unverified_header(token)["kid"]
            if kid != "k1":
                raise jwt.PyJWKClientError("unknown kid")
            return self

    other = Signer(generate_private_key(), KEY)
    jwks = FakeJwks(other.private_key.public_key())
    verifier = TokenVerifier([signer.private_key.public_key()], KEY, jwks_client=jwks)
    assert verifier.verify(other.make_token(headers={"kid": "k1"}, **claims())).workspace_id == "ws-a"
    assert rejected(verifier, other.make_token(headers={"kid": "k2"}, **claims())) == "signature"
    # A pinned-key token without a kid still verifies against the pinned key.
    assert verifier.verify(signer.make_token(**claims())).workspace_id == "ws-a"


def test_bundled_key_is_clockify_s_published_rsa_key():
    key = load_public_key(BUNDLED_PUBLIC_KEY.read_text())
    assert key.key_size == 2048
    assert "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAubktufFNO/op+E5WBWL6" in BUNDLED_PUBLIC_KEY.read_text()


def test_only_rsa_public_keys_are_loaded():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="not an RSA public key"):
        load_public_key(ec_pem)


def test_a_verifier_needs_a_key():
    with pytest.raises(ValueError):
        TokenVerifier([], KEY)
