"""Webhooks into the PostgreSQL store: one transaction per delivery, replays, stale updates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

import ecomcrm
from ecomcrm.errors import ValidationError
from ecomcrm.io import WebhookResult, handle_webhook, handle_webhooks
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parents[2] / "data" / "webhooks"
SECRET = "pg-secret"


def deliver(store: Store, topic: str, body: bytes, webhook_id: str) -> WebhookResult:
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature.decode(),
               "X-Shopify-Webhook-Id": webhook_id}  # fmt: skip
    return handle_webhook("shopify", headers, body, secret=SECRET, store=store)


def payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"shopify_{name}.json").read_text())  # type: ignore[no-any-return]


def test_shopify_deliveries_into_postgres(pg_url: str) -> None:
    store = ecomcrm.open_store(pg_url)
    try:
        order = json.dumps(payload("orders_create")).encode()
        first = deliver(store, "orders/create", order, "w1")
        assert first.status == "written" and [e.name for e in first.events] == ["Order Completed"]
        assert deliver(store, "orders/create", order, "w1").status == "duplicate"
        refund = json.dumps(payload("refunds_create")).encode()
        assert deliver(store, "refunds/create", refund, "w2").events[0].name == "Order Refunded"
        older = payload("orders_create")
        older["updated_at"] = "2024-03-01T00:00:00Z"
        assert deliver(store, "orders/updated", json.dumps(older).encode(), "w3").status == "stale"
        before = (store.orders.count(), store.events.count(), len(store.state.scan("webhook:")))
        with pytest.raises(ValidationError):
            deliver(store, "orders/create", order[:-5], "w4")
        assert (
            store.orders.count(),
            store.events.count(),
            len(store.state.scan("webhook:")),
        ) == before
    finally:
        store.close()


def _signed(
    topic: str, data: dict[str, Any] | bytes, webhook_id: str
) -> tuple[dict[str, str], bytes]:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    return {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": signature.decode(),
            "X-Shopify-Webhook-Id": webhook_id}, body  # fmt: skip


def test_a_batch_into_postgres_ends_as_one_by_one(pg_url: str) -> None:
    order, newer, customer = (
        payload("orders_create"),
        payload("orders_create"),
        payload("customers_create"),
    )
    newer.update(updated_at="2024-03-07T10:00:00Z", financial_status="partially_refunded")
    second = {**payload("orders_create"), "id": 2, "name": "#2", "email": "eve@example.com",
              "customer": None}  # fmt: skip
    batch = [
        _signed("orders/updated", newer, "w1"), _signed("orders/create", order, "w2"),
        _signed("orders/create", newer, "w1"), _signed("refunds/create", payload("refunds_create"), "w3"),
        _signed("customers/create", customer, "w4"), _signed("orders/create", second, "w5"),
        _signed("orders/create", b'{"id": ', "w6"),
    ]  # fmt: skip
    alone = ecomcrm.open_store("memory://")
    expected = []
    for headers, body in batch:
        try:
            expected.append(handle_webhook("shopify", headers, body, secret=SECRET, store=alone))
        except ValidationError as exc:
            expected.append(
                WebhookResult(platform="shopify", topic="", status="refused", error=exc)
            )
    store = ecomcrm.open_store(pg_url)
    try:
        got = handle_webhooks("shopify", batch, secret=SECRET, store=store)
        assert [r.status for r in got] == [r.status for r in expected] == [
            "written", "stale", "duplicate", "written", "written", "written", "refused"
        ]  # fmt: skip
        assert [r.events for r in got] == [r.events for r in expected]
        for name in ("#9999", "#2"):
            assert store.orders.get(name) == alone.orders.get(name)
            assert store.orders.refunds_for_order(name) == alone.orders.refunds_for_order(name)
        assert sorted(store.customers.iterate(), key=lambda c: c.id) == sorted(
            alone.customers.iterate(), key=lambda c: c.id
        )
        assert [(r.key, r.value) for r in store.state.scan("webhook:")] == [
            (r.key, r.value) for r in alone.state.scan("webhook:")
        ]
    finally:
        store.close()
