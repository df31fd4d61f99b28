"""The development signing key: an RSA key pair generated once into the instance folder.

In ``development`` the app trusts its public half beside Clockify's key, so the developer
simulator (``flask clockify simulate ...``) can sign lifecycle calls and tokens locally. It lives
in the runtime, not in the test kit, because the app itself loads it.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

DEV_KEY_FILE = "dev-signing-key.pem"


def dev_private_key(instance_path: str) -> rsa.RSAPrivateKey:
    """The development signing key of ``instance_path``, generated on first use (mode 0600)."""
    path = Path(instance_path) / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            with os.fdopen(fd, "wb") as handle:
                handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    loaded = _parse(path.read_bytes())
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA private key")
    return loaded


@functools.lru_cache(maxsize=8)
def _parse(pem: bytes) -> PrivateKeyTypes:
    """The private key of ``pem``, parsed once per process: parsing checks the key and takes tens
    of milliseconds, and every app built in development reads the same file again. Keyed by the
    file's bytes, so a key written anew is parsed anew."""
    return serialization.load_pem_private_key(pem, password=None)
