"""Closed vocabularies of the domain model (string enums, so they serialise as text)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

E = TypeVar("E", bound=StrEnum)


class IdentityKind(StrEnum):
    """What an identity value is: an email, a phone, an id from another system, or an anonymous id."""

    EMAIL = "email"
    PHONE = "phone"
    EXTERNAL = "external"
    ANONYMOUS = "anonymous"


class Channel(StrEnum):
    """A channel a customer can be reached on, or a ticket came in through."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    WHATSAPP = "whatsapp"
    IN_APP = "in_app"
    WEB_PUSH = "web_push"
    DIRECT_MAIL = "direct_mail"
    PHONE = "phone"
    CHAT = "chat"
    WEB = "web"


class Purpose(StrEnum):
    """Why a message is sent; transactional messages need no marketing consent."""

    MARKETING = "marketing"
    TRANSACTIONAL = "transactional"


class LawfulBasis(StrEnum):
    """The lawful basis of processing a consent decision rests on (GDPR Art. 6(1)(a)-(f))."""

    CONSENT = "consent"
    CONTRACT = "contract"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"


class OrderStatus(StrEnum):
    """Where an order is in its life."""

    PENDING = "pending"
    PAID = "paid"
    FULFILLED = "fulfilled"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


class TicketStatus(StrEnum):
    """State of a support ticket."""

    OPEN = "open"
    PENDING = "pending"
    SOLVED = "solved"
    CLOSED = "closed"


class LoyaltyKind(StrEnum):
    """Kind of a loyalty ledger entry: points earned, redeemed, expired or adjusted."""

    EARN = "earn"
    REDEEM = "redeem"
    EXPIRE = "expire"
    ADJUST = "adjust"


class Direction(StrEnum):
    """Whether a message went to the customer or came from them."""

    OUTBOUND = "outbound"
    INBOUND = "inbound"


class MessageOutcome(StrEnum):
    """What happened to a message, as the app reports it."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    REPLIED = "replied"
    BOUNCED = "bounced"
    FAILED = "failed"
    UNSUBSCRIBED = "unsubscribed"
    SKIPPED = "skipped"


def _convert(enum: type[E], value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, enum):
        try:
            return enum(value.strip().lower())
        except ValueError:
            return value
    return value


# attrs converters: a matching string becomes the member; anything else is left for the
# field's validator to reject with a message naming the class and field.


def to_identity_kind(value: Any) -> Any:
    return _convert(IdentityKind, value)


def to_channel(value: Any) -> Any:
    return _convert(Channel, value)


def to_purpose(value: Any) -> Any:
    return _convert(Purpose, value)


def to_lawful_basis(value: Any) -> Any:
    return _convert(LawfulBasis, value)


def to_order_status(value: Any) -> Any:
    return _convert(OrderStatus, value)


def to_ticket_status(value: Any) -> Any:
    return _convert(TicketStatus, value)


def to_loyalty_kind(value: Any) -> Any:
    return _convert(LoyaltyKind, value)


def to_direction(value: Any) -> Any:
    return _convert(Direction, value)


def to_message_outcome(value: Any) -> Any:
    return _convert(MessageOutcome, value)
