"""Verification of the RS256 JWTs Clockify signs: lifecycle, webhook, installation and user tokens.

Every token: signature by a trusted key with ``alg`` pinned to RS256, ``iss == "clockify"``,
``type == "addon"``, ``sub == <manifest key>``, ``exp`` when present (small leeway), a
``workspaceId`` claim. Then, per request, the workspace and add-on it is about.
There is no JWKS at Clockify: the published PEM is pinned; a JWKS URL is optional.

Every kind passes the same checks, so the kind is told apart afterwards: the installation token
by its stored digest (the caller knows it), a user token by the claims only user tokens carry
(``require_user_token``). Lifecycle and webhook tokens have neither.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.types import Options

BUNDLED_PUBLIC_KEY = Path(__file__).with_name("clockify-addon-public-key.pem")
ALGORITHM = "RS256"
LEEWAY_SECONDS = 30
# Distinct tokens whose verified signature a verifier remembers (a webhook token each).
SIGNATURE_CACHE_SIZE = 4096
CHECKS = ("missing", "signature", "algorithm", "expired", "issuer", "subject", "type", "workspace", "addon",
          "token_kind")
# What a verified token is, once its kind is known.
USER, INSTALLATION, WEBHOOK = "user", "installation", "webhook"
# Claims a user token must carry besides ``exp`` (shared/clockify README §6.2); the first ones
# are in user tokens only.
USER_ONLY_CLAIMS = ("workspaceRole", "language", "theme")
USER_TOKEN_CLAIMS = ("workspaceRole", "user")


class TokenError(Exception):
    """The token is missing or fails a check (answered 401). ``check`` is one of ``CHECKS``."""

    def __init__(self, check: str, message: str):
        super().__init__(message)
        self.check = check
        self.message = message


class TokenMismatch(Exception):
    """A valid token about another workspace or add-on installation (answered 403).

    ``code`` is ``workspace_mismatch`` or ``addon_mismatch``.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AddonClaims:
    """The verified claims of a Clockify add-on token."""

    workspace_id: str
    addon_id: str | None
    user_id: str | None
    backend_url: str | None
    reports_url: str | None
    workspace_role: str | None
    theme: str | None
    language: str | None
    expires_at: float | None
    raw: dict = field(repr=False, compare=False)
    # Set once the kind is established (``USER`` or ``INSTALLATION``); None until then.
    kind: str | None = None

    @property
    def is_admin(self) -> bool:
        """True for workspace owners and admins, and for the installation token (it acts with the
        owner's rights)."""
        return self.kind == INSTALLATION or (self.workspace_role or "").upper() in ("OWNER", "ADMIN")

    @property
    def has_user_claims(self) -> bool:
        """True when the token carries a claim only user tokens carry."""
        return any(name in self.raw for name in USER_ONLY_CLAIMS)

    @classmethod
    def from_payload(cls, payload: dict) -> AddonClaims:
        return cls(
            workspace_id=payload["workspaceId"],
            addon_id=_str_or_none(payload.get("addonId")),
            user_id=_str_or_none(payload.get("user") or payload.get("userId")),
            backend_url=_str_or_none(payload.get("backendUrl")),
            reports_url=_str_or_none(payload.get("reportsUrl")),
            workspace_role=_str_or_none(payload.get("workspaceRole")),
            theme=_str_or_none(payload.get("theme")),
            language=_str_or_none(payload.get("language")),
            expires_at=payload.get("exp") if isinstance(payload.get("exp"), (int, float)) else None,
            raw=payload,
        )


def require_user_token(claims: AddonClaims) -> AddonClaims:
    """Check that verified ``claims`` are a user token's: every user-token claim, and an ``exp``
    (whose time ``TokenVerifier.verify`` has already checked). Return them marked ``USER``.

    :raise TokenError: ``token_kind`` (401) naming what is missing.
    """
    missing = [name for name in USER_TOKEN_CLAIMS if not isinstance(claims.raw.get(name), str) or not claims.raw[name]]
    if missing:
        raise TokenError("token_kind", "Only a user token is accepted here; the token has no "
                         + " or ".join(missing) + " claim.")
    if claims.expires_at is None:
        raise TokenError("token_kind", "Only a user token is accepted here; the token has no exp claim.")
    return replace(claims, kind=USER)


def load_public_key(pem: str | bytes):
    """Parse a PEM public key.

    :raise ValueError: when ``pem`` is not an RSA public key.
    """
    key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


class TokenVerifier:
    """Verifies Clockify add-on tokens against pinned keys (and an optional JWKS).

    :param public_keys: RSA public keys trusted to sign tokens (Clockify's, plus a development key
        outside production).
    :param addon_key: the manifest ``key``; tokens must carry it as ``sub``.
    :param verify_signature: False only in development/test; claims are still checked.
    :param jwks_client: a ``jwt.PyJWKClient`` consulted for tokens whose header has a ``kid``.
    :param clock: seconds since the epoch; injectable for tests.
    :param signature_cache_size: how many distinct tokens' checked signatures to remember
        (0: check every time).
    """

    def __init__(self, public_keys: Iterable, addon_key: str, *, verify_signature: bool = True,
                 jwks_client: jwt.PyJWKClient | None = None, clock: Callable[[], float] = time.time,
                 leeway: int = LEEWAY_SECONDS, signature_cache_size: int = SIGNATURE_CACHE_SIZE):
        self.public_keys = tuple(public_keys)
        if not self.public_keys and jwks_client is None:
            raise ValueError("TokenVerifier needs at least one public key or a JWKS client")
        self.addon_key = addon_key
        self.verify_signature = verify_signature
        self.jwks_client = jwks_client
        self.clock = clock
        self.leeway = leeway
        # Clockify sends a webhook's same token with every delivery: its signature is checked
        # once per process, its time claims on every use. Failures are never cached.
        self._signed_payload = functools.lru_cache(maxsize=signature_cache_size)(self._verify_signature)

    def verify(self, token: str | None, *, workspace_id: str | None = None,
               addon_id: str | None = None) -> AddonClaims:
        """Check ``token`` and return its claims.

        :param workspace_id: the workspace the request is about; the token must name the same one.
        :param addon_id: the stored installation's add-on id, when one exists.
        :raise TokenError: missing token or a failed check (401).
        :raise TokenMismatch: valid token for another workspace or add-on (403).
        """
        if not token:
            raise TokenError("missing", "No token was sent.")
        payload = self._decode(token)
        if payload.get("iss") != "clockify":
            raise TokenError("issuer", "The token was not issued by Clockify.")
        if payload.get("sub") != self.addon_key:
            raise TokenError("subject", "The token was issued for another add-on key.")
        if payload.get("type") != "addon":
            raise TokenError("type", "The token is not an add-on token.")
        if not isinstance(payload.get("workspaceId"), str) or not payload["workspaceId"]:
            raise TokenError("workspace", "The token has no workspaceId claim.")
        claims = AddonClaims.from_payload(payload)
        self.check_match(claims, workspace_id=workspace_id, addon_id=addon_id)
        return claims

    @staticmethod
    def check_match(claims: AddonClaims, *, workspace_id: str | None = None, addon_id: str | None = None) -> None:
        """Check that verified ``claims`` are about ``workspace_id`` and ``addon_id``.

        ``None`` skips a check. A token without an ``addonId`` claim passes the add-on check:
        which Clockify tokens carry one is unconfirmed, and the workspace check still applies.
        :raise TokenMismatch: ``workspace_mismatch`` or ``addon_mismatch`` (403).
        """
        if workspace_id is not None and claims.workspace_id != workspace_id:
            raise TokenMismatch("workspace_mismatch", "The token belongs to another workspace.")
        if addon_id is not None and claims.addon_id is not None and claims.addon_id != addon_id:
            raise TokenMismatch("addon_mismatch", "The token belongs to another installation of the add-on.")

    def _decode(self, token: str) -> dict:
        payload = dict(self._signed_payload(token))
        now = self.clock()
        exp, nbf = payload.get("exp"), payload.get("nbf")
        if exp is not None and (not isinstance(exp, (int, float)) or exp + self.leeway < now):
            raise TokenError("expired", "The token has expired.")
        if nbf is not None and (not isinstance(nbf, (int, float)) or nbf - self.leeway > now):
            raise TokenError("expired", "The token is not valid yet.")
        return payload

    def _verify_signature(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("signature", "The token is not a well-formed JWT.") from None
        if header.get("alg") != ALGORITHM:
            raise TokenError("algorithm", f"Only {ALGORITHM} tokens are accepted.")
        # Time claims are checked against the injectable clock below, the rest by hand above.
        options: Options = {"verify_signature": self.verify_signature, "verify_exp": False, "verify_nbf": False,
                   "verify_iat": False, "verify_iss": False, "verify_sub": False, "verify_aud": False}
        if not self.verify_signature:
            return self._decode_with(token, None, options)
        keys = list(self.public_keys)
        if self.jwks_client is not None and header.get("kid"):
            try:
                keys = [self.jwks_client.get_signing_key_from_jwt(token).key]
            except jwt.PyJWKClientError:
                raise TokenError("signature", "The token's key id is not in the configured JWKS.") from None
        for key in keys:
            try:
                return self._decode_with(token, key, options)
            except jwt.InvalidSignatureError:
                continue
        raise TokenError("signature", "The token's signature does not match a trusted key.")

    def _decode_with(self, token: str, key, options: Options) -> dict:
        try:
            payload = jwt.decode(token, key, algorithms=[ALGORITHM], options=options, leeway=self.leeway)
        except jwt.InvalidSignatureError:
            raise
        except jwt.InvalidAlgorithmError:
            raise TokenError("algorithm", f"Only {ALGORITHM} tokens are accepted.") from None
        except jwt.InvalidTokenError:
            raise TokenError("signature", "The token could not be decoded.") from None
        return payload


def _str_or_none(value) -> str | None:
    return value if isinstance(value, str) and value else None
