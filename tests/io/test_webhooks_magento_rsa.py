"""Adobe Commerce webhook signatures (RSA-SHA256), with a key pair made in the test.

Adobe Commerce signs the base64 of the request body with the store's private key and
sends the base64 signature in ``x-adobe-commerce-webhook-signature``; the app holds the
public key (PEM) from Stores > Configuration > Adobe Services > Webhooks.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

import ecomcrm
from ecomcrm.errors import ConfigurationError, SignatureError, ValidationError
from ecomcrm.io import handle_webhook, handle_webhooks
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks"
HEADER = "x-adobe-commerce-webhook-signature"


def _pem(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def _body(increment_id: str = "000000042") -> bytes:
    order = json.loads((DATA / "magento_order.json").read_text())
    order["increment_id"] = increment_id
    return json.dumps({"eventName": "sales_order_save_after", "data": {"order": order}}).encode()


def _sign(key: rsa.RSAPrivateKey, body: bytes) -> str:
    signature = key.sign(base64.b64encode(body), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def _deliver(store: Store, headers: dict[str, str], body: bytes, public_key: str) -> Any:
    return handle_webhook("magento", headers, body, public_key=public_key, store=store)


def test_a_signed_order_is_written_and_a_replay_is_a_duplicate(
    store: Store, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    key = keys[0]
    body = _body()
    headers = {HEADER: _sign(key, body), "Content-Type": "application/json"}
    result = _deliver(store, headers, body, _pem(key))
    assert result.status == "written" and result.orders == ("mg-000000042",)
    assert _deliver(store, headers, body, _pem(key)).status == "duplicate"


def test_forged_altered_missing_and_garbled_signatures_write_nothing(
    store: Store, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    ours, theirs = keys
    body = _body()
    cases = {
        "another store's key": ({HEADER: _sign(theirs, body)}, body),
        "an altered body": ({HEADER: _sign(ours, body)}, body.replace(b"000000042", b"000000043")),
        "no signature": ({}, body),
        "not base64": ({HEADER: "%%%not-base64%%%"}, body),
        "the raw body signed": (
            {HEADER: base64.b64encode(
                ours.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()},
            body,
        ),
    }  # fmt: skip
    for case, (headers, sent) in cases.items():
        with pytest.raises(SignatureError) as caught:
            _deliver(store, headers, sent, _pem(ours))
        assert caught.value.field == HEADER, case
    assert store.orders.count() == 0 and store.customers.count() == 0


def test_keys_that_cannot_verify_are_named(
    store: Store, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    body = _body()
    headers = {HEADER: _sign(keys[0], body)}
    with pytest.raises(ValidationError) as not_pem:
        _deliver(store, headers, body, "not a key")
    assert not_pem.value.field == "public_key"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValidationError, match="RSA"):
        _deliver(store, headers, body, _pem(ec_key))
    with pytest.raises(ValidationError) as neither:
        handle_webhook("magento", headers, body, store=store)
    assert neither.value.field == "secret" and "public_key" in str(neither.value)
    with pytest.raises(ValidationError) as wrong_platform:
        handle_webhook("shopify", {}, b"{}", secret="s", public_key=_pem(keys[0]), store=store)
    assert wrong_platform.value.field == "public_key"


def test_signature_and_secret_header_are_both_checked_when_both_are_given(
    store: Store, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    body = _body()
    headers = {HEADER: _sign(keys[0], body), "X-Webhook-Secret": "wrong"}
    with pytest.raises(SignatureError) as caught:
        handle_webhook("magento", headers, body, secret="s3", public_key=_pem(keys[0]), store=store)
    assert caught.value.field == "X-Webhook-Secret"
    ok = {**headers, "X-Webhook-Secret": "s3"}
    assert handle_webhook(
        "magento", ok, body, secret="s3", public_key=_pem(keys[0]), store=store
    ).written


def test_batches_verify_each_delivery(keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]) -> None:
    store = ecomcrm.open_store("memory://")
    good, other = _body("000000001"), _body("000000002")
    batch = [({HEADER: _sign(keys[0], good)}, good), ({HEADER: _sign(keys[1], other)}, other)]
    results = handle_webhooks("magento", batch, public_key=_pem(keys[0]), store=store)
    assert [r.status for r in results] == ["written", "refused"]
    assert isinstance(results[1].error, SignatureError)


def test_without_cryptography_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]
) -> None:
    body = _body()
    pem = _pem(keys[0])
    for name in [m for m in sys.modules if m == "cryptography" or m.startswith("cryptography.")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the package were not installed
    monkeypatch.setitem(sys.modules, "cryptography", None)
    store = ecomcrm.open_store("memory://")
    with pytest.raises(ConfigurationError) as caught:
        _deliver(store, {HEADER: "c2ln"}, body, pem)
    assert "ecomcrm[crypto]" in str(caught.value)
    assert store.orders.count() == 0
