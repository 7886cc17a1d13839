"""Master-key providers: what wraps (encrypts) each person's data key.

A :class:`KeyProvider` holds the application's master keys, never stored with the data.
A wrapped key starts with the id of the master key that wrapped it, so keys wrapped
before a rotation still unwrap while the provider keeps the old master key.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ecomcrm.errors import ValidationError

NONCE = 12
"""Bytes of an AES-GCM nonce (random per encryption)."""


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys with the application's master key(s).

    Contract: ``unwrap(wrap(key)) == key``; ``wrap`` uses the current master key
    (``key_id``); ``unwrap`` accepts anything wrapped by a key the provider still holds and
    raises ValidationError otherwise (unknown key id, tampered blob). A KMS-backed
    provider calls the KMS's encrypt/decrypt here, so the master key never leaves it.

    Example:
        >>> isinstance(StaticKeyProvider({"k1": bytes(32)}), KeyProvider)
        True
    """

    @property
    def key_id(self) -> str:
        """The id of the master key new data keys are wrapped with."""
        ...

    def wrap(self, key: bytes) -> bytes:
        """``key`` encrypted by the current master key, prefixed by its id."""
        ...

    def unwrap(self, blob: bytes) -> bytes:
        """The key ``blob`` holds; ValidationError when no held master key opens it."""
        ...


def _key_bytes(key_id: str, value: Any) -> bytes:
    raw = bytes.fromhex(value) if isinstance(value, str) else value
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise ValidationError(
            "must be 32 bytes (64 hex digits)", entity="KeyProvider", field="keys", value=key_id
        )
    return raw


class StaticKeyProvider:
    """Master keys given in memory: ``{key id: 32 bytes or 64 hex digits}``.

    ``current`` (default: the last id given) wraps new keys; every key given unwraps.
    Rotate by adding a new key as ``current`` and calling ``KeyRing.rotate``.

    Example:
        >>> p = StaticKeyProvider({"2024": bytes(32), "2025": "11" * 32})
        >>> p.key_id, p.unwrap(p.wrap(b"k" * 32)) == b"k" * 32
        ('2025', True)
    """

    def __init__(self, keys: Mapping[str, bytes | str], current: str | None = None) -> None:
        if not keys:
            raise ValidationError("needs a master key", entity="KeyProvider", field="keys")
        self._keys = {kid: AESGCM(_key_bytes(kid, k)) for kid, k in keys.items()}
        for kid in self._keys:
            if not kid or ":" in kid or not kid.isascii():
                raise ValidationError(
                    "key ids are non-empty ASCII without ':'",
                    entity="KeyProvider",
                    field="keys",
                    value=kid,
                )
        self._current = current if current is not None else list(keys)[-1]
        if self._current not in self._keys:
            raise ValidationError(
                "is not one of the keys", entity="KeyProvider", field="current", value=current
            )

    @property
    def key_id(self) -> str:
        """The id of the current master key."""
        return self._current

    def wrap(self, key: bytes) -> bytes:
        """``key`` encrypted (AES-GCM) by the current master key: ``id:nonce+ciphertext``."""
        nonce = secrets.token_bytes(NONCE)
        head = self._current.encode() + b":"
        return head + nonce + self._keys[self._current].encrypt(nonce, key, head)

    def unwrap(self, blob: bytes) -> bytes:
        """The key in ``blob``; ValidationError for an unknown master key or a tampered blob."""
        kid, sep, rest = blob.partition(b":")
        cipher = self._keys.get(kid.decode("ascii", "replace")) if sep else None
        if cipher is None:
            raise ValidationError(
                "was wrapped by a master key this provider does not hold",
                entity="KeyProvider",
                field="key_id",
                value=kid.decode("ascii", "replace"),
            )
        try:
            return cipher.decrypt(rest[:NONCE], rest[NONCE:], kid + b":")
        except InvalidTag:
            raise ValidationError(
                "does not open with its master key (tampered or wrong key)",
                entity="KeyProvider",
                field="blob",
                value=kid.decode("ascii", "replace"),
            ) from None


def _from_json(text: str, where: str) -> StaticKeyProvider:
    try:
        data = json.loads(text)
        return StaticKeyProvider(data["keys"], data.get("current"))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValidationError(
            'must be JSON {"current": id, "keys": {id: 64 hex digits}}',
            entity="KeyProvider",
            field=where,
        ) from None


def new_master_keys(key_id: str = "k1") -> str:
    """A new key file's text: one random 256-bit master key as the current one.

    Example:
        >>> import json
        >>> json.loads(new_master_keys("2025"))["current"]
        '2025'
    """
    return json.dumps({"current": key_id, "keys": {key_id: secrets.token_hex(32)}})


def file_key_provider(path: str | os.PathLike[str]) -> StaticKeyProvider:
    """The master keys in a JSON file (:func:`new_master_keys` writes one; keep it apart).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "master.json"
        >>> _ = path.write_text(new_master_keys("k1"))
        >>> file_key_provider(path).key_id
        'k1'
    """
    return _from_json(Path(path).read_text(encoding="utf-8"), str(path))


def env_key_provider(variable: str = "ECOMCRM_MASTER_KEYS") -> StaticKeyProvider:
    """The master keys in an environment variable (the same JSON as a key file).

    Example:
        >>> import os
        >>> os.environ["DEMO_KEYS"] = new_master_keys("env1")
        >>> env_key_provider("DEMO_KEYS").key_id
        'env1'
    """
    text = os.environ.get(variable)
    if text is None:
        raise ValidationError(
            "is not set", entity="KeyProvider", field="environment", value=variable
        )
    return _from_json(text, variable)
