"""WooCommerce webhooks: the REST API v3 order and customer JSON, as WooCommerce delivers it.

Headers: ``X-WC-Webhook-Topic`` (``order.created``...), ``X-WC-Webhook-Signature`` (base64
HMAC-SHA256 of the raw body with the webhook's secret), ``X-WC-Webhook-Delivery-ID`` (used
to drop duplicates). Order ids are ``wc-<number>`` as in the CSV importer, line items are
read by the same rule (:func:`~ecomcrm.io._woocommerce.woocommerce_line`), and times are
the payload's ``*_gmt`` fields (UTC). When a webhook is saved, WooCommerce sends an
unsigned ``webhook_id=<id>`` ping; it is answered as ``"ignored"`` and writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ecomcrm.domain import Address, Channel, Event, Order, OrderStatus, Refund
from ecomcrm.errors import ValidationError
from ecomcrm.io._cells import WOOCOMMERCE_STATUSES, parse_order_status
from ecomcrm.io._items import optional_address
from ecomcrm.io._people import Resolver
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, RowError
from ecomcrm.io._webhook_core import (
    Change,
    Reads,
    WebhookResult,
    amount,
    header,
    ident,
    items,
    known_id,
    obj,
    parse_body,
    text,
    verify_hmac,
    version_key,
    when,
)
from ecomcrm.io._webhook_delivery import Delivery
from ecomcrm.io._webhook_map import (
    order_customer,
    order_events,
    refund_events,
    stored_order,
    subject_of,
    upsert_person,
)
from ecomcrm.io._woocommerce import woocommerce_line

_P = "woocommerce"
_ZERO = Decimal(0)
_PING = re.compile(rb"webhook_id=\d{1,20}")

#: The topics handled.
WOOCOMMERCE_WEBHOOK_TOPICS: tuple[str, ...] = (
    "order.created", "order.updated", "order.deleted", "order.restored",
    "customer.created", "customer.updated", "customer.deleted",
)  # fmt: skip


def woocommerce_delivery(
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
    *,
    secret: str | bytes,
    now: datetime,
    max_bytes: int,
    id_prefix: str = "wc-",
) -> Delivery:
    """Verify and parse one WooCommerce webhook (see :func:`ecomcrm.io.handle_webhook`)."""
    topic = header(headers, "X-WC-Webhook-Topic") or ""
    if not topic and isinstance(body, bytes) and _PING.fullmatch(body):
        ping = WebhookResult(platform=_P, topic="ping", status="ignored", reason="webhook ping")
        return Delivery(platform=_P, topic="ping", result=ping)
    verify_hmac(
        body,
        header(headers, "X-WC-Webhook-Signature"),
        secret,
        platform=_P,
        header_name="X-WC-Webhook-Signature",
    )
    if topic not in WOOCOMMERCE_WEBHOOK_TOPICS:
        raise ValidationError(
            f"is not a topic handled here ({', '.join(WOOCOMMERCE_WEBHOOK_TOPICS)})",
            entity="woocommerce webhook", field="X-WC-Webhook-Topic", value=topic,
        )  # fmt: skip
    delivery = header(headers, "X-WC-Webhook-Delivery-ID")
    payload = parse_body(body, platform=_P, topic=topic, max_bytes=max_bytes)

    def build(reads: Reads, resolver: Resolver, report: ImportReport) -> Change | None:
        if topic == "order.deleted":
            return _deleted_order(reads, payload, now, id_prefix)
        if topic.startswith("order."):
            return _order_change(reads, resolver, report, payload, id_prefix)
        if topic == "customer.deleted":
            return Change(
                item=Item(0), status="ignored",
                reason="a deleted account keeps its CRM profile; erase it with store.erase "
                "when the person asks",
            )  # fmt: skip
        return _customer_change(resolver, payload, topic)

    return Delivery(platform=_P, topic=topic, delivery_id=delivery, build=build)


def _address(value: Any, field: str) -> Address | None:
    a = obj(value, field, required=False)
    country = text(a.get("country"), f"{field}.country").upper()
    return optional_address(
        f"{field}.address_1",
        line1=text(a.get("address_1"), f"{field}.address_1"),
        line2=text(a.get("address_2"), f"{field}.address_2"),
        city=text(a.get("city"), f"{field}.city"),
        region=text(a.get("state"), f"{field}.state"),
        postal_code=text(a.get("postcode"), f"{field}.postcode"),
        country=country if len(country) == 2 and country.isalpha() else None,
    )


def _sum(p: Mapping[str, Any], field: str, key: str) -> Decimal:
    total = _ZERO
    for k, raw in enumerate(items(p.get(field), field)):
        total += amount(obj(raw, f"{field}[{k}]").get(key), f"{field}[{k}].{key}", default=_ZERO)
    return total


def _signed_amount(value: Any, field: str) -> Decimal:
    """A refund's total, which the REST API gives negative (``"-10.00"``)."""
    if isinstance(value, str):
        value = value.strip().lstrip("-")
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        value = abs(value)
    return amount(value, field)


def _order_change(
    reads: Reads, resolver: Resolver, report: ImportReport, p: Mapping[str, Any], id_prefix: str
) -> Change | None:
    native = ident(p.get("id"), "id")
    number = text(p.get("number"), "number") or native
    billing = obj(p.get("billing"), "billing", required=False)
    who = subject_of(
        _P, resolver, p, email=text(billing.get("email"), "billing.email"),
        phone=text(billing.get("phone"), "billing.phone"),
        customer_id=text(p.get("customer_id"), "customer_id"), email_field="billing.email",
        times=("date_created_gmt", "date_modified_gmt"),
        nobody="is empty and there is no phone or customer_id: the order has no customer",
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, placed_at, updated_at = who.identities, who.created, who.updated
    lines = []
    for k, raw in enumerate(items(p.get("line_items"), "line_items")):
        field = f"line_items[{k}]"
        line = obj(raw, field)
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise RowError(f"{field}.quantity", "must be a whole number", quantity)
        total = amount(line.get("total"), f"{field}.total")
        lines.append(
            woocommerce_line(
                field,
                sku=text(line.get("sku"), f"{field}.sku"),
                product_id=text(line.get("product_id"), f"{field}.product_id"),
                name=text(line.get("name"), f"{field}.name"),
                quantity=quantity,
                subtotal=amount(line.get("subtotal"), f"{field}.subtotal", default=total),
                total=total,
            )
        )
    if not lines:
        raise RowError("line_items", "the order has no line items", None)
    status_text = text(p.get("status"), "status")
    status = (
        parse_order_status(status_text, "status", WOOCOMMERCE_STATUSES)
        if status_text
        else OrderStatus.PENDING
    )
    completed = when(p.get("date_completed_gmt"), "date_completed_gmt", required=False)
    item = Item(0)
    customer_id = order_customer(
        item, resolver, report, identities, placed_at,
        first_name=text(billing.get("first_name"), "billing.first_name"),
        last_name=text(billing.get("last_name"), "billing.last_name"),
        country=_country(billing.get("country")),
    )  # fmt: skip
    codes = []
    for k, raw in enumerate(items(p.get("coupon_lines"), "coupon_lines")):
        code = text(obj(raw, f"coupon_lines[{k}]").get("code"), f"coupon_lines[{k}].code")
        if code:
            codes.append(code)
    order_id = id_prefix + number
    cancelled = status is OrderStatus.CANCELLED
    try:
        order = Order(
            id=order_id, customer_id=customer_id, placed_at=placed_at,
            currency=text(p.get("currency"), "currency", required=True), lines=lines,
            shipping=amount(p.get("shipping_total"), "shipping_total", default=_ZERO)
            + _sum(p, "fee_lines", "total"),
            tax=amount(p.get("total_tax"), "total_tax", default=_ZERO),
            total=amount(p.get("total"), "total"), status=status, sales_channel=_P,
            discount_codes=codes, shipping_address=_address(p.get("shipping"), "shipping"),
            cancelled_at=max(updated_at, placed_at) if cancelled else None,
            shipped_at=completed if status is OrderStatus.FULFILLED else None,
        )  # fmt: skip
    except ValidationError as exc:
        column = {"total": "total", "currency": "currency"}.get(exc.field or "")
        raise RowError.from_validation(exc, column) from None
    item.order = order
    refunded = _ZERO
    for k, raw in enumerate(items(p.get("refunds"), "refunds")):
        field = f"refunds[{k}]"
        r = obj(raw, field)
        money = _signed_amount(r.get("total"), f"{field}.total")
        refunded += money
        if refunded > order.total:
            raise RowError(
                f"{field}.total", f"refunds more than the total ({order.total})", r.get("total")
            )
        if money:
            reason = text(r.get("reason"), f"{field}.reason")
            item.refunds.append(
                Refund(
                    id=f"{order_id}:refund:{ident(r.get('id'), f'{field}.id')}",
                    order_id=order_id,
                    customer_id=customer_id,
                    at=max(updated_at, placed_at),
                    amount=money,
                    currency=order.currency,
                    reason=reason or None,
                )
            )
    previous = stored_order(reads, order_id)
    events = order_events(order, previous, _P, at=updated_at)
    events += refund_events(item, reads, order, _P)
    key = version_key(_P, "order", native)
    return Change(
        item=item, events=events, version=(key, customer_id, updated_at), object_id=order_id
    )


def _country(value: Any) -> str | None:
    country = text(value, "billing.country").upper()
    return country if len(country) == 2 and country.isalpha() else None


def _deleted_order(
    reads: Reads, p: Mapping[str, Any], now: datetime, id_prefix: str
) -> Change | None:
    native = ident(p.get("id"), "id")
    order_id = known_id(reads, _P, "order", native)
    order = stored_order(reads, order_id) if order_id else None
    if order is None:
        return Change(item=Item(0), status="ignored", reason="the store does not hold the order")
    if order.is_cancelled:
        return Change(item=Item(0), status="ignored", reason="the order is already cancelled")
    item = Item(0)
    item.order = attrs.evolve(
        order, status=OrderStatus.CANCELLED, cancelled_at=max(now, order.placed_at)
    )
    return Change(item=item, events=order_events(item.order, order, _P, at=now))


def _customer_change(resolver: Resolver, p: Mapping[str, Any], topic: str) -> Change | None:
    native = ident(p.get("id"), "id")
    billing = obj(p.get("billing"), "billing", required=False)
    who = subject_of(
        _P, resolver, p, email=text(p.get("email") or billing.get("email"), "email"),
        phone=text(billing.get("phone"), "billing.phone"), customer_id=native,
        email_field="email", times=("date_created_gmt", "date_modified_gmt"),
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, created, updated = who.identities, who.created, who.updated
    address = _address(p.get("shipping"), "shipping") or _address(billing, "billing")
    item = Item(0)
    no_consent: tuple[tuple[Channel, bool | None, str], ...] = ()
    customer = upsert_person(
        item, resolver, identities, created, no_consent,
        first_name=text(p.get("first_name") or billing.get("first_name"), "first_name"),
        last_name=text(p.get("last_name") or billing.get("last_name"), "last_name"),
        country=_country(billing.get("country")), addresses=(address,) if address else (),
    )  # fmt: skip
    events: list[Event] = []
    if topic == "customer.created":
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
