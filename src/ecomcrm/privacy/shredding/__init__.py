"""Crypto-shredding: personal values encrypted per person, erased by destroying the key.

Each person's values are encrypted (AES-GCM) with their own data key; a :class:`KeyRing`
(its own SQLite file, kept apart from the data and its backups) holds the data keys, each
wrapped by the application's master key from a :class:`KeyProvider`
(:class:`StaticKeyProvider`, :func:`file_key_provider`, :func:`env_key_provider`, or a
KMS behind the same two methods). Erasure destroys the person's data key, so copies of the
data taken before it no longer reveal them; rotating the master key re-wraps the data keys
without rewriting the data; identities are looked up by a keyed hash
(:meth:`KeyRing.blind`).

Needs the ``crypto`` extra (``pip install 'ecomcrm[crypto]'``); the rest of ecomcrm never
imports it.

Example:
    >>> import tempfile, pathlib
    >>> from ecomcrm.privacy.shredding import KeyRing, StaticKeyProvider
    >>> old = StaticKeyProvider({"2024": bytes(32)})
    >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "keys.db", old)
    >>> token = ring.encrypt("c1", "ada@example.com")
    >>> ring.rotate(StaticKeyProvider({"2024": bytes(32), "2025": "11" * 32}))
    1
    >>> ring.decrypt(token)
    'ada@example.com'
"""

import importlib.util

if importlib.util.find_spec("cryptography") is None:  # pragma: no cover - depends on the env
    raise ImportError(
        "ecomcrm.privacy.shredding needs the 'cryptography' package: pip install 'ecomcrm[crypto]'"
    )

from ecomcrm.privacy.shredding._fields import FieldCipher, blind_identity
from ecomcrm.privacy.shredding._keyring import PREFIX, KeyRing
from ecomcrm.privacy.shredding._providers import (
    KeyProvider,
    StaticKeyProvider,
    env_key_provider,
    file_key_provider,
    new_master_keys,
)
from ecomcrm.privacy.shredding._store import EncryptedStore, encrypted_store

__all__ = [
    "PREFIX",
    "EncryptedStore",
    "FieldCipher",
    "KeyProvider",
    "KeyRing",
    "StaticKeyProvider",
    "blind_identity",
    "encrypted_store",
    "env_key_provider",
    "file_key_provider",
    "new_master_keys",
]
