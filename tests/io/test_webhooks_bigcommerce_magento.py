"""BigCommerce callbacks with the REST JSON the app fetches, and Adobe Commerce (Magento 2) webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ecomcrm.domain import Identity, OrderStatus
from ecomcrm.errors import SignatureError, ValidationError
from ecomcrm.io import WebhookResult, handle_webhook, sync_resource
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parent.parent / "data" / "webhooks"
SECRET = "shared-secret-42"


def load(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text())


def callback(store: Store, data: dict[str, Any], secret: str = SECRET) -> WebhookResult:
    body = json.dumps(data).encode()
    headers = {"Content-Type": "application/json", "X-Webhook-Secret": secret}
    return handle_webhook("bigcommerce", headers, body, secret=SECRET, store=store)


def magento(store: Store, data: dict[str, Any] | bytes, secret: str = SECRET) -> WebhookResult:
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    headers = {"Content-Type": "application/json", "x-webhook-secret": secret}
    return handle_webhook("magento", headers, body, secret=SECRET, store=store)


# --- BigCommerce --------------------------------------------------------------------------------


def test_callback_says_what_to_fetch_and_the_fetched_order_is_stored(store: Store) -> None:
    result = callback(store, load("bigcommerce_callback_order_created"))
    assert result.status == "fetch" and result.fetch == ("order", "250") and not result.written
    synced = sync_resource(
        "bigcommerce", "order", load("bigcommerce_order"), store=store,
        products=load("bigcommerce_order_products"), delivery_id=result.delivery_id,
        topic=result.topic,
    )  # fmt: skip
    assert synced.status == "written" and synced.orders == ("bc-250",)
    order = store.orders.get("bc-250")
    assert (order.total, order.discount, order.tax) == (
        Decimal("233.81"), Decimal("20"), Decimal("18.81"),
    )  # fmt: skip
    assert order.status is OrderStatus.PAID
    assert [line.sku for line in order.lines] == ["SLCTBS", "ABS"]
    assert order.placed_at == datetime(2024, 3, 5, 15, 15, 30, tzinfo=UTC)
    person = store.customers.get(order.customer_id)
    assert Identity(kind="external", value="bigcommerce:11") in person.identities
    assert [e.name for e in synced.events] == ["Order Completed"]
    # the same callback again: a duplicate, nothing to fetch
    assert callback(store, load("bigcommerce_callback_order_created")).status == "duplicate"


def test_status_changes_refunds_and_stale_orders(store: Store) -> None:
    products = load("bigcommerce_order_products")
    order = load("bigcommerce_order")
    sync_resource("bigcommerce", "order", order, store=store, products=products)
    order.update(status_id=2, date_shipped="Wed, 06 Mar 2024 10:00:00 +0000",
                 date_modified="Wed, 06 Mar 2024 10:00:00 +0000")  # fmt: skip
    shipped = sync_resource("bigcommerce", "order", order, store=store, products=products)
    assert [e.name for e in shipped.events] == ["Order Shipped"]
    order.update(status_id=14, refunded_amount="50.0000",
                 date_modified="Thu, 07 Mar 2024 10:00:00 +0000")  # fmt: skip
    first = sync_resource("bigcommerce", "order", order, store=store, products=products)
    order.update(refunded_amount="80.0000", date_modified="Fri, 08 Mar 2024 10:00:00 +0000")
    second = sync_resource("bigcommerce", "order", order, store=store, products=products)
    assert [e.name for e in first.events + second.events] == ["Order Refunded"] * 2
    amounts = sorted(r.amount for r in store.orders.refunds_for_order("bc-250"))
    assert amounts == [Decimal("30.0000"), Decimal("50.0000")]
    order.update(status_id=11, date_modified="Tue, 05 Mar 2024 16:00:00 +0000")
    assert (
        sync_resource("bigcommerce", "order", order, store=store, products=products).status
        == "stale"
    )
    assert store.orders.get("bc-250").status is OrderStatus.PARTIALLY_REFUNDED


def test_cart_starts_a_checkout_and_customer_signs_up(store: Store) -> None:
    cart = sync_resource("bigcommerce", "cart", load("bigcommerce_cart"), store=store)
    [event] = cart.events
    assert event.name == "Checkout Started" and event.properties["currency"] == "EUR"
    assert event.properties["cart_url"].startswith("https://store.example.com/cart.php")
    customer = sync_resource(
        "bigcommerce", "customer", load("bigcommerce_customer"), store=store,
        topic="store/customer/created",
    )  # fmt: skip
    assert [e.name for e in customer.events] == ["Signed Up"]
    person = store.customers.find_by_identity(Identity.email("janedoe@example.com"))
    assert person is not None and Identity.phone("+15125550188") in person.identities


def test_bigcommerce_refusals(store: Store) -> None:
    with pytest.raises(SignatureError):
        callback(store, load("bigcommerce_callback_order_created"), secret="guess")
    bad = load("bigcommerce_callback_order_created")
    bad["scope"] = "store/product/created"
    with pytest.raises(ValidationError, match="scope"):
        callback(store, bad)
    with pytest.raises(ValidationError) as info:
        sync_resource("bigcommerce", "order", load("bigcommerce_order"), store=store)
    assert info.value.field == "products"
    order = load("bigcommerce_order")
    order["total_inc_tax"] = "1.00"
    with pytest.raises(ValidationError) as info:
        sync_resource("bigcommerce", "order", order, store=store,
                      products=load("bigcommerce_order_products"))  # fmt: skip
    assert info.value.field == "total_inc_tax"
    assert store.orders.count() == 0 and store.customers.count() == 0


# --- Magento 2 / Adobe Commerce -----------------------------------------------------------------


def test_observer_webhook_order_and_a_replay(store: Store) -> None:
    body = {
        "subject": [],
        "eventName": "sales_order_save_after",
        "data": {"order": load("magento_order")},
    }
    result = magento(store, body)
    assert result.status == "written" and result.orders == ("mg-000000001",)
    order = store.orders.get("mg-000000001")
    assert (order.currency, order.total, order.discount) == ("GBP", Decimal("84.2"), Decimal("5"))
    assert [(line.sku, line.quantity) for line in order.lines] == [
        ("WS03-XS-Red", 1),
        ("24-WG085", 2),
    ]
    assert order.discount_codes == ("H20",) and order.shipping_address is not None
    assert order.placed_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert [e.name for e in result.events] == ["Order Completed"]
    assert magento(store, body).status == "duplicate"


def test_rest_order_fetched_by_the_app_with_float_amounts(store: Store) -> None:
    result = sync_resource("magento", "order", load("magento_order"), store=store)
    assert store.orders.get("mg-000000001").tax == Decimal("14.2") and result.written
    later = load("magento_order")
    later.update(status="closed", total_refunded=84.2, updated_at="2024-03-04 09:00:00")
    refunded = sync_resource("magento", "order", later, store=store)
    assert [e.name for e in refunded.events] == ["Order Refunded"]
    cancelled = load("magento_order")
    cancelled.update(status="canceled", updated_at="2024-03-02 09:00:00")
    assert sync_resource("magento", "order", cancelled, store=store).status == "stale"


def test_guest_phone_only_and_zero_value(store: Store) -> None:
    order = load("magento_order")
    order.update(customer_email=None, customer_is_guest=1, customer_id=None, grand_total=0,
                 tax_amount=0, shipping_amount=0, discount_amount=0)  # fmt: skip
    order["billing_address"]["email"] = None
    for line in order["items"]:
        line["price"] = 0
    sync_resource("magento", "order", order, store=store)
    person = store.customers.find_by_identity(Identity.phone("+442079460958"))
    assert person is not None and store.orders.get("mg-000000001").total == 0


def test_magento_customer_with_newsletter_consent(store: Store) -> None:
    result = magento(store, {"customer": load("magento_customer")})
    assert result.written
    person = store.customers.find_by_identity(Identity(kind="external", value="magento:1"))
    assert person is not None and person.country == "GB"
    assert store.consents.is_granted(person.id, "email", "marketing")


def test_magento_refusals(store: Store) -> None:
    body = {"eventName": "sales_order_save_after", "data": {"order": load("magento_order")}}
    with pytest.raises(SignatureError):
        magento(store, body, secret="")
    with pytest.raises(ValidationError, match="neither an order nor a customer"):
        magento(store, {"eventName": "catalog_product_save_after", "data": {"product": {}}})
    body["data"]["order"]["items"][0]["qty_ordered"] = 1.5
    with pytest.raises(ValidationError) as info:
        magento(store, body)
    assert info.value.field == "items[0].qty_ordered"
    with pytest.raises(ValidationError, match="magento webhook"):
        magento(store, json.dumps(body).encode()[:50])
    assert store.orders.count() == 0 and store.customers.count() == 0
