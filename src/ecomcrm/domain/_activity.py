"""What customers do and what happens around them: events, tickets, loyalty points, messages."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

import ecomcrm.domain._validation as v
from ecomcrm.domain._enums import (
    Channel,
    Direction,
    LoyaltyKind,
    MessageOutcome,
    Purpose,
    TicketStatus,
    to_channel,
    to_direction,
    to_loyalty_kind,
    to_message_outcome,
    to_purpose,
    to_ticket_status,
)
from ecomcrm.errors import ValidationError

ECOMMERCE_EVENTS: tuple[str, ...] = (
    "Products Searched",
    "Product List Viewed",
    "Product List Filtered",
    "Promotion Viewed",
    "Promotion Clicked",
    "Product Clicked",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Updated",
    "Order Completed",
    "Order Refunded",
    "Order Cancelled",
    "Coupon Entered",
    "Coupon Applied",
    "Coupon Denied",
    "Coupon Removed",
    "Product Added to Wishlist",
    "Product Removed from Wishlist",
    "Wishlist Product Added to Cart",
    "Product Shared",
    "Cart Shared",
    "Product Reviewed",
)
"""Event names of the Segment e-commerce spec v2; any other non-empty name is a custom event."""


def _event_id(event: Any) -> str:
    payload = json.dumps(
        [
            event.name,
            event.customer_id,
            event.anonymous_id,
            event.at.isoformat(),
            dict(event.properties),
        ],
        sort_keys=True,
        default=str,
    )
    return "evt_" + hashlib.blake2b(payload.encode(), digest_size=12).hexdigest()


def _empty_mapping() -> Mapping[str, Any]:
    return MappingProxyType({})


@attrs.frozen(kw_only=True)
class Event:
    """Something a person did, named as in the Segment e-commerce spec or a custom name.

    An event belongs to a known ``customer_id`` or to an ``anonymous_id`` that a later
    identify call ties to a customer. ``id`` defaults to a hash of the content, so
    importing the same event twice stores it once.

    Example:
        >>> from datetime import datetime, timezone
        >>> e = Event(name="Product Viewed", anonymous_id="anon-7",
        ...           at=datetime(2024, 5, 1, 9, tzinfo=timezone.utc), properties={"sku": "TEE-1"})
        >>> e.is_standard, e.id.startswith("evt_")
        (True, True)
    """

    name: str = attrs.field(validator=v.non_empty_text, converter=v.strip_text)
    at: datetime = attrs.field(converter=v.to_utc, validator=v.aware_datetime)
    customer_id: str | None = attrs.field(default=None, validator=v.optional(v.non_empty_text))
    anonymous_id: str | None = attrs.field(default=None, validator=v.optional(v.non_empty_text))
    properties: Mapping[str, Any] = attrs.field(
        factory=_empty_mapping, converter=v.freeze_mapping, validator=v.json_mapping
    )
    source: str | None = attrs.field(default=None, validator=v.optional(v.text))
    id: str = attrs.field(
        default=attrs.Factory(_event_id, takes_self=True), validator=v.non_empty_text
    )

    def __attrs_post_init__(self) -> None:
        if self.customer_id is None and self.anonymous_id is None:
            raise ValidationError(
                "needs a customer_id or an anonymous_id",
                entity="Event",
                field="customer_id",
                value=None,
            )

    @property
    def is_standard(self) -> bool:
        """True when the name is one of the Segment e-commerce spec's events."""
        return self.name in ECOMMERCE_EVENTS


_set = object.__setattr__


def _trusted_event(
    *,
    name: str,
    at: datetime,
    customer_id: str | None,
    anonymous_id: str | None,
    properties: dict[str, Any],
    source: str | None,
    id: str,
) -> Event:
    """An :class:`Event` built without running its converters and validators.

    Only for callers that build every part from values already known valid, so that the
    result equals ``Event(...)`` with the same arguments: ``name`` a stripped non-empty
    string, ``at`` an aware datetime whose ``tzinfo`` is ``datetime.UTC``, exactly the
    ids given as non-empty strings with at least one of them, ``properties`` a new dict
    (kept, read-only) of string keys and str, int, bool, None or finite float values,
    ``source`` a string or None and ``id`` a non-empty string. The synthetic shop builds
    its million of events this way; its tests compare them with validated ones.
    """
    event: Event = object.__new__(Event)
    _set(event, "name", name)
    _set(event, "at", at)
    _set(event, "customer_id", customer_id)
    _set(event, "anonymous_id", anonymous_id)
    _set(event, "properties", MappingProxyType(properties))
    _set(event, "source", source)
    _set(event, "id", id)
    return event


def _score(low: int, high: int) -> v.Validator:
    return v.optional(
        v.check(
            lambda s: isinstance(s, int) and not isinstance(s, bool) and low <= s <= high,
            f"must be an integer from {low} to {high}",
        )
    )


@attrs.frozen(kw_only=True)
class SupportTicket:
    """A support conversation, with its timing and the customer's satisfaction (CSAT 1-5).

    Example:
        >>> from datetime import datetime, timezone
        >>> t = SupportTicket(id="t1", customer_id="c1", channel="email", subject="Where is my order?",
        ...                   opened_at=datetime(2024, 5, 1, tzinfo=timezone.utc), tags={"shipping"})
        >>> t.status, t.is_open
        (<TicketStatus.OPEN: 'open'>, True)
    """

    id: str = attrs.field(validator=v.non_empty_text)
    customer_id: str = attrs.field(validator=v.non_empty_text)
    channel: Channel = attrs.field(converter=to_channel, validator=v.type_is(Channel))
    subject: str = attrs.field(default="", validator=v.text)
    tags: frozenset[str] = attrs.field(factory=frozenset, converter=v.to_tags, validator=v.tags)
    status: TicketStatus = attrs.field(
        default=TicketStatus.OPEN,
        converter=to_ticket_status,
        validator=v.type_is(TicketStatus),
    )
    opened_at: datetime = attrs.field(converter=v.to_utc, validator=v.aware_datetime)
    first_response_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc, validator=v.optional(v.aware_datetime)
    )
    closed_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc, validator=v.optional(v.aware_datetime)
    )
    satisfaction: int | None = attrs.field(default=None, validator=_score(1, 5))
    order_id: str | None = attrs.field(default=None, validator=v.optional(v.non_empty_text))

    def __attrs_post_init__(self) -> None:
        for name in ("first_response_at", "closed_at"):
            when = getattr(self, name)
            if when is not None and when < self.opened_at:
                raise ValidationError(
                    "is before opened_at", entity="SupportTicket", field=name, value=when
                )

    @property
    def is_open(self) -> bool:
        """True while the ticket is open or pending."""
        return self.status in (TicketStatus.OPEN, TicketStatus.PENDING)


_SIGN_RULES: dict[LoyaltyKind, tuple[Callable[[int], bool], str]] = {
    LoyaltyKind.EARN: (lambda p: p > 0, "must be positive for an earn entry"),
    LoyaltyKind.REDEEM: (lambda p: p < 0, "must be negative for a redeem entry"),
    LoyaltyKind.EXPIRE: (lambda p: p < 0, "must be negative for an expire entry"),
    LoyaltyKind.ADJUST: (lambda p: p != 0, "must not be zero"),
}


@attrs.frozen(kw_only=True)
class LoyaltyEntry:
    """One append-only line of the loyalty points ledger (signed points).

    ``id`` is the idempotency key (``"order:1001:earn"``): appending an entry whose id is
    already in the ledger changes nothing. Earned points are positive; redeemed and
    expired points negative.

    Example:
        >>> from datetime import datetime, timezone
        >>> LoyaltyEntry(id="order:1001:earn", customer_id="c1", kind="earn", points=120,
        ...              at=datetime(2024, 5, 1, tzinfo=timezone.utc)).points
        120
    """

    id: str = attrs.field(validator=v.non_empty_text)
    customer_id: str = attrs.field(validator=v.non_empty_text)
    kind: LoyaltyKind = attrs.field(converter=to_loyalty_kind, validator=v.type_is(LoyaltyKind))
    points: int = attrs.field(validator=v.type_is(int))
    at: datetime = attrs.field(converter=v.to_utc, validator=v.aware_datetime)
    expires_at: datetime | None = attrs.field(
        default=None, converter=v.to_utc, validator=v.optional(v.aware_datetime)
    )
    source: str | None = attrs.field(default=None, validator=v.optional(v.text))
    description: str = attrs.field(default="", validator=v.text)

    def __attrs_post_init__(self) -> None:
        rule, message = _SIGN_RULES[self.kind]
        if not rule(self.points):
            raise ValidationError(message, entity="LoyaltyEntry", field="points", value=self.points)


@attrs.frozen(kw_only=True)
class Message:
    """A message sent to or received from a customer, with what became of it.

    Example:
        >>> from datetime import datetime, timezone
        >>> m = Message(id="m1", customer_id="c1", channel="sms", template="cart_reminder_1",
        ...             at=datetime(2024, 5, 1, tzinfo=timezone.utc), outcome="delivered")
        >>> m.purpose, m.direction
        (<Purpose.MARKETING: 'marketing'>, <Direction.OUTBOUND: 'outbound'>)
    """

    id: str = attrs.field(validator=v.non_empty_text)
    customer_id: str = attrs.field(validator=v.non_empty_text)
    channel: Channel = attrs.field(converter=to_channel, validator=v.type_is(Channel))
    at: datetime = attrs.field(converter=v.to_utc, validator=v.aware_datetime)
    template: str = attrs.field(default="", validator=v.text)
    direction: Direction = attrs.field(
        default=Direction.OUTBOUND, converter=to_direction, validator=v.type_is(Direction)
    )
    purpose: Purpose = attrs.field(
        default=Purpose.MARKETING, converter=to_purpose, validator=v.type_is(Purpose)
    )
    outcome: MessageOutcome = attrs.field(
        default=MessageOutcome.SENT,
        converter=to_message_outcome,
        validator=v.type_is(MessageOutcome),
    )
    flow_id: str | None = attrs.field(default=None, validator=v.optional(v.text))
    action_id: str | None = attrs.field(default=None, validator=v.optional(v.text))
    params: Mapping[str, Any] = attrs.field(
        factory=_empty_mapping, converter=v.freeze_mapping, validator=v.json_mapping
    )
