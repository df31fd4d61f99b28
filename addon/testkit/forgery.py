"""Forged tokens for rejection tests: each is something an attacker could send.

PyJWT refuses to build some of them (a PEM as HMAC secret), so they are assembled by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def unsigned_token(claims: dict, alg: str = "none") -> str:
    """A JWT with ``alg`` (default ``none``) and an empty signature."""
    return f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(claims)}."


def hmac_token(claims: dict, secret: str | bytes, alg: str = "HS256") -> str:
    """A JWT signed with HMAC: with Clockify's *public* PEM as ``secret`` this is the classic
    algorithm-confusion attack on verifiers that let the token choose the algorithm."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signing_input = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(claims)}"
    return f"{signing_input}.{_b64(hmac.new(key, signing_input.encode(), digest).digest())}"


def with_claims(token: str, **changes) -> str:
    """``token`` with its payload edited (``None`` removes a claim) and the old signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return f"{header}.{_segment(claims)}.{signature}"
