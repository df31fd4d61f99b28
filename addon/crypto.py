"""Encryption at rest for Clockify tokens (Fernet, key from ``TOKEN_ENCRYPTION_KEY``).

``EncryptedText`` is a column type: the ORM hands plain text to the app and ciphertext to the
database, so no code path can store a token in clear by forgetting to encrypt it.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

EXTENSION_KEY = "addon.cipher"


class TokenCipher:
    """Encrypts and decrypts short secrets with one Fernet key."""

    def __init__(self, key: bytes):
        self._fernet = Fernet(key)

    def encrypt(self, plaintext: str) -> str:
        """Return the Fernet token (ASCII) for ``plaintext``."""
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Return the plain text.

        :raise cryptography.fernet.InvalidToken: when the key does not match.
        """
        return self._fernet.decrypt(ciphertext.encode("ascii")).decode()


def init_app(app, key: bytes) -> None:
    """Bind the cipher for ``key`` to ``app``."""
    app.extensions[EXTENSION_KEY] = TokenCipher(key)


def current_cipher() -> TokenCipher:
    """The cipher of the current app."""
    return current_app.extensions[EXTENSION_KEY]


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a token, used to find a stored token without decrypting every row."""
    return hashlib.sha256(token.encode()).hexdigest()


class EncryptedText(sa.types.TypeDecorator):
    """A Text column whose value is encrypted with the app's cipher before it is stored."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else current_cipher().encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else current_cipher().decrypt(value)


__all__ = ["EncryptedText", "InvalidToken", "TokenCipher", "current_cipher", "init_app", "token_digest"]
