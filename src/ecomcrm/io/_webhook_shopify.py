"""Shopify webhooks: orders, refunds, customers, checkouts and fulfillments, as Shopify sends them.

The payloads are the REST Admin API's JSON resources (``orders/create`` carries an order
with ``id``, ``name``, ``email``, ``phone``, ``customer``, ``line_items``, ``total_price``,
``currency``, ``financial_status``, ``cancelled_at``, ``refunds``...). An order's id in the
store is its ``name`` (``#1001``), as the orders CSV export names it, so a webhook and a
later import of the export agree. The headers are ``X-Shopify-Topic``,
``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the raw body with the app's client
secret), ``X-Shopify-Webhook-Id`` and ``X-Shopify-Event-Id`` (the same for retries of one
delivery; used to drop duplicates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ecomcrm.domain import Address, Channel, Event, Order, OrderLine, OrderStatus, Refund
from ecomcrm.errors import ValidationError
from ecomcrm.io._cells import SHOPIFY_FINANCIAL_STATUSES, parse_consent, parse_order_status
from ecomcrm.io._items import optional_address, parse_tags
from ecomcrm.io._people import Resolver
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, RowError
from ecomcrm.io._shopify import handle_shopify_webhook
from ecomcrm.io._webhook_core import (
    Change,
    Reads,
    WebhookResult,
    amount,
    as_float,
    header,
    ident,
    items,
    known_id,
    map_payload,
    obj,
    parse_body,
    text,
    verify_hmac,
    version_key,
    when,
)
from ecomcrm.io._webhook_delivery import Delivery
from ecomcrm.io._webhook_map import (
    checkout_event,
    order_customer,
    order_events,
    refund_events,
    stored_order,
    subject_of,
    upsert_person,
)
from ecomcrm.storage import Store

_P = "shopify"
_ZERO = Decimal(0)

#: The topics handled, beyond the privacy ones (customers/redact, customers/data_request).
SHOPIFY_WEBHOOK_TOPICS: tuple[str, ...] = (
    "orders/create", "orders/updated", "orders/paid", "orders/cancelled", "orders/fulfilled",
    "refunds/create", "customers/create", "customers/update", "checkouts/create",
    "checkouts/update", "fulfillments/create", "fulfillments/update",
)  # fmt: skip
_PRIVACY = ("customers/redact", "customers/data_request", "shop/redact")

#: Shipment statuses of a fulfillment that mean the parcel is late or stuck.
_DELAYED = frozenset({"failure", "attempted_delivery"})


def shopify_delivery(
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
    *,
    secret: str | bytes,
    now: datetime,
    max_bytes: int,
) -> Delivery:
    """Verify and parse one Shopify webhook (see :func:`ecomcrm.io.handle_webhook`)."""
    verify_hmac(
        body, header(headers, "X-Shopify-Hmac-Sha256"), secret, platform=_P,
        header_name="X-Shopify-Hmac-Sha256",
    )  # fmt: skip
    topic = header(headers, "X-Shopify-Topic") or ""
    if topic not in SHOPIFY_WEBHOOK_TOPICS and topic not in _PRIVACY:
        raise ValidationError(
            f"is not a topic handled here ({', '.join(SHOPIFY_WEBHOOK_TOPICS + _PRIVACY)})",
            entity="shopify webhook", field="X-Shopify-Topic", value=topic,
        )  # fmt: skip
    event_id = header(headers, "X-Shopify-Event-Id")
    webhook_id = header(headers, "X-Shopify-Webhook-Id")
    delivery = f"{topic}:{event_id}" if event_id else webhook_id
    payload = parse_body(body, platform=_P, topic=topic, max_bytes=max_bytes)
    base: dict[str, Any] = {"platform": _P, "topic": topic, "delivery_id": delivery}
    if topic == "shop/redact":  # Shopify needs a 200; deleting the whole store is the app's call
        return Delivery(**base, result=WebhookResult(
            platform=_P, topic=topic, status="privacy", delivery_id=delivery,
            reason="the shop asked to delete all its data: close and delete this store",
        ))  # fmt: skip
    if topic in _PRIVACY:

        def privacy(store: Store) -> WebhookResult:
            response = map_payload(
                lambda: handle_shopify_webhook(store, topic, payload), platform=_P, topic=topic
            )
            return WebhookResult(
                platform=_P, topic=topic, status="privacy", delivery_id=delivery,
                response=response,
            )  # fmt: skip

        return Delivery(**base, alone=privacy)
    build = {
        "orders": _order_change,
        "refunds": _refund_change,
        "customers": _customer_change,
        "checkouts": _checkout_change,
        "fulfillments": _fulfillment_change,
    }[topic.split("/", 1)[0]]
    return Delivery(
        **base, build=lambda reads, resolver, report: build(
            reads, resolver, report, payload, topic, now
        ),
    )  # fmt: skip


# --- orders -------------------------------------------------------------------------------------


def _address(value: Any, field: str) -> Address | None:
    a = obj(value, field, required=False)
    country = text(a.get("country_code"), f"{field}.country_code").upper()
    return optional_address(
        f"{field}.address1",
        line1=text(a.get("address1"), f"{field}.address1"),
        line2=text(a.get("address2"), f"{field}.address2"),
        city=text(a.get("city"), f"{field}.city"),
        region=text(a.get("province_code") or a.get("province"), f"{field}.province"),
        postal_code=text(a.get("zip"), f"{field}.zip"),
        country=country if len(country) == 2 and country.isalpha() else None,
    )


def _lines(payload: Mapping[str, Any]) -> list[OrderLine]:
    lines: list[OrderLine] = []
    for k, raw in enumerate(items(payload.get("line_items"), "line_items")):
        field = f"line_items[{k}]"
        line = obj(raw, field)
        qty_value = line.get("quantity")
        if isinstance(qty_value, bool) or not isinstance(qty_value, int):
            raise RowError(f"{field}.quantity", "must be a whole number", qty_value)
        if qty_value <= 0:
            continue  # removed by an order edit: nothing was sold
        title = text(line.get("title") or line.get("name"), f"{field}.title")
        sku = text(line.get("sku"), f"{field}.sku") or title
        if not sku:
            raise RowError(f"{field}.sku", "is empty and so is title", line.get("sku"))
        try:
            lines.append(
                OrderLine(
                    sku=sku,
                    title=title,
                    quantity=qty_value,
                    unit_price=amount(line.get("price"), f"{field}.price"),
                )
            )
        except ValidationError as exc:
            raise RowError.from_validation(exc, field) from None
    if not lines:
        raise RowError("line_items", "holds no line item with a quantity", None)
    return lines


def _shipping(payload: Mapping[str, Any]) -> Decimal:
    """The shipping charged: the shipping lines after their discounts (a free-shipping code).

    ``total_shipping_price_set`` is before discounts, so it is used only without lines.
    """
    lines = items(payload.get("shipping_lines"), "shipping_lines")
    if not lines:
        shipping_set = payload.get("total_shipping_price_set")
        if shipping_set is None:
            return _ZERO
        money = obj(obj(shipping_set, "total_shipping_price_set").get("shop_money"),
                    "total_shipping_price_set.shop_money")  # fmt: skip
        return amount(money.get("amount"), "total_shipping_price_set.shop_money.amount")
    total = _ZERO
    for k, raw in enumerate(lines):
        line = obj(raw, f"shipping_lines[{k}]")
        key = "discounted_price" if line.get("discounted_price") is not None else "price"
        total += amount(line.get(key), f"shipping_lines[{k}].{key}", default=_ZERO)
    return total


def _fulfilled(payload: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """When the order's first successful fulfillment shipped, and when one was delivered."""
    shipped: datetime | None = None
    delivered: datetime | None = None
    for k, raw in enumerate(items(payload.get("fulfillments"), "fulfillments")):
        field = f"fulfillments[{k}]"
        f = obj(raw, field)
        if text(f.get("status"), f"{field}.status") != "success":
            continue
        at = when(f.get("created_at"), f"{field}.created_at")
        assert at is not None
        shipped = at if shipped is None else min(shipped, at)
        if text(f.get("shipment_status"), f"{field}.shipment_status") == "delivered":
            done = when(f.get("updated_at"), f"{field}.updated_at", required=False) or at
            delivered = done if delivered is None else min(delivered, done)
    return shipped, delivered


def _refunds(
    payload: Mapping[str, Any], order_id: str, customer_id: str, currency: str, placed: datetime
) -> list[Refund]:
    out: list[Refund] = []
    for k, raw in enumerate(items(payload.get("refunds"), "refunds")):
        out.extend(_refund(obj(raw, f"refunds[{k}]"), f"refunds[{k}]", order_id, customer_id,
                           currency, placed))  # fmt: skip
    return out


def _refund(
    r: Mapping[str, Any], field: str, order_id: str, customer_id: str, currency: str,
    placed: datetime,
) -> list[Refund]:  # fmt: skip
    refund_id = ident(r.get("id"), f"{field}.id")
    total = _ZERO
    for k, raw in enumerate(items(r.get("transactions"), f"{field}.transactions")):
        t = obj(raw, f"{field}.transactions[{k}]")
        if t.get("kind") == "refund" and t.get("status") in ("success", None):
            total += amount(t.get("amount"), f"{field}.transactions[{k}].amount")
    if total == 0:
        return []  # a restock or an adjustment without money back
    at = when(r.get("processed_at") or r.get("created_at"), f"{field}.created_at")
    assert at is not None
    note = text(r.get("note"), f"{field}.note")
    return [
        Refund(
            id=f"{order_id}:refund:{refund_id}",
            order_id=order_id,
            customer_id=customer_id,
            at=max(at, placed),
            amount=total,
            currency=currency,
            reason=note or None,
        )
    ]


def _order_change(
    reads: Reads,
    resolver: Resolver,
    report: ImportReport,
    p: Mapping[str, Any],
    topic: str,
    now: datetime,
) -> Change | None:
    native = ident(p.get("id"), "id")
    name = text(p.get("name"), "name") or f"#{text(p.get('order_number'), 'order_number')}"
    if name == "#":
        name = native
    customer = obj(p.get("customer"), "customer", required=False)
    billing = obj(p.get("billing_address"), "billing_address", required=False)
    who = subject_of(
        _P, resolver, p,
        email=text(p.get("email") or p.get("contact_email") or customer.get("email"), "email"),
        phone=text(p.get("phone") or customer.get("phone") or billing.get("phone"), "phone"),
        customer_id=text(customer.get("id"), "customer.id"), email_field="email",
        times=("created_at", "updated_at"),
        nobody="is empty and there is no phone or customer: the order has no customer",
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, placed_at, updated_at = who.identities, who.created, who.updated
    currency = text(p.get("currency"), "currency", required=True)
    lines = _lines(p)
    line_sum = sum((line.total for line in lines), _ZERO)
    subtotal = amount(p.get("subtotal_price"), "subtotal_price", default=line_sum)
    if subtotal > line_sum:
        raise RowError("subtotal_price", f"is more than the sum of line_items ({line_sum})",
                       p.get("subtotal_price"))  # fmt: skip
    taxes_included = p.get("taxes_included")
    if not isinstance(taxes_included, bool | None):
        raise RowError("taxes_included", "must be true or false", taxes_included)
    financial = text(p.get("financial_status"), "financial_status")
    status = (
        parse_order_status(financial, "financial_status", SHOPIFY_FINANCIAL_STATUSES)
        if financial
        else OrderStatus.PENDING
    )
    shipped_at, delivered_at = _fulfilled(p)
    fulfillment = text(p.get("fulfillment_status"), "fulfillment_status")
    if status is OrderStatus.PAID and fulfillment == "fulfilled":
        status = OrderStatus.FULFILLED
    cancelled_at = when(p.get("cancelled_at"), "cancelled_at", required=False)
    if cancelled_at is not None:
        status = OrderStatus.CANCELLED
    codes = []
    for k, raw in enumerate(items(p.get("discount_codes"), "discount_codes")):
        code = text(obj(raw, f"discount_codes[{k}]").get("code"), f"discount_codes[{k}].code")
        if code:
            codes.append(code)
    item = Item(0)
    customer_id = order_customer(
        item, resolver, report, identities, placed_at,
        first_name=text(customer.get("first_name") or billing.get("first_name"), "first_name"),
        last_name=text(customer.get("last_name") or billing.get("last_name"), "last_name"),
    )  # fmt: skip
    order_id = name
    try:
        order = Order(
            id=order_id, customer_id=customer_id, placed_at=placed_at, currency=currency,
            lines=lines, subtotal=line_sum, discount=line_sum - subtotal,
            shipping=_shipping(p), tax=amount(p.get("total_tax"), "total_tax", default=_ZERO),
            taxes_included=bool(taxes_included), total=amount(p.get("total_price"), "total_price"),
            status=status, sales_channel=text(p.get("source_name"), "source_name") or None,
            discount_codes=codes, shipping_address=_address(p.get("shipping_address"),
                                                            "shipping_address"),
            cancelled_at=cancelled_at, shipped_at=shipped_at, delivered_at=delivered_at,
        )  # fmt: skip
    except ValidationError as exc:
        column = {"total": "total_price", "currency": "currency", "discount": "total_discounts",
                  "subtotal": "subtotal_price"}.get(exc.field or "")  # fmt: skip
        raise RowError.from_validation(exc, column) from None
    item.order = order
    item.refunds.extend(_refunds(p, order_id, customer_id, order.currency, placed_at))
    previous = stored_order(reads, order_id)
    events = order_events(order, previous, _P, at=updated_at)
    events += refund_events(item, reads, order, _P)
    key = version_key(_P, "order", native)
    return Change(
        item=item, events=events, version=(key, customer_id, updated_at), object_id=order_id
    )


def _known_order(reads: Reads, p: Mapping[str, Any], field: str) -> Order:
    native = ident(p.get(field), field)
    order_id = known_id(reads, _P, "order", native)
    name = text(p.get("name"), "name")
    if order_id is None and name.startswith("#") and "." in name:
        order_id = name.rsplit(".", 1)[0]  # a fulfillment's name is its order's plus ".1"
    order = stored_order(reads, order_id) if order_id else None
    if order is None:
        raise RowError(field, "names an order the store does not hold yet (send orders/create "
                       "first; Shopify retries this delivery)", p.get(field))  # fmt: skip
    return order


def _refund_change(
    reads: Reads,
    resolver: Resolver,
    report: ImportReport,
    p: Mapping[str, Any],
    topic: str,
    now: datetime,
) -> Change | None:
    order = _known_order(reads, p, "order_id")
    item = Item(0)
    item.refunds.extend(_refund(p, "refund", order.id, order.customer_id, order.currency,
                                order.placed_at))  # fmt: skip
    refunded = sum((r.amount for r in reads.refunds(order.id)), _ZERO)
    if refunded + sum((r.amount for r in item.refunds), _ZERO) > order.total:
        raise RowError("transactions", f"refund more than the order's total ({order.total})",
                       str(refunded))  # fmt: skip
    return Change(item=item, events=refund_events(item, reads, order, _P))


def _fulfillment_change(
    reads: Reads,
    resolver: Resolver,
    report: ImportReport,
    p: Mapping[str, Any],
    topic: str,
    now: datetime,
) -> Change | None:
    order = _known_order(reads, p, "order_id")
    native = ident(p.get("id"), "id")
    status = text(p.get("status"), "status")
    created = when(p.get("created_at"), "created_at")
    assert created is not None
    updated = when(p.get("updated_at"), "updated_at", required=False) or created
    shipment = text(p.get("shipment_status"), "shipment_status")
    eta = when(p.get("estimated_delivery_at"), "estimated_delivery_at", required=False)
    changes: dict[str, Any] = {}
    if status == "success" and order.shipped_at is None:
        changes["shipped_at"] = max(created, order.placed_at)
    if shipment == "delivered" and order.delivered_at is None:
        changes["delivered_at"] = max(updated, order.placed_at)
    if order.status in (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.SHIPPED):
        if "delivered_at" in changes:
            changes["status"] = OrderStatus.DELIVERED
        elif "shipped_at" in changes:
            changes["status"] = OrderStatus.SHIPPED
    item = Item(0)
    new = attrs.evolve(order, **changes) if changes else order
    if changes:
        item.order = new
    events = order_events(new, order, _P, at=updated)
    late = shipment in _DELAYED or (
        eta is not None and eta < now and shipment != "delivered" and new.delivered_at is None
    )
    if late:
        props = {
            "order_id": order.id, "total": as_float(order.total), "currency": order.currency,
            "shipment_status": shipment, "tracking_number": text(p.get("tracking_number"),
                                                                 "tracking_number"),
            "estimated_delivery_at": eta.isoformat() if eta else None,
        }  # fmt: skip
        events.append(
            Event(
                id=f"{_P}:{order.id}:delayed:{native}",
                name="Shipment Delayed",
                at=max(updated, order.placed_at),
                customer_id=order.customer_id,
                properties=props,
                source=f"{_P} webhook",
            )
        )
    if not changes and not events:
        return Change(item=item, status="ignored", reason="the fulfillment changes nothing stored")
    key = version_key(_P, "fulfillment", native)
    return Change(item=item, events=events, version=(key, order.customer_id, updated))


# --- customers and checkouts --------------------------------------------------------------------


def _consent(value: Any, field: str) -> bool | None:
    if value is None:
        return None
    c = obj(value, field)
    state = text(c.get("state"), f"{field}.state")
    return parse_consent(state, f"{field}.state")


def _customer_change(
    reads: Reads,
    resolver: Resolver,
    report: ImportReport,
    p: Mapping[str, Any],
    topic: str,
    now: datetime,
) -> Change | None:
    native = ident(p.get("id"), "id")
    default_address = obj(p.get("default_address"), "default_address", required=False)
    who = subject_of(
        _P, resolver, p, email=text(p.get("email"), "email"),
        phone=text(p.get("phone") or default_address.get("phone"), "phone"),
        customer_id=native, email_field="email", times=("created_at", "updated_at"),
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, created, updated = who.identities, who.created, who.updated
    email_consent = _consent(p.get("email_marketing_consent"), "email_marketing_consent")
    if email_consent is None and isinstance(p.get("accepts_marketing"), bool):
        email_consent = p["accepts_marketing"]
    sms_consent = _consent(p.get("sms_marketing_consent"), "sms_marketing_consent")
    address = _address(default_address, "default_address")
    source = f"shopify webhook {topic}"
    country = address.country if address is not None else None
    item = Item(0)
    tags = text(p.get("tags"), "tags")
    customer = upsert_person(
        item, resolver, identities, created,
        ((Channel.EMAIL, email_consent, source), (Channel.SMS, sms_consent, source)),
        first_name=text(p.get("first_name"), "first_name"),
        last_name=text(p.get("last_name"), "last_name"), country=country,
        addresses=(address,) if address else (), tags=parse_tags(tags), changed_at=updated,
    )  # fmt: skip
    events: list[Event] = []
    if topic == "customers/create":
        events.append(
            Event(
                id=f"{_P}:signed-up:{native}",
                name="Signed Up",
                at=created,
                customer_id=customer.id,
                source=f"{_P} webhook",
                properties={"platform": _P},
            )
        )
    key = version_key(_P, "customer", native)
    return Change(item=item, events=events, version=(key, customer.id, updated))


def _checkout_change(
    reads: Reads,
    resolver: Resolver,
    report: ImportReport,
    p: Mapping[str, Any],
    topic: str,
    now: datetime,
) -> Change | None:
    token = text(p.get("token"), "token", required=True)
    if p.get("completed_at"):
        return Change(item=Item(0), status="ignored", reason="the checkout is completed")
    customer = obj(p.get("customer"), "customer", required=False)
    billing = obj(p.get("billing_address"), "billing_address", required=False)
    who = subject_of(  # a guest who has not typed an email or phone yet is ignored
        _P, resolver, p, email=text(p.get("email") or customer.get("email"), "email"),
        phone=text(p.get("phone") or customer.get("phone") or billing.get("phone"), "phone"),
        customer_id=text(customer.get("id"), "customer.id"), email_field="email",
        times=("created_at", "updated_at"),
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, created, updated = who.identities, who.created, who.updated
    currency = text(p.get("presentment_currency") or p.get("currency"), "currency", required=True)
    lines = []
    for k, raw in enumerate(items(p.get("line_items"), "line_items")):
        line = obj(raw, f"line_items[{k}]")
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise RowError(f"line_items[{k}].quantity", "must be a whole number", quantity)
        price = amount(line.get("price"), f"line_items[{k}].price")
        lines.append({
            "sku": text(line.get("sku"), f"line_items[{k}].sku"),
            "name": text(line.get("title"), f"line_items[{k}].title"),
            "product_id": text(line.get("product_id"), f"line_items[{k}].product_id"),
            "price": as_float(price), "quantity": quantity,
        })  # fmt: skip
    total = amount(p.get("total_price"), "total_price")
    item = Item(0)
    customer_id = order_customer(
        item, resolver, report, identities, created,
        first_name=text(customer.get("first_name"), "customer.first_name"),
        last_name=text(customer.get("last_name"), "customer.last_name"),
    )  # fmt: skip
    try:
        event = checkout_event(
            _P, checkout_id=token, customer_id=customer_id, at=created, currency=currency,
            value=total, lines=lines,
            url=text(p.get("abandoned_checkout_url"), "abandoned_checkout_url"),
        )  # fmt: skip
    except ValidationError as exc:
        raise RowError.from_validation(exc) from None
    key = version_key(_P, "checkout", token)
    return Change(item=item, events=[event], version=(key, customer_id, updated))
