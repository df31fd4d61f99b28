"""Encryption at rest for Clockify tokens (Fernet, key from ``TOKEN_ENCRYPTION_KEY``).

``EncryptedText`` is a column type: the ORM hands plain text to the app and ciphertext to the
database, so no code path can store a token in clear by forgetting to encrypt it. Development
and test instances without that variable use a key kept in the instance folder
(``instance_key``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet
from flask import current_app

EXTENSION_KEY = "addon.cipher"
INSTANCE_KEY_FILE = "token_encryption.key"


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


def instance_key(instance_path: str) -> bytes:
    """Development/test only: a Fernet key generated once and kept in the instance folder (mode 0600).

    :raise OSError: when the folder cannot hold it.
    """
    path = Path(instance_path) / INSTANCE_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race; use its key
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as handle:
            handle.write(base64.urlsafe_b64encode(os.urandom(32)))
    return path.read_bytes().strip()


__all__ = ["EncryptedText", "TokenCipher", "current_cipher", "init_app", "instance_key", "token_digest"]
