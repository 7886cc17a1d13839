"""Adobe Commerce (Magento 2) webhook signatures: RSA-SHA256 with the store's public key.

With signature verification enabled (Stores > Settings > Configuration > Adobe Services >
Webhooks, then *Regenerate key pair*), Adobe Commerce signs each webhook request with its
private key and sends the base64 signature in ``x-adobe-commerce-webhook-signature``. The
signed message is the request body *base64-encoded* (as Adobe's own verification example
feeds it to ``crypto.createVerify('SHA256')``), with PKCS#1 v1.5 padding. The app passes
the public key shown in that configuration page (PEM). Verification needs the optional
``cryptography`` package (``pip install "ecomcrm[crypto]"``).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ecomcrm.errors import ConfigurationError, SignatureError, ValidationError

#: The header Adobe Commerce puts its signature in.
ADOBE_SIGNATURE_HEADER = "x-adobe-commerce-webhook-signature"
#: How to install what verifying RSA signatures needs.
CRYPTO_INSTALL_HINT = 'pip install "ecomcrm[crypto]"'


def verify_rsa_sha256(
    body: bytes, signature: str | None, public_key: str | bytes, *, platform: str,
    header_name: str = ADOBE_SIGNATURE_HEADER,
) -> None:  # fmt: skip
    """Check an Adobe Commerce signature of the raw body; SignatureError if it does not verify.

    ``public_key`` is the PEM text of the store's webhook public key. A missing
    ``cryptography`` package is a ConfigurationError naming the ``crypto`` extra; a key
    that is not an RSA public key in PEM is a ValidationError naming ``public_key``.

    Example:
        >>> try:
        ...     verify_rsa_sha256(b"{}", None, "-----BEGIN PUBLIC KEY-----", platform="magento")
        ... except SignatureError as exc:
        ...     print(exc.field)
        x-adobe-commerce-webhook-signature
    """
    if not signature:
        raise SignatureError(
            "is missing: enable signature verification in the webhooks configuration",
            entity=f"{platform} webhook", field=header_name, value=None,
        )  # fmt: skip
    crypto = _cryptography()
    key = _public_key(crypto, public_key)
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    try:
        key.verify(given, base64.b64encode(bytes(body)), crypto["PKCS1v15"](), crypto["SHA256"]())
    except crypto["InvalidSignature"]:
        raise SignatureError(
            "does not match the body and public key: forged, altered, or another store's key",
            entity=f"{platform} webhook", field=header_name, value=signature[:80],
        ) from None  # fmt: skip


def _cryptography() -> dict[str, Any]:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
        from cryptography.hazmat.primitives.hashes import SHA256
        from cryptography.hazmat.primitives.serialization import load_pem_public_key
    except ImportError as exc:
        raise ConfigurationError(
            f"verifying Adobe Commerce webhook signatures needs the cryptography package "
            f"({exc}): install it with {CRYPTO_INSTALL_HINT}",
            field="public_key",
        ) from None
    return {
        "InvalidSignature": InvalidSignature, "PKCS1v15": PKCS1v15, "RSAPublicKey": RSAPublicKey,
        "SHA256": SHA256, "load": load_pem_public_key,
    }  # fmt: skip


def _public_key(crypto: dict[str, Any], public_key: str | bytes) -> Any:
    pem = public_key.encode() if isinstance(public_key, str) else public_key
    if not isinstance(pem, bytes) or not pem.strip():
        raise ValidationError("must be the webhooks' public key (PEM)", field="public_key")
    try:
        key = crypto["load"](pem.strip())
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            f"is not a PEM public key ({str(exc)[:80]})", field="public_key", value=pem[:40]
        ) from None
    if not isinstance(key, crypto["RSAPublicKey"]):
        raise ValidationError(
            "must be an RSA public key", field="public_key", value=type(key).__name__
        )
    return key
