"""Magento 2 / Adobe Commerce: webhook payloads and the REST ``/V1/orders`` and customer JSON.

Adobe Commerce webhooks post the object being saved: an observer webhook as
``{"eventName": "sales_order_save_after", "data": {"order": {...}}}``, a plugin webhook as
``{"order": {...}}`` (or ``{"customer": {...}}``). The order is the sales order model with
the REST API's field names (``entity_id``, ``increment_id``, ``customer_email``, ``items``
with ``sku``, ``qty_ordered``, ``price``, ``grand_total``, ``order_currency_code``,
``discount_amount`` negative...), so the same mapping reads a ``GET /V1/orders/{id}`` the
app fetched (:func:`~ecomcrm.io.sync_resource`). Order ids are ``mg-<increment_id>``.

The payloads carry no delivery id; a delivery is identified by the SHA-256 of its body,
so the same body twice is a duplicate, and ``updated_at`` orders updates. A request is
authenticated by Adobe Commerce's RSA signature (``x-adobe-commerce-webhook-signature``,
checked with the store's public key: see ``_webhook_rsa``), by a secret header the
webhook is configured to send (``X-Webhook-Secret`` by default; Adobe Commerce webhooks
take custom ``headers`` in ``webhooks.xml`` or the Admin; checked in constant time), or
both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ecomcrm.domain import Address, Channel, Order, OrderLine, OrderStatus
from ecomcrm.errors import ValidationError
from ecomcrm.io._cells import parse_order_status
from ecomcrm.io._items import optional_address
from ecomcrm.io._people import Resolver
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, RowError
from ecomcrm.io._webhook_core import (
    Change,
    Reads,
    amount,
    header,
    ident,
    items,
    obj,
    parse_body,
    text,
    verify_shared_secret,
    version_key,
)
from ecomcrm.io._webhook_delivery import Delivery
from ecomcrm.io._webhook_map import (
    order_customer,
    order_events,
    refund_events,
    refunded_total,
    stored_order,
    subject_of,
    upsert_person,
)
from ecomcrm.io._webhook_rsa import ADOBE_SIGNATURE_HEADER, verify_rsa_sha256

_P = "magento"
_ZERO = Decimal(0)

#: Magento order statuses and what they mean here.
MAGENTO_STATUSES: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING, "pending_payment": OrderStatus.PENDING,
    "payment_review": OrderStatus.PENDING, "holded": OrderStatus.PENDING,
    "fraud": OrderStatus.PENDING, "processing": OrderStatus.PAID,
    "complete": OrderStatus.FULFILLED, "closed": OrderStatus.REFUNDED,
    "canceled": OrderStatus.CANCELLED,
}  # fmt: skip


def magento_delivery(
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
    *,
    secret: str | bytes | None,
    secret_header: str,
    max_bytes: int,
    public_key: str | bytes | None = None,
    id_prefix: str = "mg-",
) -> Delivery:
    """Verify and parse one Adobe Commerce webhook (see :func:`ecomcrm.io.handle_webhook`).

    With ``public_key`` the request's RSA signature is checked; with ``secret`` the
    custom header ``secret_header``; with both, both.
    """
    if public_key is not None:
        signature = header(headers, ADOBE_SIGNATURE_HEADER)
        verify_rsa_sha256(body, signature, public_key, platform=_P)
    if secret is not None:
        verify_shared_secret(
            header(headers, secret_header), secret, platform=_P, header_name=secret_header
        )
    elif public_key is None:
        raise ValidationError(
            "is missing: pass the webhooks' public_key (Adobe Commerce signatures) or the "
            "secret of a custom header", entity="magento webhook", field="secret", value=None,
        )  # fmt: skip
    payload = parse_body(body, platform=_P, topic="webhook", max_bytes=max_bytes)
    data = payload.get("data") if isinstance(payload.get("data"), Mapping) else payload
    assert isinstance(data, Mapping)
    kind = "order" if "order" in data else "customer" if "customer" in data else None
    name = payload.get("eventName")
    topic = name if isinstance(name, str) and name.strip() else f"{kind or 'unknown'}"
    if kind is None:
        raise ValidationError(
            "holds neither an order nor a customer object", entity=f"magento webhook {topic}",
            field="data", value=sorted(data)[:5],
        )  # fmt: skip
    delivery = hashlib.sha256(body).hexdigest()
    return magento_resource(
        kind, data[kind], delivery_id=delivery, topic=topic, id_prefix=id_prefix
    )


def magento_resource(
    kind: str,
    resource: Any,
    *,
    delivery_id: str | None,
    topic: str,
    id_prefix: str = "mg-",
) -> Delivery:
    """An order or customer to map (see :func:`ecomcrm.io.sync_resource`)."""

    def build(reads: Reads, resolver: Resolver, report: ImportReport) -> Change | None:
        p = obj(resource, kind)
        if kind == "order":
            return _order_change(reads, resolver, report, p, id_prefix)
        if kind == "customer":
            return _customer_change(resolver, p)
        raise RowError("kind", "must be order or customer", kind)

    return Delivery(platform=_P, topic=topic, delivery_id=delivery_id, build=build)


def _address(a: Mapping[str, Any], field: str) -> Address | None:
    street = a.get("street")
    lines = [text(s, f"{field}.street") for s in items(street, f"{field}.street")] if isinstance(
        street, list
    ) else [text(street, f"{field}.street")]  # fmt: skip
    region = a.get("region")
    if isinstance(region, Mapping):
        region = region.get("region")
    country = text(a.get("country_id"), f"{field}.country_id").upper()
    return optional_address(
        f"{field}.street",
        line1=lines[0] if lines else "",
        line2=" ".join(lines[1:]),
        city=text(a.get("city"), f"{field}.city"),
        region=text(region, f"{field}.region"),
        postal_code=text(a.get("postcode"), f"{field}.postcode"),
        country=country if len(country) == 2 and country.isalpha() else None,
    )


def _shipping_address(p: Mapping[str, Any]) -> Address | None:
    for k, raw in enumerate(items(p.get("addresses"), "addresses")):
        a = obj(raw, f"addresses[{k}]")
        if a.get("address_type") == "shipping":
            return _address(a, f"addresses[{k}]")
    extension = obj(p.get("extension_attributes"), "extension_attributes", required=False)
    assignments = items(extension.get("shipping_assignments"), "shipping_assignments")
    if assignments:
        shipping = obj(obj(assignments[0], "shipping_assignments[0]").get("shipping"),
                       "shipping_assignments[0].shipping", required=False)  # fmt: skip
        found = obj(shipping.get("address"), "shipping.address", required=False)
        return _address(found, "shipping_assignments[0].shipping.address") if found else None
    return None


def _order_change(
    reads: Reads, resolver: Resolver, report: ImportReport, p: Mapping[str, Any], id_prefix: str
) -> Change | None:
    native = ident(p.get("entity_id"), "entity_id")
    number = text(p.get("increment_id"), "increment_id", required=True)
    billing = obj(p.get("billing_address"), "billing_address", required=False)
    customer = text(p.get("customer_id"), "customer_id")
    who = subject_of(
        _P, resolver, p,
        email=text(p.get("customer_email") or billing.get("email"), "customer_email"),
        phone=text(billing.get("telephone"), "billing_address.telephone"),
        customer_id="" if p.get("customer_is_guest") in (True, 1, "1") else customer,
        email_field="customer_email", times=("created_at", "updated_at"),
        nobody="is empty and there is no phone or customer_id",
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, placed_at, updated_at = who.identities, who.created, who.updated
    lines: list[OrderLine] = []
    for k, raw in enumerate(items(p.get("items"), "items")):
        field = f"items[{k}]"
        line = obj(raw, field)
        if line.get("parent_item_id") not in (None, "", 0):
            continue  # a configurable's child: its parent carries the price
        quantity = amount(line.get("qty_ordered"), f"{field}.qty_ordered")
        if quantity != quantity.to_integral_value():
            raise RowError(f"{field}.qty_ordered", "is not a whole number", str(quantity))
        if quantity == 0:
            continue
        name = text(line.get("name"), f"{field}.name")
        try:
            lines.append(
                OrderLine(
                    sku=text(line.get("sku"), f"{field}.sku") or name,
                    title=name,
                    quantity=int(quantity),
                    unit_price=amount(line.get("price"), f"{field}.price"),
                )
            )
        except ValidationError as exc:
            raise RowError.from_validation(exc, field) from None
    if not lines:
        raise RowError("items", "the order has no items", None)
    status_text = text(p.get("status") or p.get("state"), "status")
    status = (
        parse_order_status(status_text, "status", MAGENTO_STATUSES)
        if status_text
        else OrderStatus.PENDING
    )
    item = Item(0)
    customer_id = order_customer(
        item, resolver, report, identities, placed_at,
        first_name=text(p.get("customer_firstname") or billing.get("firstname"), "customer_firstname"),
        last_name=text(p.get("customer_lastname") or billing.get("lastname"), "customer_lastname"),
    )  # fmt: skip
    discount = _signed(p.get("discount_amount"), "discount_amount")
    code = text(p.get("coupon_code"), "coupon_code")
    order_id = id_prefix + number
    line_sum = sum((line.total for line in lines), _ZERO)
    try:
        order = Order(
            id=order_id, customer_id=customer_id, placed_at=placed_at,
            currency=text(p.get("order_currency_code"), "order_currency_code", required=True),
            lines=lines, subtotal=line_sum, discount=discount,
            shipping=amount(p.get("shipping_amount"), "shipping_amount", default=_ZERO),
            tax=amount(p.get("tax_amount"), "tax_amount", default=_ZERO),
            total=amount(p.get("grand_total"), "grand_total"), status=status, sales_channel=_P,
            discount_codes=(code,) if code else (), shipping_address=_shipping_address(p),
            cancelled_at=max(updated_at, placed_at) if status is OrderStatus.CANCELLED else None,
        )  # fmt: skip
    except ValidationError as exc:
        column = {"total": "grand_total", "currency": "order_currency_code",
                  "discount": "discount_amount"}.get(exc.field or "")  # fmt: skip
        raise RowError.from_validation(exc, column) from None
    item.order = order
    refunded = amount(p.get("total_refunded"), "total_refunded", default=_ZERO)
    item.refunds.extend(refunded_total(reads, order, refunded, "total_refunded", updated_at))
    previous = stored_order(reads, order_id)
    events = order_events(order, previous, _P, at=updated_at)
    events += refund_events(item, reads, order, _P)
    key = version_key(_P, "order", native)
    return Change(
        item=item, events=events, version=(key, customer_id, updated_at), object_id=order_id
    )


def _signed(value: Any, field: str) -> Decimal:
    """Magento's ``discount_amount``, which it states negative."""
    if isinstance(value, str):
        value = value.strip().lstrip("-")
    elif isinstance(value, int | Decimal) and not isinstance(value, bool):
        value = abs(value)
    return amount(value, field, default=_ZERO)


def _customer_change(resolver: Resolver, p: Mapping[str, Any]) -> Change | None:
    native = ident(p.get("id") or p.get("entity_id"), "id")
    addresses = [obj(a, f"addresses[{k}]") for k, a in enumerate(items(p.get("addresses"),
                                                                       "addresses"))]  # fmt: skip
    phone = text(addresses[0].get("telephone"), "addresses[0].telephone") if addresses else ""
    who = subject_of(
        _P, resolver, p, email=text(p.get("email"), "email"), phone=phone, customer_id=native,
        email_field="email", times=("created_at", "updated_at"),
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, created, updated = who.identities, who.created, who.updated
    extension = obj(p.get("extension_attributes"), "extension_attributes", required=False)
    subscribed = extension.get("is_subscribed")
    if not isinstance(subscribed, bool | None):
        raise RowError("extension_attributes.is_subscribed", "must be true or false", subscribed)
    address = _address(addresses[0], "addresses[0]") if addresses else None
    item = Item(0)
    source = "magento webhook customer"
    customer = upsert_person(
        item, resolver, identities, created, ((Channel.EMAIL, subscribed, source),),
        first_name=text(p.get("firstname"), "firstname"),
        last_name=text(p.get("lastname"), "lastname"),
        country=address.country if address else None, addresses=(address,) if address else (),
        changed_at=updated,
    )  # fmt: skip
    key = version_key(_P, "customer", native)
    return Change(item=item, version=(key, customer.id, updated))
