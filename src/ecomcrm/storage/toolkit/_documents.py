"""The export and customer 360 documents, built from any store's repository reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    Event,
    LoyaltyEntry,
    Message,
    Order,
    Purpose,
    Refund,
    SupportTicket,
    to_dict,
)
from ecomcrm.errors import ValidationError
from ecomcrm.storage._records import (
    Customer360,
)
from ecomcrm.storage.toolkit._consents import consent_key
from ecomcrm.storage.toolkit._merges import merge_record_to_dict

if TYPE_CHECKING:
    from ecomcrm.storage._protocols import Store


EXPORT_SCHEMA_VERSION = 1
"""Version of the export document layout written by :func:`build_export`."""


def build_export(store: Store, customer_id: str) -> dict[str, Any]:
    """Everything ``store`` holds about one person, as one JSON-serialisable document.

    Built from the store's own repository reads, so it is complete for any adapter that
    honours the contract. Keys: ``type`` (``"CustomerExport"``), ``schema_version``,
    ``customer_id`` (the resolved id), ``requested_id``, ``customer``, ``orders``,
    ``refunds``, ``events``, ``consents``, ``current_consents``, ``tickets``,
    ``loyalty`` (``balance`` and ``entries``), ``messages``, ``merges``; domain objects are
    :func:`~ecomcrm.domain.to_dict` dicts. NotFoundError when there is no such customer.

    Example:
        >>> import json, ecomcrm
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer
        >>> store = ecomcrm.open_store("memory://")
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
        >>> doc = build_export(store, "c1")
        >>> doc["customer"]["id"], len(json.dumps(doc)) > 0
        ('c1', True)
    """
    customer = store.customers.get(customer_id)
    cid = customer.id
    current = store.consents.current(cid)
    return {
        "type": "CustomerExport",
        "schema_version": EXPORT_SCHEMA_VERSION,
        "customer_id": cid,
        "requested_id": customer_id,
        "customer": to_dict(customer),
        "orders": [to_dict(o) for o in store.orders.for_customer(cid)],
        "refunds": [to_dict(r) for r in store.orders.refunds_for_customer(cid)],
        "events": [to_dict(e) for e in store.events.for_customer(cid)],
        "consents": [to_dict(c) for c in store.consents.history(cid)],
        "current_consents": {
            consent_key(channel, purpose): consent.granted
            for (channel, purpose), consent in sorted(current.items())
        },
        "tickets": [to_dict(t) for t in store.tickets.for_customer(cid)],
        "loyalty": {
            "balance": store.loyalty.balance(cid),
            "entries": [to_dict(e) for e in store.loyalty.entries(cid)],
        },
        "messages": [to_dict(m) for m in store.messages.for_customer(cid)],
        "merges": [merge_record_to_dict(m) for m in store.merges(cid)],
    }


LOYALTY_TIER_ATTRIBUTE = "loyalty_tier"
"""The customer attribute holding the loyalty tier (the loyalty package writes it)."""


def build_customer_360(
    store: Store, customer_id: str, *, recent_events: int = 50, messages: int = 50
) -> Customer360:
    """The support agent's view of one customer, from the store's repository reads.

    ``recent_events`` and ``messages`` bound how many of the latest events and messages
    are included (ascending by time). ``loyalty_tier`` is the customer's
    ``"loyalty_tier"`` attribute (the loyalty package writes it), ``total_spent`` maps
    each currency to the sum of non-cancelled order totals less refunds, as a decimal
    string. NotFoundError when there is no such customer.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer
        >>> store = ecomcrm.open_store("memory://")
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
        >>> view = build_customer_360(store, "c1")
        >>> view.customer.id, view.orders, view.loyalty_balance
        ('c1', (), 0)
    """
    for name, bound in (("recent_events", recent_events), ("messages", messages)):
        if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
            raise ValidationError(
                "must be a non-negative integer", entity="customer_360", field=name, value=bound
            )
    customer = store.customers.get(customer_id)
    cid = customer.id
    all_messages = store.messages.for_customer(cid) if messages else []
    return customer_360_from(
        customer=customer,
        orders=store.orders.for_customer(cid),
        refunds=store.orders.refunds_for_customer(cid),
        recent_events=store.events.for_customer(cid, limit=recent_events) if recent_events else [],
        tickets=store.tickets.for_customer(cid),
        current_consents=store.consents.current(cid),
        loyalty_balance=store.loyalty.balance(cid),
        loyalty_entries=store.loyalty.entries(cid),
        messages=all_messages[-messages:] if messages else (),
        merged_ids=[m.merged_id for m in store.merges(cid)],
    )


def customer_360_from(
    *,
    customer: Customer,
    orders: Sequence[Order],
    refunds: Sequence[Refund],
    recent_events: Sequence[Event],
    tickets: Sequence[SupportTicket],
    current_consents: Mapping[tuple[Channel, Purpose], Consent],
    loyalty_balance: int,
    loyalty_entries: Sequence[LoyaltyEntry],
    messages: Sequence[Message],
    merged_ids: Sequence[str],
) -> Customer360:
    """The customer 360 view from its parts, read already (as :func:`build_customer_360` reads them).

    For an adapter that reads the parts its own faster way (PostgresStore: one pipelined
    round trip): the totals, tier and consent order are derived here, once for all.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer
        >>> c = Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> view = customer_360_from(customer=c, orders=[], refunds=[], recent_events=[],
        ...     tickets=[], current_consents={}, loyalty_balance=0, loyalty_entries=[],
        ...     messages=[], merged_ids=[])
        >>> view.customer.id, view.total_spent
        ('c1', {})
    """
    totals: dict[str, Decimal] = {}
    for order in orders:
        if not order.is_cancelled:
            totals[order.currency] = totals.get(order.currency, Decimal(0)) + order.total
    for refund in refunds:
        totals[refund.currency] = totals.get(refund.currency, Decimal(0)) - refund.amount
    tier = customer.attributes.get(LOYALTY_TIER_ATTRIBUTE)
    return Customer360(
        customer=customer,
        orders=tuple(orders),
        refunds=tuple(refunds),
        recent_events=tuple(recent_events),
        tickets=tuple(tickets),
        consents=tuple(current_consents[k] for k in sorted(current_consents)),
        loyalty_balance=loyalty_balance,
        loyalty_tier=tier if isinstance(tier, str) else None,
        loyalty_entries=tuple(loyalty_entries),
        messages=tuple(messages),
        merged_ids=tuple(merged_ids),
        total_spent={cur: str(amount) for cur, amount in sorted(totals.items())},
    )
