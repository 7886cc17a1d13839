"""Shopify webhooks through ``ecomcrm.io.handle_webhook``, as Shopify delivers them."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ecomcrm
from ecomcrm.domain import Consent, Identity, OrderStatus
from ecomcrm.errors import SignatureError, ValidationError
from ecomcrm.io import WebhookResult, handle_webhook, import_shopify_orders
from ecomcrm.rules import Engine, builtin_flow
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks"
SECRET = "hush-7a1b"
NOW = datetime(2024, 3, 20, tzinfo=UTC)


def payload(name: str) -> dict[str, Any]:
    return json.loads((DATA / f"shopify_{name}.json").read_text())  # type: ignore[no-any-return]


def signed(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def deliver(
    store: Store, topic: str, data: dict[str, Any] | bytes, webhook_id: str, **kw: Any
) -> WebhookResult:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": signed(body),
        "X-Shopify-Shop-Domain": "example.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-API-Version": "2024-01",
    }
    return handle_webhook("shopify", headers, body, secret=SECRET, store=store, now=NOW, **kw)


def test_orders_create_writes_order_customer_and_order_completed(store: Store) -> None:
    result = deliver(store, "orders/create", payload("orders_create"), "w1")
    assert result.status == "written" and result.written
    assert result.orders == ("#9999",)
    order = store.orders.get("#9999")
    assert order.total == Decimal("419.94") and order.currency == "USD"
    assert order.discount == Decimal("10.00") and order.shipping == Decimal("10.00")
    assert order.tax == Decimal("11.94") and order.status is OrderStatus.PAID
    assert order.discount_codes == ("SPRING10",)
    assert order.shipping_address is not None and order.shipping_address.country == "US"
    person = store.customers.find_by_identity(Identity.email("jon@example.com"))
    assert person is not None and person.id == order.customer_id
    assert store.customers.find_by_identity(
        Identity(kind="external", value="shopify:115310627314723954")
    )
    [event] = result.events
    assert event.name == "Order Completed" and event.customer_id == person.id
    assert event.properties["order_id"] == "#9999" and event.properties["total"] == 419.94
    assert event.properties["currency"] == "USD"
    assert [p["sku"] for p in event.properties["products"]] == ["IPOD2008PINK", "IPOD2008BLACK"]
    assert store.events.count() == 1


def test_replay_of_the_same_webhook_id_changes_nothing(store: Store) -> None:
    first = deliver(store, "orders/create", payload("orders_create"), "same-id")
    again = deliver(store, "orders/create", payload("orders_create"), "same-id")
    assert first.status == "written" and again.status == "duplicate"
    assert again.events == () and not again.written
    assert store.orders.count() == 1 and store.events.count() == 1


def test_same_event_id_under_two_webhook_ids_is_a_duplicate(store: Store) -> None:
    body = json.dumps(payload("orders_create")).encode()
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": signed(body),
               "X-Shopify-Event-Id": "evt-1", "X-Shopify-Webhook-Id": "a"}  # fmt: skip
    assert handle_webhook("shopify", headers, body, secret=SECRET, store=store).written
    headers["X-Shopify-Webhook-Id"] = "b"
    assert (
        handle_webhook("shopify", headers, body, secret=SECRET, store=store).status == "duplicate"
    )


@pytest.mark.parametrize(
    ("currency", "price", "total"),
    [("JPY", "1500", "3000"), ("EUR", "19.99", "39.98"), ("BHD", "1.250", "2.500")],
)
def test_currencies_keep_exact_amounts(store: Store, currency: str, price: str, total: str) -> None:
    p = payload("orders_create")
    p.update(
        currency=currency,
        subtotal_price=total,
        total_price=total,
        total_tax="0",
        total_discounts="0",
        discount_codes=[],
        total_shipping_price_set=None,
        shipping_lines=[],
    )
    for line in p["line_items"]:
        line["price"] = price
    deliver(store, "orders/create", p, f"w-{currency}")
    order = store.orders.get("#9999")
    assert (order.currency, order.total) == (currency, Decimal(total))


def test_json_numbers_are_exact_decimals_not_floats(store: Store) -> None:
    p = payload("orders_create")
    body = json.dumps(p).replace('"419.94"', "419.94").encode()
    deliver(store, "orders/create", body, "w-num")
    assert store.orders.get("#9999").total == Decimal("419.94")


def test_free_shipping_code_uses_the_discounted_shipping_line(store: Store) -> None:
    p = payload("orders_create")
    p["shipping_lines"][0]["discounted_price"] = "0.00"
    p["total_price"] = "409.94"
    p["discount_codes"].append({"code": "FREESHIP", "amount": "10.00", "type": "shipping"})
    deliver(store, "orders/create", p, "w-free")
    order = store.orders.get("#9999")
    assert (order.shipping, order.total) == (Decimal("0.00"), Decimal("409.94"))
    assert order.discount_codes == ("SPRING10", "FREESHIP")


def test_phone_only_buyer_and_zero_value_order(store: Store) -> None:
    p = payload("orders_create")
    p.update(
        email=None,
        contact_email=None,
        customer=None,
        phone="+44 7700 900123",
        subtotal_price="0.00",
        total_price="0.00",
        total_tax="0.00",
        total_discounts="0.00",
        discount_codes=[],
        total_shipping_price_set=None,
        shipping_lines=[],
    )
    for line in p["line_items"]:
        line["price"] = "0.00"
    result = deliver(store, "orders/create", p, "w-phone")
    assert result.status == "written"
    person = store.customers.find_by_identity(Identity.phone("+447700900123"))
    assert person is not None
    assert store.orders.get("#9999").total == Decimal("0.00")


def test_the_same_order_from_the_csv_export_is_the_same_order(store: Store, tmp_path: Path) -> None:
    deliver(store, "orders/create", payload("orders_create"), "w1")
    csv_path = tmp_path / "orders_export.csv"
    csv_path.write_text(
        "Name,Email,Financial Status,Currency,Subtotal,Shipping,Taxes,Total,Created at,"
        "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku\n"
        "#9999,jon@example.com,paid,USD,398.00,10.00,11.94,419.94,2024-03-05 10:15:30 -0500,"
        "1,IPod Nano - 8GB,199.00,IPOD2008PINK\n"
        "#9999,jon@example.com,,,,,,,,1,IPod Nano - 8GB,209.00,IPOD2008BLACK\n"
    )
    report = import_shopify_orders(store, csv_path)
    assert store.orders.count() == 1 and store.customers.count() == 1
    assert report.imported == 0


def test_out_of_order_updates_never_overwrite_newer_data(store: Store) -> None:
    created = payload("orders_create")
    created["financial_status"] = "pending"
    newer = copy.deepcopy(created)
    newer.update(financial_status="paid", updated_at="2024-03-05T12:00:00-05:00")
    first = deliver(store, "orders/updated", newer, "w-newer")
    assert [e.name for e in first.events] == ["Order Completed"]
    late = deliver(store, "orders/create", created, "w-older")
    assert late.status == "stale" and late.events == ()
    assert store.orders.get("#9999").status is OrderStatus.PAID


def test_paid_after_pending_emits_order_completed_once(store: Store) -> None:
    p = payload("orders_create")
    p["financial_status"] = "pending"
    assert deliver(store, "orders/create", p, "w1").events == ()
    p.update(financial_status="paid", updated_at="2024-03-05T11:00:00-05:00")
    assert [e.name for e in deliver(store, "orders/paid", p, "w2").events] == ["Order Completed"]
    p["updated_at"] = "2024-03-05T11:30:00-05:00"
    assert deliver(store, "orders/updated", p, "w3").events == ()


def test_cancelled_and_refunded_orders(store: Store) -> None:
    p = payload("orders_create")
    deliver(store, "orders/create", p, "w1")
    refund = deliver(store, "refunds/create", payload("refunds_create"), "w2")
    assert [e.name for e in refund.events] == ["Order Refunded"]
    assert refund.events[0].properties["total"] == 204.97
    [stored] = store.orders.refunds_for_order("#9999")
    assert stored.amount == Decimal("204.97") and stored.reason == "Things were damaged"
    # the order's own refunds list carries the same refund: not counted twice
    p.update(updated_at="2024-03-09T10:00:00-05:00", financial_status="partially_refunded",
             refunds=[payload("refunds_create")])  # fmt: skip
    assert deliver(store, "orders/updated", p, "w3").events == ()
    assert len(store.orders.refunds_for_order("#9999")) == 1
    p.update(updated_at="2024-03-10T10:00:00-05:00", cancelled_at="2024-03-10T10:00:00-05:00")
    cancelled = deliver(store, "orders/cancelled", p, "w4")
    assert [e.name for e in cancelled.events] == ["Order Cancelled"]
    assert store.orders.get("#9999").status is OrderStatus.CANCELLED


def test_refund_for_an_unknown_order_is_refused_and_writes_nothing(store: Store) -> None:
    with pytest.raises(ValidationError) as info:
        deliver(store, "refunds/create", payload("refunds_create"), "w1")
    assert info.value.field == "order_id" and "refunds/create" in str(info.value)
    # not recorded as handled: Shopify's retry after orders/create goes through
    deliver(store, "orders/create", payload("orders_create"), "w0")
    assert deliver(store, "refunds/create", payload("refunds_create"), "w1").written


def test_fulfillments_ship_deliver_and_delay(store: Store) -> None:
    deliver(store, "orders/create", payload("orders_create"), "w1")
    f = payload("fulfillments_create")
    shipped = deliver(store, "fulfillments/create", f, "w2")
    assert [e.name for e in shipped.events] == ["Order Shipped"]
    assert store.orders.get("#9999").status is OrderStatus.SHIPPED
    f.update(shipment_status="failure", updated_at="2024-03-07T09:00:00-05:00")
    delayed = deliver(store, "fulfillments/update", f, "w3")
    assert [e.name for e in delayed.events] == ["Shipment Delayed"]
    f.update(shipment_status="in_transit", updated_at="2024-03-08T09:00:00-05:00",
             estimated_delivery_at="2024-03-09T12:00:00-05:00", id=123457)  # fmt: skip
    overdue = deliver(store, "fulfillments/update", f, "w4")
    assert [e.name for e in overdue.events] == ["Shipment Delayed"]
    f.update(shipment_status="delivered", updated_at="2024-03-10T09:00:00-05:00")
    delivered = deliver(store, "fulfillments/update", f, "w5")
    assert [e.name for e in delivered.events] == ["Order Delivered"]
    assert store.orders.get("#9999").status is OrderStatus.DELIVERED


def test_customers_create_with_consents_and_signed_up(store: Store) -> None:
    result = deliver(store, "customers/create", payload("customers_create"), "w1")
    assert [e.name for e in result.events] == ["Signed Up"]
    person = store.customers.find_by_identity(Identity.email("bob@biller.com"))
    assert person is not None and person.first_name == "Bob" and person.country == "CA"
    assert person.tags == frozenset({"vip", "newsletter"})
    assert store.consents.is_granted(person.id, "email", "marketing")
    assert not store.consents.is_granted(person.id, "sms", "marketing")
    update = payload("customers_create")
    update.update(updated_at="2024-02-02T08:00:00-05:00", last_name="Billerton",
                  email_marketing_consent={"state": "unsubscribed"})  # fmt: skip
    updated = deliver(store, "customers/update", update, "w2")
    assert updated.events == () and updated.customers == (person.id,)
    assert store.customers.get(person.id).last_name == "Billerton"
    assert not store.consents.is_granted(person.id, "email", "marketing")


def test_checkout_started_drives_the_abandoned_cart_flow(store: Store) -> None:
    result = deliver(store, "checkouts/create", payload("checkouts_create"), "w1")
    [event] = result.events
    assert event.name == "Checkout Started" and event.properties["value"] == 398.0
    assert event.properties["cart_url"].endswith("example-secret-token")
    assert event.customer_id is not None
    store.consents.record(
        Consent(
            customer_id=event.customer_id,
            channel="email",
            purpose="marketing",
            granted=True,
            at=event.at,
            source="test",
        )
    )
    engine = Engine(store, [builtin_flow("abandoned_cart")])
    engine.handle_many(result.events)
    actions = engine.advance(event.at + timedelta(hours=2))
    assert [a.template for a in actions] == ["cart_reminder_1"]


def test_guest_checkout_without_contact_is_ignored(store: Store) -> None:
    p = payload("checkouts_create")
    p["email"] = None
    result = deliver(store, "checkouts/create", p, "w1")
    assert result.status == "ignored" and store.customers.count() == 0


def test_erased_people_stay_out(store: Store) -> None:
    deliver(store, "orders/create", payload("orders_create"), "w1")
    person = store.customers.find_by_identity(Identity.email("jon@example.com"))
    assert person is not None
    store.erase(person.id)
    again = payload("orders_create")
    again.update(name="#10000", id=2, updated_at="2024-03-06T10:00:00-05:00")
    result = deliver(store, "orders/create", again, "w2")
    assert result.status == "suppressed" and store.orders.count() == 0


def test_privacy_topics_still_work(store: Store) -> None:
    deliver(store, "customers/create", payload("customers_create"), "w1")
    body = {"shop_id": 954889, "customer": {"id": 706405506930370084, "email": "bob@biller.com"}}
    result = deliver(store, "customers/redact", body, "w2")
    assert result.status == "privacy" and result.response is not None
    assert store.customers.count() == 0
    shop = deliver(
        store, "shop/redact", {"shop_id": 954889, "shop_domain": "x.myshopify.com"}, "w3"
    )
    assert shop.status == "privacy" and "delete" in shop.reason


@pytest.mark.parametrize(
    "signature",
    ["", "not base64!", signed(b"other body"), signed(b"{}", "wrong secret")],
    ids=["missing", "garbage", "other-body", "wrong-secret"],
)
def test_wrong_signatures_are_refused_before_reading(store: Store, signature: str) -> None:
    body = json.dumps(payload("orders_create")).encode()
    headers = {"X-Shopify-Topic": "orders/create", "X-Shopify-Hmac-Sha256": signature}
    with pytest.raises(SignatureError) as info:
        handle_webhook("shopify", headers, body, secret=SECRET, store=store)
    assert info.value.field == "X-Shopify-Hmac-Sha256"
    assert store.orders.count() == 0 and store.customers.count() == 0


def test_truncated_and_malformed_bodies(store: Store) -> None:
    body = json.dumps(payload("orders_create")).encode()
    for bad in (body[: len(body) // 2], b"", b"[1, 2]", b"\xff\xfe", b"{" * 5000 + b"}" * 5000):
        with pytest.raises(ValidationError) as info:
            deliver(store, "orders/create", bad, "w")
        assert "shopify webhook orders/create" in str(info.value)
    with pytest.raises(ValidationError, match="larger than"):
        deliver(store, "orders/create", body, "w", max_bytes=100)
    assert store.orders.count() == 0 and store.state.scan("webhook:") == []


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("total_price", "abc", "total_price"),
        ("total_price", "1.00", "total_price"),
        ("line_items", "x", "line_items"),
        ("created_at", None, "created_at"),
        ("currency", "EURO", "currency"),
        ("customer", [], "customer"),
        ("financial_status", "maybe", "financial_status"),
    ],
)
def test_wrong_types_name_the_field_and_write_nothing(
    store: Store, field: str, value: Any, named: str
) -> None:
    p = payload("orders_create")
    p[field] = value
    with pytest.raises(ValidationError) as info:
        deliver(store, "orders/create", p, "w")
    assert info.value.field is not None and named in info.value.field
    assert info.value.entity == "shopify webhook orders/create"
    assert store.orders.count() == 0 and store.customers.count() == 0
    assert store.state.scan("webhook:") == []


def test_unknown_topic_and_platform() -> None:
    store = ecomcrm.open_store("memory://")
    with pytest.raises(ValidationError, match="X-Shopify-Topic"):
        deliver(store, "products/create", {"id": 1}, "w")
    with pytest.raises(ValidationError, match="platform"):
        handle_webhook("etsy", {}, b"{}", secret=SECRET, store=store)
