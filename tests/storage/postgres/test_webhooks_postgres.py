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
from ecomcrm.io import WebhookResult, handle_webhook
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
