"""Platform-neutral steps of mapping a webhook payload: people, orders' events, checkouts.

Each platform module reads its own field names and hands the values here, so that who a
payload's person is (by platform customer id, email, or phone alone, exactly as the file
importers decide) and which engine events an order's change yields are decided once.
Event names and properties follow the Segment e-commerce spec, as the built-in flows
expect (``Order Completed``, ``Order Refunded``, ``Order Cancelled``, ``Order Shipped``,
``Order Delivered``, ``Shipment Delayed``, ``Checkout Started``, ``Signed Up``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from ecomcrm.domain import (
    Channel,
    Customer,
    Event,
    Identity,
    IdentityKind,
    Order,
    OrderStatus,
    Refund,
)
from ecomcrm.errors import ValidationError
from ecomcrm.io._cells import email_identity, phone_identity
from ecomcrm.io._items import add_customer_row, new_customer
from ecomcrm.io._people import Resolver, customer_id_for, merge_customer
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, RowError
from ecomcrm.io._webhook_core import Change, Reads, as_float, when

#: Statuses of an order that has been paid for (or is past payment).
_PAID = frozenset({
    OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.SHIPPED, OrderStatus.DELIVERED,
    OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED,
})  # fmt: skip


def identities_of(
    platform: str, *, email: str, phone: str, customer_id: str, email_field: str
) -> list[Identity]:
    """The identities a payload states: email, phone (international form only), platform id.

    Example:
        >>> [i.key for i in identities_of("shopify", email="Ada@Example.com", phone="",
        ...     customer_id="7", email_field="email")]
        ['email:ada@example.com', 'external:shopify:7']
    """
    email_id = email_identity(email, email_field)
    phone_id = phone_identity(phone) if phone else None
    external = (
        Identity(kind=IdentityKind.EXTERNAL, value=f"{platform}:{customer_id}")
        if customer_id and customer_id != "0"
        else None
    )
    return [i for i in (email_id, phone_id, external) if i is not None]


@attrs.frozen(kw_only=True)
class Subject:
    """Who a payload is about and when it says the object was created and last changed."""

    identities: list[Identity]
    created: datetime
    updated: datetime


def subject_of(
    platform: str,
    resolver: Resolver,
    payload: Mapping[str, Any],
    *,
    email: str,
    phone: str,
    customer_id: str,
    email_field: str,
    times: tuple[str, str],
    nobody: str | None = None,
) -> Subject | Change:
    """The payload's person and times, or the :class:`Change` that ends its mapping early.

    The one preamble every platform's order, customer and cart mapping shares: the
    identities the payload states (:func:`identities_of`); none at all is a refusal
    naming ``email_field`` with the reason ``nobody``, or, when ``nobody`` is None (a
    guest cart), an ``"ignored"`` change; an erased person is a ``"suppressed"`` change;
    ``times`` names the created (required) and updated (default: created) fields.

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.io._people import Resolver
        >>> resolver = Resolver(ecomcrm.open_store("memory://"), complete=False)
        >>> found = subject_of("shopify", resolver, {"created_at": "2024-03-01T10:00:00Z"},
        ...     email="ada@example.com", phone="", customer_id="", email_field="email",
        ...     times=("created_at", "updated_at"))
        >>> [i.key for i in found.identities], found.updated == found.created
        (['email:ada@example.com'], True)
    """
    identities = identities_of(
        platform, email=email, phone=phone, customer_id=customer_id, email_field=email_field
    )
    if not identities:
        if nobody is not None:
            raise RowError(email_field, nobody, email)
        return Change(
            item=Item(0), status="ignored",
            reason="the payload names nobody (no email, phone or customer id)",
        )  # fmt: skip
    if resolver.is_suppressed(identities):
        return Change(item=Item(0), status="suppressed", reason="the person was erased")
    created_field, updated_field = times
    created = when(payload.get(created_field), created_field)
    assert created is not None
    updated = when(payload.get(updated_field), updated_field, required=False) or created
    return Subject(identities=identities, created=created, updated=updated)


def order_customer(
    item: Item,
    resolver: Resolver,
    report: ImportReport,
    identities: Sequence[Identity],
    placed_at: datetime,
    **details: Any,
) -> str:
    """The id of the order's customer: found as the importers find them, else created."""
    customer_id = resolver.find_person(identities)
    if customer_id is not None:
        resolver.seen_at(item, customer_id, placed_at)
        return customer_id
    return new_customer(
        item, resolver, report, customer_id_for(identities), identities, placed_at, **details
    )


def upsert_person(
    item: Item,
    resolver: Resolver,
    identities: Sequence[Identity],
    at: datetime,
    consents: Sequence[tuple[Channel, bool | None, str]],
    *,
    changed_at: datetime | None = None,
    **details: Any,
) -> Customer:
    """A customer payload's person, new or merged into the stored one, with their consents.

    ``at`` is when the person was created; consents are dated ``changed_at`` (when the
    platform says the customer last changed), else ``at``. A phone another customer
    already holds is left off (a household's shared phone).
    """
    existing_id = resolver.find_person(identities)
    existing = resolver.get(existing_id) if existing_id else None
    # a phone shared in a household stays with whoever holds it already (as order imports do)
    identities = [
        i for i in identities
        if i.kind is not IdentityKind.PHONE or resolver.lookup([i]) in (None, existing_id)
    ]  # fmt: skip
    try:
        if existing is None:
            customer = Customer(
                id=customer_id_for(identities), created_at=at, identities=identities, **details
            )
        else:
            addresses = existing.addresses
            new_addresses = details.pop("addresses", ())
            for address in new_addresses:
                if address not in addresses:
                    addresses = (address, *addresses)
            customer = merge_customer(
                existing, identities=identities, addresses=addresses,
                created_at=min(existing.created_at, at), **details,
            )  # fmt: skip
    except ValidationError as exc:
        raise RowError.from_validation(exc) from None
    add_customer_row(item, resolver, existing, customer, changed_at or at, consents)
    return customer


def stored_order(reads: Reads, order_id: str) -> Order | None:
    """The stored version of an order, or None."""
    return reads.order(order_id)


def products(order: Order) -> list[dict[str, Any]]:
    """An order's lines as the Segment spec's ``products`` property."""
    return [
        {
            "sku": line.sku,
            "name": line.title,
            "price": as_float(line.unit_price),
            "quantity": line.quantity,
        }
        for line in order.lines
    ]


def order_properties(order: Order, platform: str) -> dict[str, Any]:
    """The Segment ``Order Completed`` properties of an order."""
    return {
        "order_id": order.id,
        "total": as_float(order.total),
        "revenue": as_float(order.subtotal - order.discount),
        "shipping": as_float(order.shipping),
        "tax": as_float(order.tax),
        "discount": as_float(order.discount),
        "coupon": ",".join(order.discount_codes),
        "currency": order.currency,
        "products": products(order),
        "platform": platform,
    }


def order_events(
    order: Order, previous: Order | None, platform: str, *, at: datetime
) -> list[Event]:
    """The engine events of an order moving from ``previous`` (None: new) to ``order``.

    ``Order Completed`` when it is first seen paid (or past payment), ``Order Cancelled``,
    ``Order Shipped`` and ``Order Delivered`` when those become true. Event ids are fixed
    per order and kind, so a repeat of the same change is one event for the engine.
    """
    events: list[Event] = []
    source = f"{platform} webhook"
    props = order_properties(order, platform)
    customer_id = order.customer_id

    def emit(name: str, kind: str, moment: datetime) -> None:
        events.append(
            Event(
                id=f"{platform}:{order.id}:{kind}",
                name=name,
                at=moment,
                customer_id=customer_id,
                properties=props,
                source=source,
            )
        )

    was_paid = previous is not None and previous.status in _PAID
    if order.status in _PAID and not was_paid and not order.is_cancelled:
        emit("Order Completed", "completed", max(order.placed_at, at))
    if order.is_cancelled and (previous is None or not previous.is_cancelled):
        emit("Order Cancelled", "cancelled", order.cancelled_at or at)
    if order.shipped_at is not None and (previous is None or previous.shipped_at is None):
        emit("Order Shipped", "shipped", order.shipped_at)
    if order.delivered_at is not None and (previous is None or previous.delivered_at is None):
        emit("Order Delivered", "delivered", order.delivered_at)
    return events


def refund_events(item: Item, reads: Reads, order: Order, platform: str) -> list[Event]:
    """An ``Order Refunded`` event for each refund of ``item`` the store does not hold yet."""
    if not item.refunds:
        return []
    known = {r.id for r in reads.refunds(order.id)}
    return [
        Event(
            id=f"{platform}:{refund.id}",
            name="Order Refunded",
            at=refund.at,
            customer_id=order.customer_id,
            source=f"{platform} webhook",
            properties={
                "order_id": order.id,
                "total": as_float(refund.amount),
                "currency": refund.currency,
                "reason": refund.reason or "",
            },
        )
        for refund in item.refunds
        if refund.id not in known
    ]


def checkout_event(
    platform: str,
    *,
    checkout_id: str,
    customer_id: str,
    at: datetime,
    currency: str,
    value: Any,
    lines: Sequence[Mapping[str, Any]],
    url: str,
) -> Event:
    """The ``Checkout Started`` event of a cart, one per checkout (its id is fixed)."""
    return Event(
        id=f"{platform}:checkout:{checkout_id}", name="Checkout Started", at=at,
        customer_id=customer_id, source=f"{platform} webhook",
        properties={
            "checkout_id": checkout_id, "value": as_float(value), "revenue": as_float(value),
            "currency": currency, "products": list(lines), "cart_url": url,
            "platform": platform,
        },
    )  # fmt: skip


def refunded_total(
    reads: Reads, order: Order, refunded: Decimal, field: str, at: datetime
) -> list[Refund]:
    """The refund a payload's refunded-so-far total implies beyond the stored refunds.

    BigCommerce (``refunded_amount``) and Magento (``total_refunded``) state only how much
    of an order was refunded in all; each increase becomes one refund of the difference,
    dated ``at``, so replays and repeats add nothing.
    """
    if refunded > order.total:
        raise RowError(field, f"is more than the order's total ({order.total})", str(refunded))
    known = sum((r.amount for r in reads.refunds(order.id)), Decimal(0))
    if refunded <= known:
        return []
    return [
        Refund(
            id=f"{order.id}:refund:{refunded}",
            order_id=order.id,
            customer_id=order.customer_id,
            at=max(at, order.placed_at),
            amount=refunded - known,
            currency=order.currency,
        )
    ]
