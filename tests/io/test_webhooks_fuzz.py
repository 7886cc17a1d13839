"""Hostile webhook bodies: whatever arrives signed, the answer is a result or an ecomcrm error.

Never a raw exception, and a refused delivery writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.errors import EcomcrmError
from ecomcrm.io import WebhookResult, handle_webhook, sync_resource
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks"
SECRET = "fuzz"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _sig(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def shopify(store: Store, topic: str, body: bytes) -> WebhookResult:
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": _sig(body),
               "X-Shopify-Webhook-Id": hashlib.sha1(body).hexdigest()}  # fmt: skip
    return handle_webhook("shopify", headers, body, secret=SECRET, store=store)


def woocommerce(store: Store, topic: str, body: bytes) -> WebhookResult:
    headers = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Signature": _sig(body),
               "X-WC-Webhook-Delivery-ID": hashlib.sha1(body).hexdigest()}  # fmt: skip
    return handle_webhook("woocommerce", headers, body, secret=SECRET, store=store)


def bigcommerce(store: Store, kind: str, body: bytes) -> WebhookResult:
    if kind == "callback":
        headers = {"X-Webhook-Secret": SECRET}
        return handle_webhook("bigcommerce", headers, body, secret=SECRET, store=store)
    try:  # the app parses what the REST API returned; what does not parse never gets here
        data = json.loads(body)
    except ValueError:
        return WebhookResult(platform="bigcommerce", topic=kind, status="ignored")
    products = json.loads((DATA / "bigcommerce_order_products.json").read_text())
    return sync_resource("bigcommerce", kind, data, store=store, products=products)


def magento(store: Store, kind: str, body: bytes) -> WebhookResult:
    wrapped = b'{"eventName": "sales_order_save_after", "data": {"' + kind.encode() + b'": '
    headers = {"X-Webhook-Secret": SECRET}
    return handle_webhook("magento", headers, wrapped + body + b"}}", secret=SECRET, store=store)


# (platform sender, topic, fixture file)
CASES: list[tuple[Callable[[Store, str, bytes], WebhookResult], str, str]] = [
    (shopify, "orders/create", "shopify_orders_create.json"),
    (shopify, "refunds/create", "shopify_refunds_create.json"),
    (shopify, "customers/create", "shopify_customers_create.json"),
    (shopify, "checkouts/create", "shopify_checkouts_create.json"),
    (shopify, "fulfillments/create", "shopify_fulfillments_create.json"),
    (woocommerce, "order.created", "woocommerce_order_created.json"),
    (woocommerce, "customer.created", "woocommerce_customer_created.json"),
    (bigcommerce, "callback", "bigcommerce_callback_order_created.json"),
    (bigcommerce, "order", "bigcommerce_order.json"),
    (bigcommerce, "customer", "bigcommerce_customer.json"),
    (bigcommerce, "cart", "bigcommerce_cart.json"),
    (magento, "order", "magento_order.json"),
    (magento, "customer", "magento_customer.json"),
]


def _store_with_order() -> Store:
    store = ecomcrm.open_store("memory://")
    shopify(store, "orders/create", (DATA / "shopify_orders_create.json").read_bytes())
    woocommerce(store, "order.created", (DATA / "woocommerce_order_created.json").read_bytes())
    bigcommerce(store, "order", (DATA / "bigcommerce_order.json").read_bytes())
    magento(store, "order", (DATA / "magento_order.json").read_bytes())
    return store


def _fingerprint(store: Store) -> tuple[int, int, int, int]:
    return (
        store.customers.count(),
        store.orders.count(),
        store.events.count(),
        len(store.state.scan("webhook:delivery:")),
    )


def _check(send: Callable[[Store, str, bytes], WebhookResult], topic: str, body: bytes) -> None:
    store = _store_with_order()
    before = _fingerprint(store)
    try:
        result = send(store, topic, body)
    except EcomcrmError as exc:
        assert "unexpected" not in str(exc), exc  # every refusal is one a rule foresaw
        assert _fingerprint(store) == before  # refused: nothing half-written
        return
    assert isinstance(result, WebhookResult)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), body=st.binary(max_size=300))
def test_random_bytes(case: tuple[Any, str, str], body: bytes) -> None:
    _check(case[0], case[1], body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), data=st.data())
def test_documented_payloads_with_one_field_replaced(case: tuple[Any, str, str], data: Any) -> None:
    send, topic, name = case
    payload = json.loads((DATA / name).read_text())
    target = payload
    path = data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=3))
    for step in path:  # walk into the document, then replace one value
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        if not keys:
            break
        key = keys[step % len(keys)]
        child = target[key]
        if isinstance(child, dict | list) and child and step % 2 == 0:
            target = child
            continue
        target[key] = data.draw(json_values)
        break
    _check(send, topic, json.dumps(payload).encode())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(CASES), cut=st.integers(0, 10_000))
def test_truncated_documented_payloads(case: tuple[Any, str, str], cut: int) -> None:
    send, topic, name = case
    body = (DATA / name).read_bytes()
    _check(send, topic, body[: cut % max(1, len(body))])
