"""The domain model: immutable, validated, typed value objects.

Every class is an attrs class: frozen, slotted, keyword-only. Construction validates and
normalises (emails lower-cased, phones to E.164, datetimes to UTC, money to Decimal), so an
object in hand is always valid; invalid input raises :class:`ecomcrm.errors.ValidationError`
naming the class, the field and the value. :func:`to_dict` and :func:`from_dict` convert
exactly to and from JSON-compatible dicts.

Example:
    >>> from datetime import datetime, timezone
    >>> from ecomcrm.domain import Customer, Identity, Order, OrderLine, to_dict, from_dict
    >>> t = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    >>> ada = Customer(id="c1", created_at=t, identities=[Identity.email("Ada@Example.com")])
    >>> order = Order(id="1001", customer_id="c1", placed_at=t, currency="EUR",
    ...               lines=[OrderLine(sku="TEE-1", quantity=2, unit_price="19.90")])
    >>> order.total
    Decimal('39.80')
    >>> from_dict(to_dict(order)) == order
    True
"""

from ecomcrm.domain._activity import ECOMMERCE_EVENTS, Event, LoyaltyEntry, Message, SupportTicket
from ecomcrm.domain._commerce import Order, OrderLine, Product, Refund, Return, ReturnLine
from ecomcrm.domain._currencies import MINOR_UNITS
from ecomcrm.domain._customer import (
    Address,
    Consent,
    Customer,
    Identity,
    current_decision,
    is_consent_topic,
)
from ecomcrm.domain._enums import (
    Channel,
    Direction,
    IdentityKind,
    LawfulBasis,
    LoyaltyKind,
    MessageOutcome,
    OrderStatus,
    Purpose,
    TicketStatus,
)
from ecomcrm.domain._serialize import DOMAIN_TYPES, SCHEMA_VERSION, from_dict, to_dict
from ecomcrm.domain._validation import is_time_zone, normalize_email, normalize_phone

__all__ = [
    "DOMAIN_TYPES",
    "ECOMMERCE_EVENTS",
    "MINOR_UNITS",
    "SCHEMA_VERSION",
    "Address",
    "Channel",
    "Consent",
    "Customer",
    "Direction",
    "Event",
    "Identity",
    "IdentityKind",
    "LawfulBasis",
    "LoyaltyEntry",
    "LoyaltyKind",
    "Message",
    "MessageOutcome",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Product",
    "Purpose",
    "Refund",
    "Return",
    "ReturnLine",
    "SupportTicket",
    "TicketStatus",
    "current_decision",
    "from_dict",
    "is_consent_topic",
    "is_time_zone",
    "normalize_email",
    "normalize_phone",
    "to_dict",
]
