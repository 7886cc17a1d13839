"""WooCommerce webhooks through ``ecomcrm.io.handle_webhook``, as WooCommerce delivers them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ecomcrm.domain import Identity, OrderStatus
from ecomcrm.errors import SignatureError, ValidationError
from ecomcrm.io import WebhookResult, handle_webhook, import_woocommerce_orders
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks"
SECRET = "wc-secret-xyz"
NOW = datetime(2024, 3, 20, tzinfo=UTC)


def payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"woocommerce_{name}.json").read_text())  # type: ignore[no-any-return]


def deliver(
    store: Store, topic: str, data: dict[str, Any] | bytes, delivery: str, **kw: Any
) -> WebhookResult:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest())
    resource, _, event = topic.partition(".")
    headers = [
        ("User-Agent", "WooCommerce/8.6.1 Hookshot (WordPress/6.4.3)"),
        ("X-WC-Webhook-Source", "https://example.com/"),
        ("X-WC-Webhook-Topic", topic),
        ("X-WC-Webhook-Resource", resource),
        ("X-WC-Webhook-Event", event),
        ("X-WC-Webhook-Signature", signature.decode()),
        ("X-WC-Webhook-ID", "12"),
        ("X-WC-Webhook-Delivery-ID", delivery),
    ]
    return handle_webhook("woocommerce", headers, body, secret=SECRET, store=store, now=NOW, **kw)


def test_order_created_maps_the_rest_order(store: Store) -> None:
    result = deliver(store, "order.created", payload("order_created"), "d1")
    assert result.status == "written" and result.orders == ("wc-727",)
    order = store.orders.get("wc-727")
    assert (order.currency, order.total, order.tax) == ("EUR", Decimal("47.35"), Decimal("1.35"))
    assert order.status is OrderStatus.PAID and order.discount_codes == ("save4",)
    assert [line.sku for line in order.lines] == ["woo-93", "WOO-IDEA-BLK-M"]
    assert order.lines[0].unit_price == Decimal("6.00") and order.lines[0].discount == 2
    assert order.placed_at == datetime(2024, 3, 2, 8, 30, tzinfo=UTC)
    person = store.customers.get(order.customer_id)
    assert Identity.email("john.doe@example.com") in person.identities
    assert Identity(kind="external", value="woocommerce:26") in person.identities
    assert [e.name for e in result.events] == ["Order Completed"]


def test_the_csv_export_of_the_same_order_is_the_same_order(store: Store, tmp_path: Path) -> None:
    deliver(store, "order.created", payload("order_created"), "d1")
    path = tmp_path / "woo.csv"
    path.write_text(
        "order_id,order_number,order_date,status,shipping_total,tax_total,order_total,"
        "order_currency,customer_email,customer_id,line_item_1,line_item_2\n"
        "727,727,2024-03-02 08:30:00,processing,10.00,1.35,47.35,EUR,john.doe@example.com,26,"
        "name:Woo Single #1|product_id:93|quantity:2|total:10.00|sub_total:12.00,"
        "name:Ship Your Idea|sku:WOO-IDEA-BLK-M|quantity:1|total:26.00|sub_total:28.00\n"
    )
    import_woocommerce_orders(store, path)
    assert store.orders.count() == 1 and store.customers.count() == 1


def test_duplicate_delivery_and_reordered_updates(store: Store) -> None:
    created = payload("order_created")
    assert deliver(store, "order.created", created, "d1").written
    assert deliver(store, "order.created", created, "d1").status == "duplicate"
    completed = payload("order_created")
    completed.update(status="completed", date_modified_gmt="2024-03-04T10:00:00",
                     date_completed_gmt="2024-03-04T10:00:00")  # fmt: skip
    shipped = deliver(store, "order.updated", completed, "d2")
    assert [e.name for e in shipped.events] == ["Order Shipped"]
    older = payload("order_created")
    older.update(status="on-hold", date_modified_gmt="2024-03-03T10:00:00")
    assert deliver(store, "order.updated", older, "d3").status == "stale"
    assert store.orders.get("wc-727").status is OrderStatus.FULFILLED


def test_refunds_in_the_order_json(store: Store) -> None:
    p = payload("order_created")
    deliver(store, "order.created", p, "d1")
    p.update(status="refunded", date_modified_gmt="2024-03-05T10:00:00",
             refunds=[{"id": 730, "reason": "Too big", "total": "-47.35"}])  # fmt: skip
    result = deliver(store, "order.updated", p, "d2")
    assert [e.name for e in result.events] == ["Order Refunded"]
    [refund] = store.orders.refunds_for_order("wc-727")
    assert refund.amount == Decimal("47.35") and refund.id == "wc-727:refund:730"
    p["refunds"] = [{"id": 730, "reason": "", "total": "-99.00"}]
    p["date_modified_gmt"] = "2024-03-06T10:00:00"
    with pytest.raises(ValidationError, match=r"refunds\[0\]\.total"):
        deliver(store, "order.updated", p, "d3")


def test_order_deleted_cancels_the_stored_order(store: Store) -> None:
    deliver(store, "order.created", payload("order_created"), "d1")
    result = deliver(store, "order.deleted", {"id": 727}, "d2")
    assert [e.name for e in result.events] == ["Order Cancelled"]
    assert store.orders.get("wc-727").status is OrderStatus.CANCELLED
    assert deliver(store, "order.deleted", {"id": 999}, "d3").status == "ignored"


def test_guest_with_a_phone_only_and_a_zero_value_order(store: Store) -> None:
    p = payload("order_created")
    p.update(customer_id=0, total="0.00", total_tax="0.00", shipping_total="0.00",
             coupon_lines=[])  # fmt: skip
    p["billing"].update(email="", phone="+33 6 12 34 56 78")
    for line in p["line_items"]:
        line.update(subtotal="0.00", total="0.00")
    assert deliver(store, "order.created", p, "d1").written
    person = store.customers.find_by_identity(Identity.phone("+33612345678"))
    assert person is not None and store.orders.get("wc-727").total == 0


@pytest.mark.parametrize("currency", ["USD", "JPY", "GBP", "KWD"])
def test_currencies(store: Store, currency: str) -> None:
    p = payload("order_created")
    p["currency"] = currency
    deliver(store, "order.created", p, "d1")
    assert store.orders.get("wc-727").currency == currency


def test_customer_created_and_updated(store: Store) -> None:
    result = deliver(store, "customer.created", payload("customer_created"), "d1")
    assert [e.name for e in result.events] == ["Signed Up"]
    person = store.customers.find_by_identity(Identity(kind="external", value="woocommerce:25"))
    assert person is not None and person.country == "US"
    assert Identity.phone("+14155550100") in person.identities
    p = payload("customer_created")
    p.update(last_name="Dough", date_modified_gmt="2024-02-01T00:00:00")
    assert deliver(store, "customer.updated", p, "d2").events == ()
    assert store.customers.get(person.id).last_name == "Dough"
    assert deliver(store, "customer.deleted", {"id": 25}, "d3").status == "ignored"


def test_ping_is_answered_without_a_signature(store: Store) -> None:
    result = handle_webhook("woocommerce", {}, b"webhook_id=12", secret=SECRET, store=store)
    assert result.status == "ignored" and not result.written


def test_forged_and_malformed(store: Store) -> None:
    body = json.dumps(payload("order_created")).encode()
    headers = {"X-WC-Webhook-Topic": "order.created", "X-WC-Webhook-Signature": "AAAA"}
    with pytest.raises(SignatureError):
        handle_webhook("woocommerce", headers, body, secret=SECRET, store=store)
    with pytest.raises(ValidationError, match=r"woocommerce webhook order\.created"):
        deliver(store, "order.created", body[:-10], "d1")
    with pytest.raises(ValidationError, match="X-WC-Webhook-Topic"):
        deliver(store, "coupon.created", {"id": 1}, "d1")
    p = payload("order_created")
    p["line_items"][0]["quantity"] = "two"
    with pytest.raises(ValidationError) as info:
        deliver(store, "order.created", p, "d1")
    assert info.value.field == "line_items[0].quantity"
    assert store.orders.count() == 0 and store.customers.count() == 0
