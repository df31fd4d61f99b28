"""Mint Clockify-shaped RS256 tokens with a local key pair."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 private key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


class Signer:
    """Signs tokens shaped like Clockify's for one add-on key.

    >>> signer = Signer(generate_private_key(), "my-addon")
    >>> token = signer.make_token(workspaceId="ws1")
    """

    def __init__(self, private_key: rsa.RSAPrivateKey, addon_key: str, *, backend_url: str = "https://api.clockify.me/api",
                 reports_url: str = "https://reports.api.clockify.me"):
        self.private_key = private_key
        self.addon_key = addon_key
        self.backend_url = backend_url
        self.reports_url = reports_url

    @property
    def public_pem(self) -> str:
        return public_pem(self.private_key)

    def make_token(self, *, algorithm: str = "RS256", key=None, headers: dict | None = None, **claims) -> str:
        """An add-on token: defaults for ``iss``/``sub``/``type``, then ``claims`` (None removes one)."""
        payload = {"iss": "clockify", "sub": self.addon_key, "type": "addon"}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key if key is not None else self.private_key, algorithm=algorithm, headers=headers)

    def installation_token(self, workspace_id: str, addon_id: str, user_id: str = "owner-user",
                           jti: str | None = None, **urls: str | None) -> str:
        """A non-expiring installation token (as sent in INSTALLED's ``authToken``).

        RS256 signatures are deterministic: a fixed ``jti`` gives the same token every time.
        ``urls`` override the URL claims (``backendUrl=...``; None leaves one out).
        """
        claims: dict[str, Any] = {"backendUrl": self.backend_url, "reportsUrl": self.reports_url, **urls}
        return self.make_token(workspaceId=workspace_id, addonId=addon_id, user=user_id, jti=jti or uuid.uuid4().hex,
                               **claims)

    def webhook_token(self, workspace_id: str, addon_id: str, jti: str | None = None) -> str:
        """A non-expiring webhook token (sent in ``Clockify-Signature``); see ``installation_token``
        for ``jti``."""
        return self.make_token(workspaceId=workspace_id, addonId=addon_id, jti=jti or uuid.uuid4().hex)

    def lifecycle_token(self, workspace_id: str, addon_id: str) -> str:
        """A lifecycle token (``X-Addon-Lifecycle-Token``); its real expiry is unconfirmed, we add 5 min."""
        return self.make_token(workspaceId=workspace_id, addonId=addon_id, exp=int(time.time()) + 300)

    def user_token(self, workspace_id: str, addon_id: str, user_id: str = "user-1", role: str = "OWNER",
                   theme: str = "DEFAULT", ttl: int = 1800) -> str:
        """A 30-minute user token as passed to the sidebar iframe in ``auth_token``."""
        return self.make_token(workspaceId=workspace_id, addonId=addon_id, user=user_id, workspaceRole=role,
                               theme=theme, language="EN", backendUrl=self.backend_url,
                               reportsUrl=self.reports_url, exp=int(time.time()) + ttl)
