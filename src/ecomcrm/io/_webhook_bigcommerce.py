"""BigCommerce: the webhook callback (ids only) and the REST JSON the app fetches for it.

A callback is ``{"scope": "store/order/created", "store_id": "1025646", "data": {"type":
"order", "id": 250}, "hash": "352e4a...", "created_at": 1561482670, "producer":
"stores/{store_hash}"}``. It carries no customer data, so :func:`bigcommerce_callback`
verifies it and says what to fetch (``result.fetch == ("order", "250")``), and
:func:`sync_bigcommerce` maps what the app fetched: the v2 order (``GET
/v2/orders/{id}`` with its ``GET /v2/orders/{id}/products``), the v3 customer and the v3
cart. The callback's ``hash`` identifies the delivery; pass ``result.delivery_id`` on to
:func:`sync_bigcommerce` so a redelivered callback is a duplicate.

BigCommerce does not sign callbacks; register the hook with a secret header (``"headers":
{"X-Webhook-Secret": "<secret>"}`` when creating it through ``/v3/hooks``) and it is
checked here in constant time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from ecomcrm.domain import Address, Channel, Event, Order, OrderLine, OrderStatus
from ecomcrm.errors import ValidationError
from ecomcrm.io._items import optional_address
from ecomcrm.io._people import Resolver
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, RowError
from ecomcrm.io._webhook_core import (
    Change,
    Reads,
    WebhookResult,
    amount,
    as_float,
    header,
    ident,
    items,
    map_payload,
    obj,
    parse_body,
    text,
    verify_shared_secret,
    version_key,
    when,
)
from ecomcrm.io._webhook_delivery import Delivery
from ecomcrm.io._webhook_map import (
    checkout_event,
    order_customer,
    order_events,
    refund_events,
    refunded_total,
    stored_order,
    subject_of,
    upsert_person,
)

_P = "bigcommerce"
_ZERO = Decimal(0)

#: Callback scopes handled, and the resource each asks the app to fetch (None: nothing to do).
BIGCOMMERCE_WEBHOOK_SCOPES: dict[str, str | None] = {
    "store/order/created": "order", "store/order/updated": "order",
    "store/order/statusUpdated": "order", "store/order/archived": "order",
    "store/order/refund/created": "order", "store/shipment/created": "order",
    "store/customer/created": "customer", "store/customer/updated": "customer",
    "store/customer/deleted": None, "store/cart/created": "cart", "store/cart/updated": "cart",
    "store/cart/abandoned": "cart", "store/cart/converted": None,
}  # fmt: skip

#: BigCommerce's order status ids (``status_id``) and what they mean here.
BIGCOMMERCE_STATUSES: dict[int, OrderStatus] = {
    1: OrderStatus.PENDING, 7: OrderStatus.PENDING, 12: OrderStatus.PENDING,  # awaiting payment
    8: OrderStatus.PAID, 9: OrderStatus.PAID, 11: OrderStatus.PAID, 3: OrderStatus.PAID,
    13: OrderStatus.PAID, 2: OrderStatus.SHIPPED, 10: OrderStatus.FULFILLED,
    4: OrderStatus.REFUNDED, 14: OrderStatus.PARTIALLY_REFUNDED, 5: OrderStatus.CANCELLED,
    6: OrderStatus.CANCELLED,
}  # fmt: skip


def bigcommerce_delivery(
    headers: Mapping[str, str] | Sequence[tuple[str, str]],
    body: bytes,
    *,
    secret: str | bytes,
    secret_header: str,
    max_bytes: int,
) -> Delivery:
    """Verify and read one callback; says what to fetch (see :func:`ecomcrm.io.handle_webhook`)."""
    verify_shared_secret(
        header(headers, secret_header), secret, platform=_P, header_name=secret_header
    )
    payload = parse_body(body, platform=_P, topic="callback", max_bytes=max_bytes)
    scope = payload.get("scope")
    if not isinstance(scope, str) or scope not in BIGCOMMERCE_WEBHOOK_SCOPES:
        raise ValidationError(
            f"is not a scope handled here ({', '.join(BIGCOMMERCE_WEBHOOK_SCOPES)})",
            entity="bigcommerce webhook", field="scope", value=scope,
        )  # fmt: skip

    def read() -> tuple[str, str]:
        data = obj(payload.get("data"), "data")
        digest = text(payload.get("hash"), "hash", required=True)
        if scope == "store/shipment/created":
            return digest, ident(data.get("orderId"), "data.orderId")
        return digest, ident(data.get("id"), "data.id")

    digest, resource_id = map_payload(read, platform=_P, topic=scope)
    delivery = f"{scope}:{digest}"
    base: dict[str, Any] = {"platform": _P, "topic": scope, "delivery_id": delivery}
    kind = BIGCOMMERCE_WEBHOOK_SCOPES[scope]
    if kind is None:
        answer = WebhookResult(status="ignored", reason="nothing to fetch for this scope", **base)
    else:
        answer = WebhookResult(status="fetch", fetch=(kind, resource_id), **base)
    return Delivery(**base, result=answer)


def bigcommerce_resource(
    kind: str,
    resource: Mapping[str, Any],
    *,
    products: Sequence[Mapping[str, Any]] | None,
    delivery_id: str | None,
    topic: str,
    id_prefix: str = "bc-",
) -> Delivery:
    """A fetched order, customer or cart to map (see :func:`ecomcrm.io.sync_resource`)."""

    def build(reads: Reads, resolver: Resolver, report: ImportReport) -> Change | None:
        if not isinstance(resource, Mapping):
            raise RowError(kind, "must be the JSON object the REST API returned", resource)
        inner = resource.get("data")
        data = inner if isinstance(inner, Mapping) else resource  # v3 wraps it in "data"
        if kind == "order":
            return _order_change(reads, resolver, report, data, products, id_prefix)
        if kind == "customer":
            return _customer_change(resolver, data, topic)
        if kind == "cart":
            return _cart_change(resolver, report, data)
        raise RowError("kind", "must be order, customer or cart", kind)

    return Delivery(platform=_P, topic=topic, delivery_id=delivery_id, build=build)


def _address(a: Mapping[str, Any], field: str) -> Address | None:
    country = text(a.get("country_iso2") or a.get("country_code"), f"{field}.country_iso2")
    return optional_address(
        f"{field}.street_1",
        line1=text(a.get("street_1") or a.get("address1"), f"{field}.street_1"),
        line2=text(a.get("street_2") or a.get("address2"), f"{field}.street_2"),
        city=text(a.get("city"), f"{field}.city"),
        region=text(a.get("state") or a.get("state_or_province"), f"{field}.state"),
        postal_code=text(a.get("zip") or a.get("postal_code"), f"{field}.zip"),
        country=country.upper() if len(country) == 2 and country.isalpha() else None,
    )


def _order_change(
    reads: Reads,
    resolver: Resolver,
    report: ImportReport,
    p: Mapping[str, Any],
    products: Sequence[Mapping[str, Any]] | None,
    id_prefix: str,
) -> Change | None:
    native = ident(p.get("id"), "id")
    status_id = p.get("status_id")
    if isinstance(status_id, bool) or not isinstance(status_id, int):
        raise RowError("status_id", "must be a whole number", status_id)
    if status_id == 0:
        return Change(item=Item(0), status="ignored", reason="an incomplete order (status_id 0)")
    status = BIGCOMMERCE_STATUSES.get(status_id)
    if status is None:
        raise RowError("status_id", f"is not a known order status ({sorted(BIGCOMMERCE_STATUSES)})",
                       status_id)  # fmt: skip
    billing = obj(p.get("billing_address"), "billing_address", required=False)
    who = subject_of(
        _P, resolver, p, email=text(billing.get("email"), "billing_address.email"),
        phone=text(billing.get("phone"), "billing_address.phone"),
        customer_id=text(p.get("customer_id"), "customer_id"),
        email_field="billing_address.email", times=("date_created", "date_modified"),
        nobody="is empty and there is no phone or customer_id",
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, placed_at, updated_at = who.identities, who.created, who.updated
    if products is None:
        raise RowError("products", "are needed: pass GET /v2/orders/{id}/products as products=",
                       None)  # fmt: skip
    lines: list[OrderLine] = []
    for k, raw in enumerate(products):
        field = f"products[{k}]"
        line = obj(raw, field)
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise RowError(f"{field}.quantity", "must be a whole number", quantity)
        if quantity <= 0:
            continue
        name = text(line.get("name"), f"{field}.name")
        sku = text(line.get("sku"), f"{field}.sku") or name
        try:
            lines.append(
                OrderLine(
                    sku=sku or f"bc-{text(line.get('product_id'), f'{field}.product_id')}",
                    title=name,
                    quantity=quantity,
                    unit_price=amount(line.get("price_ex_tax"), f"{field}.price_ex_tax"),
                )
            )
        except ValidationError as exc:
            raise RowError.from_validation(exc, field) from None
    if not lines:
        raise RowError("products", "hold no line with a quantity", None)
    shipping = sum(
        (amount(p.get(k), k, default=_ZERO)
         for k in ("shipping_cost_ex_tax", "handling_cost_ex_tax", "wrapping_cost_ex_tax")),
        _ZERO,
    )  # fmt: skip
    discount = amount(p.get("discount_amount"), "discount_amount", default=_ZERO) + amount(
        p.get("coupon_discount"), "coupon_discount", default=_ZERO
    )
    shipped_at = when(p.get("date_shipped"), "date_shipped", required=False)
    item = Item(0)
    customer_id = order_customer(
        item, resolver, report, identities, placed_at,
        first_name=text(billing.get("first_name"), "billing_address.first_name"),
        last_name=text(billing.get("last_name"), "billing_address.last_name"),
    )  # fmt: skip
    order_id = id_prefix + native
    line_sum = sum((line.total for line in lines), _ZERO)
    try:
        order = Order(
            id=order_id, customer_id=customer_id, placed_at=placed_at,
            currency=text(p.get("currency_code"), "currency_code", required=True), lines=lines,
            subtotal=line_sum, discount=discount, shipping=shipping,
            tax=amount(p.get("total_tax"), "total_tax", default=_ZERO),
            total=amount(p.get("total_inc_tax"), "total_inc_tax"), status=status,
            sales_channel=_P, shipping_address=_address(billing, "billing_address"),
            cancelled_at=max(updated_at, placed_at) if status is OrderStatus.CANCELLED else None,
            shipped_at=max(shipped_at, placed_at) if shipped_at else None,
        )  # fmt: skip
    except ValidationError as exc:
        column = {"total": "total_inc_tax", "currency": "currency_code",
                  "discount": "discount_amount"}.get(exc.field or "")  # fmt: skip
        raise RowError.from_validation(exc, column) from None
    item.order = order
    refunded = amount(p.get("refunded_amount"), "refunded_amount", default=_ZERO)
    item.refunds.extend(refunded_total(reads, order, refunded, "refunded_amount", updated_at))
    previous = stored_order(reads, order_id)
    events = order_events(order, previous, _P, at=updated_at)
    events += refund_events(item, reads, order, _P)
    key = version_key(_P, "order", native)
    return Change(
        item=item, events=events, version=(key, customer_id, updated_at), object_id=order_id
    )


def _customer_change(resolver: Resolver, p: Mapping[str, Any], topic: str) -> Change | None:
    native = ident(p.get("id"), "id")
    who = subject_of(
        _P, resolver, p, email=text(p.get("email"), "email"),
        phone=text(p.get("phone"), "phone"), customer_id=native, email_field="email",
        times=("date_created", "date_modified"),
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, created, updated = who.identities, who.created, who.updated
    addresses = []
    for k, raw in enumerate(items(p.get("addresses"), "addresses")):
        found = _address(obj(raw, f"addresses[{k}]"), f"addresses[{k}]")
        if found is not None:
            addresses.append(found)
    item = Item(0)
    no_consent: tuple[tuple[Channel, bool | None, str], ...] = ()
    customer = upsert_person(
        item, resolver, identities, created, no_consent,
        first_name=text(p.get("first_name"), "first_name"),
        last_name=text(p.get("last_name"), "last_name"),
        addresses=tuple(addresses[:1]),
    )  # fmt: skip
    key = version_key(_P, "customer", native)
    events = [
        Event(
            id=f"{_P}:signed-up:{native}",
            name="Signed Up",
            at=created,
            customer_id=customer.id,
            source=f"{_P} webhook",
            properties={"platform": _P},
        )
        for _ in range(topic == "store/customer/created")
    ]
    return Change(item=item, events=events, version=(key, customer.id, updated))


def _cart_change(resolver: Resolver, report: ImportReport, p: Mapping[str, Any]) -> Change | None:
    cart_id = ident(p.get("id"), "id")
    who = subject_of(  # a guest cart without an email is ignored: nobody to remind
        _P, resolver, p, email=text(p.get("email"), "email"), phone="",
        customer_id=text(p.get("customer_id"), "customer_id"), email_field="email",
        times=("created_time", "updated_time"),
    )  # fmt: skip
    if isinstance(who, Change):
        return who
    identities, created, updated = who.identities, who.created, who.updated
    currency = obj(p.get("currency"), "currency")
    groups = obj(p.get("line_items"), "line_items", required=False)
    lines = []
    for group in ("physical_items", "digital_items", "custom_items"):
        for k, raw in enumerate(items(groups.get(group), f"line_items.{group}")):
            field = f"line_items.{group}[{k}]"
            line = obj(raw, field)
            quantity = line.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
                raise RowError(f"{field}.quantity", "must be a whole number", quantity)
            price = amount(line.get("sale_price"), f"{field}.sale_price")
            lines.append({
                "sku": text(line.get("sku"), f"{field}.sku"),
                "name": text(line.get("name"), f"{field}.name"),
                "product_id": text(line.get("product_id"), f"{field}.product_id"),
                "price": as_float(price), "quantity": quantity,
            })  # fmt: skip
    urls = obj(p.get("redirect_urls"), "redirect_urls", required=False)
    item = Item(0)
    customer_id = order_customer(item, resolver, report, identities, created)
    try:
        event = checkout_event(
            _P, checkout_id=cart_id, customer_id=customer_id, at=created,
            currency=text(currency.get("code"), "currency.code", required=True),
            value=amount(p.get("cart_amount"), "cart_amount"), lines=lines,
            url=text(urls.get("cart_url"), "redirect_urls.cart_url"),
        )  # fmt: skip
    except ValidationError as exc:
        raise RowError.from_validation(exc) from None
    key = version_key(_P, "cart", cart_id)
    return Change(item=item, events=[event], version=(key, customer_id, updated))
