"""Encryption at rest for Clockify tokens (Fernet, keys from ``TOKEN_ENCRYPTION_KEY``).

``EncryptedText`` is a column type: the ORM hands plain text to the app and ciphertext to the
database, so no code path can store a token in clear by forgetting to encrypt it. Development
and test instances without that variable use a key kept in the instance folder
(``instance_key``).

Keys rotate the library's way (``MultiFernet``): the variable lists them newest first, the first
encrypts and every one decrypts; ``flask tokens reencrypt`` moves stored tokens to the first.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from .errors import TokenUnreadable

EXTENSION_KEY = "addon.cipher"
INSTANCE_KEY_FILE = "token_encryption.key"


class TokenCipher:
    """Encrypts short secrets with the first of its Fernet keys and decrypts them with any."""

    def __init__(self, keys: Sequence[bytes]):
        self._first = Fernet(keys[0])
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self.key_count = len(keys)

    def encrypt(self, plaintext: str) -> str:
        """Return the Fernet token (ASCII) for ``plaintext``, made with the first key."""
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Return the plain text.

        :raise TokenUnreadable: when no key decrypts it.
        """
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise TokenUnreadable() from None  # the cause would only say "InvalidToken"

    def is_current(self, ciphertext: str) -> bool:
        """Whether the first key decrypts ``ciphertext`` (nothing left to re-encrypt)."""
        try:
            self._first.decrypt(ciphertext.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True

    def rotate(self, ciphertext: str) -> str:
        """The same secret encrypted with the first key.

        :raise TokenUnreadable: when no key decrypts it.
        """
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise TokenUnreadable() from None


def init_app(app, keys: Sequence[bytes]) -> None:
    """Bind the cipher for ``keys`` (newest first) to ``app``."""
    app.extensions[EXTENSION_KEY] = TokenCipher(keys)


def current_cipher() -> TokenCipher:
    """The cipher of the current app."""
    return current_app.extensions[EXTENSION_KEY]


def token_digest(token: str) -> str:
    """SHA-256 hex digest of a token, used to find a stored token without decrypting every row."""
    return hashlib.sha256(token.encode()).hexdigest()


class EncryptedText(sa.types.TypeDecorator):
    """A Text column whose value is encrypted with the app's cipher before it is stored; loading
    a value no key decrypts raises ``TokenUnreadable``."""

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
