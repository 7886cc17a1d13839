"""Row specs shared by the SQL adapters: each table's columns, domain objects to and from rows.

Dialect-neutral: nothing here touches a connection or writes SQL beyond column lists, and
both ``storage.sqlite`` and ``storage.postgres`` use these specs (their own ``_rows`` keep
only what is dialect-specific: statements, placeholders, array types, state JSON).

Each ``*_values`` function gives the column values of one object in the order of its
``*_COLUMNS`` constant (the order COPY and INSERT use); each ``*_from`` builds the object
back from a row selected in that order. Values are plain Python: text, integers, bools
(sqlite3 stores them as 0/1, psycopg as ``boolean``), JSON text in one compact encoding,
times as microseconds since the epoch (``toolkit.to_micros``), money the Decimal's text
plus a float copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Address,
    Consent,
    Customer,
    Event,
    Identity,
    LoyaltyEntry,
    Message,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
    ReturnLine,
    SupportTicket,
)
from ecomcrm.storage._records import TicketFacts

_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_ZERO = Decimal(0)
micros = sh.to_micros
from_micros = sh.from_micros


def dumps(value: Any) -> str:
    """Compact JSON text (one encoder for every call)."""
    return _ENCODE(value)


def opt_micros(when: datetime | None) -> int | None:
    """Microseconds of ``when``, or None."""
    return None if when is None else micros(when)


def opt_from_micros(value: int | None) -> datetime | None:
    """The datetime of ``value`` microseconds, or None."""
    return None if value is None else from_micros(value)


def address_dict(a: Address) -> dict[str, Any]:
    """An address as a JSON-compatible mapping."""
    return {
        "line1": a.line1,
        "line2": a.line2,
        "city": a.city,
        "region": a.region,
        "postal_code": a.postal_code,
        "country": a.country,
    }


CUSTOMER_COLUMNS = (
    "id, created_at, first_name, last_name, birthday, timezone, locale, country, "
    "acquisition_channel, addresses, tags, attributes"
)


def customer_values(c: Customer) -> tuple[Any, ...]:
    """The ``CUSTOMER_COLUMNS`` of a customer."""
    return (
        c.id,
        micros(c.created_at),
        c.first_name,
        c.last_name,
        c.birthday.isoformat() if c.birthday is not None else None,
        c.timezone,
        c.locale,
        c.country,
        c.acquisition_channel,
        dumps([address_dict(a) for a in c.addresses]) if c.addresses else None,
        dumps(sorted(c.tags)) if c.tags else None,
        dumps(dict(c.attributes)) if c.attributes else None,
    )


def customer_from(row: Sequence[Any], identities: Sequence[Identity]) -> Customer:
    """A customer from ``pk`` followed by ``CUSTOMER_COLUMNS``."""
    return Customer(
        id=row[1],
        created_at=from_micros(row[2]),
        identities=identities,
        first_name=row[3],
        last_name=row[4],
        birthday=date.fromisoformat(row[5]) if row[5] is not None else None,
        timezone=row[6],
        locale=row[7],
        country=row[8],
        acquisition_channel=row[9],
        addresses=[Address(**a) for a in json.loads(row[10])] if row[10] else (),
        tags=json.loads(row[11]) if row[11] else (),
        attributes=json.loads(row[12]) if row[12] else {},
    )


ORDER_COLUMNS = (
    "id, customer_id, placed_at, currency, subtotal, discount, shipping, tax, taxes_included, "
    "total, status, sales_channel, discount_codes, shipping_address, cancelled_at, shipped_at, "
    "delivered_at, amount, discount_amount, units, cancelled"
)


def order_values(o: Order, customer_id: str) -> tuple[Any, ...]:
    """The ``ORDER_COLUMNS`` of an order stored under ``customer_id``.

    The analytic columns (amount, discount_amount, units, cancelled) equal
    ``toolkit.order_row``'s.
    """
    line_discount = _ZERO
    units = 0
    for line in o.lines:
        if line.discount:
            line_discount += line.discount
        units += line.quantity
    discount = o.discount
    total = o.total
    return (
        o.id,
        customer_id,
        micros(o.placed_at),
        o.currency,
        str(o.subtotal),
        str(discount),
        str(o.shipping),
        str(o.tax),
        o.taxes_included,
        str(total),
        o.status._value_,
        o.sales_channel,
        dumps(list(o.discount_codes)) if o.discount_codes else None,
        dumps(address_dict(o.shipping_address)) if o.shipping_address is not None else None,
        opt_micros(o.cancelled_at),
        opt_micros(o.shipped_at),
        opt_micros(o.delivered_at),
        float(total),
        float(discount + line_discount) if line_discount else float(discount),
        units,
        o.status is OrderStatus.CANCELLED or o.cancelled_at is not None,
    )


LINE_COLUMNS = "order_id, position, sku, title, quantity, unit_price, discount, category"


def line_values(o: Order) -> Iterator[tuple[Any, ...]]:
    """The ``LINE_COLUMNS`` rows of an order's lines."""
    oid = o.id
    for pos, line in enumerate(o.lines):
        yield (
            oid,
            pos,
            line.sku,
            line.title,
            line.quantity,
            str(line.unit_price),
            str(line.discount),
            dumps(list(line.category)) if line.category else None,
        )


class PreparedOrders(list[Order]):
    """Orders with their ``orders`` and ``order_lines`` rows (an adapter's ``prepare_many``).

    Example:
        >>> len(PreparedOrders([], [], []))
        0
    """

    def __init__(
        self, orders: list[Order], rows: list[tuple[Any, ...]], line_rows: list[tuple[Any, ...]]
    ) -> None:
        super().__init__(orders)
        self.rows = rows
        self.line_rows = line_rows


def prepare_orders(orders: Iterable[Order]) -> PreparedOrders:
    """The orders with their rows computed now (``order_values``, ``line_values``).

    Nothing is written: SQL adapters call it outside any transaction, so the conversion
    does not run while a transaction holds its locks.

    Example:
        >>> prepare_orders([]).rows
        []
    """
    batch = list(orders)
    return PreparedOrders(
        batch,
        [order_values(o, o.customer_id) for o in batch],
        [v for o in batch for v in line_values(o)],
    )


def order_from(row: Sequence[Any], customer_id: str, lines: Sequence[OrderLine]) -> Order:
    """An order from a row in ``ORDER_COLUMNS`` order."""
    address = json.loads(row[13]) if row[13] else None
    return Order(
        id=row[0],
        customer_id=customer_id,
        placed_at=from_micros(row[2]),
        currency=row[3],
        lines=lines,
        subtotal=Decimal(row[4]),
        discount=Decimal(row[5]),
        shipping=Decimal(row[6]),
        tax=Decimal(row[7]),
        taxes_included=bool(row[8]),
        total=Decimal(row[9]),
        status=row[10],
        sales_channel=row[11],
        discount_codes=json.loads(row[12]) if row[12] else (),
        shipping_address=Address(**address) if address is not None else None,
        cancelled_at=opt_from_micros(row[14]),
        shipped_at=opt_from_micros(row[15]),
        delivered_at=opt_from_micros(row[16]),
    )


def line_from(row: Sequence[Any]) -> OrderLine:
    """An order line from a row in ``LINE_COLUMNS`` order."""
    return OrderLine(
        sku=row[2],
        title=row[3],
        quantity=row[4],
        unit_price=Decimal(row[5]),
        discount=Decimal(row[6]),
        category=json.loads(row[7]) if row[7] else (),
    )


REFUND_COLUMNS = (
    "id, order_id, customer_id, at, amount, amount_real, currency, reason, returned, lines, "
    "returned_units"
)


def refund_values(r: Refund, customer_id: str) -> tuple[Any, ...]:
    """The ``REFUND_COLUMNS`` of a refund stored under ``customer_id``."""
    facts = sh.refund_row(r)
    lines = [{"sku": x.sku, "quantity": x.quantity, "reason": x.reason} for x in r.lines]
    return (
        r.id,
        r.order_id,
        customer_id,
        micros(r.at),
        str(r.amount),
        facts.amount,
        r.currency,
        r.reason,
        r.returned,
        dumps(lines) if lines else None,
        facts.returned_units,
    )


def refund_from(row: Sequence[Any], customer_id: str) -> Refund:
    """A refund from a row in ``REFUND_COLUMNS`` order."""
    return Refund(
        id=row[0],
        order_id=row[1],
        customer_id=customer_id,
        at=from_micros(row[3]),
        amount=Decimal(row[4]),
        currency=row[6],
        reason=row[7],
        returned=bool(row[8]),
        lines=[ReturnLine(**x) for x in json.loads(row[9])] if row[9] else (),
    )


EVENT_COLUMNS = "id, name, at, customer_id, anonymous_id, properties, source, product"


def event_values(e: Event) -> tuple[Any, ...]:
    """The ``EVENT_COLUMNS`` of an event."""
    return (
        e.id,
        e.name,
        micros(e.at),
        e.customer_id,
        e.anonymous_id,
        dumps(dict(e.properties)) if e.properties else None,
        e.source,
        sh.event_product(e),
    )


def event_from(row: Sequence[Any], customer_id: str | None) -> Event:
    """An event from a row in ``EVENT_COLUMNS`` order."""
    return Event(
        id=row[0],
        name=row[1],
        at=from_micros(row[2]),
        customer_id=customer_id,
        anonymous_id=row[4],
        properties=json.loads(row[5]) if row[5] else {},
        source=row[6],
    )


CONSENT_COLUMNS = "customer_id, channel, purpose, granted, at, source, topic, proof"
"""The consent ledger's columns: ``topic`` is ``''`` for a purpose-wide decision and ``proof``
a JSON object of the decision's non-empty ``basis``, ``wording_version``, ``ip_address`` and
``form_id`` (NULL without any, as every row written before they existed)."""

_PROOF_FIELDS = ("basis", "wording_version", "ip_address", "form_id")


def consent_values(c: Consent, customer_id: str) -> tuple[Any, ...]:
    """The ``CONSENT_COLUMNS`` of a decision stored under ``customer_id``."""
    proof = {k: v for k, v in c.proof.items() if k != "source"}
    return (
        customer_id,
        c.channel.value,
        c.purpose.value,
        c.granted,
        micros(c.at),
        c.source,
        c.topic or "",
        dumps(proof) if proof else None,
    )


def consent_from(row: Sequence[Any], customer_id: str) -> Consent:
    """A consent decision from a row in ``CONSENT_COLUMNS`` order."""
    proof = json.loads(row[7]) if row[7] else {}
    return Consent(
        customer_id=customer_id,
        channel=row[1],
        purpose=row[2],
        granted=bool(row[3]),
        at=from_micros(row[4]),
        source=row[5],
        topic=row[6] or None,
        **{k: proof[k] for k in _PROOF_FIELDS if k in proof},
    )


TICKET_COLUMNS = (
    "id, customer_id, channel, subject, tags, status, opened_at, first_response_at, closed_at, "
    "satisfaction, order_id"
)


def ticket_values(t: SupportTicket, customer_id: str) -> tuple[Any, ...]:
    """The ``TICKET_COLUMNS`` of a ticket stored under ``customer_id``."""
    return (
        t.id,
        customer_id,
        t.channel.value,
        t.subject,
        dumps(sorted(t.tags)) if t.tags else None,
        t.status.value,
        micros(t.opened_at),
        opt_micros(t.first_response_at),
        opt_micros(t.closed_at),
        t.satisfaction,
        t.order_id,
    )


def ticket_from(row: Sequence[Any], customer_id: str) -> SupportTicket:
    """A ticket from a row in ``TICKET_COLUMNS`` order."""
    return SupportTicket(
        id=row[0],
        customer_id=customer_id,
        channel=row[2],
        subject=row[3],
        tags=json.loads(row[4]) if row[4] else (),
        status=row[5],
        opened_at=from_micros(row[6]),
        first_response_at=opt_from_micros(row[7]),
        closed_at=opt_from_micros(row[8]),
        satisfaction=row[9],
        order_id=row[10],
    )


LOYALTY_COLUMNS = "id, customer_id, kind, points, at, expires_at, source, description"


# merged-away ids count for their final survivor (``survivor_pk`` is always the final one)
TICKET_FACTS_SELECT = (
    "SELECT coalesce(s.id, c.id), k.id, k.channel, k.status, k.opened_at, "
    "k.first_response_at, k.closed_at, k.satisfaction FROM tickets k "
    "JOIN customers c ON c.id = k.customer_id LEFT JOIN customers s ON s.pk = c.survivor_pk"
)
"""Every ticket with its owner's surviving id, in the columns :func:`ticket_facts_from` takes;
an adapter appends its ``ORDER BY k.opened_at, k.id`` (code-point order)."""


def ticket_facts_from(rows: Sequence[Sequence[Any]]) -> TicketFacts:
    """``TicketFacts`` from rows selected by :data:`TICKET_FACTS_SELECT`, in their order."""
    return TicketFacts.from_columns(
        customer_id=[r[0] for r in rows],
        ticket_id=[r[1] for r in rows],
        channel=[r[2] for r in rows],
        status=[r[3] for r in rows],
        opened_at_us=[r[4] for r in rows],
        first_response_at_us=[r[5] for r in rows],
        closed_at_us=[r[6] for r in rows],
        satisfaction=[r[7] for r in rows],
    )


def loyalty_values(e: LoyaltyEntry, customer_id: str) -> tuple[Any, ...]:
    """The ``LOYALTY_COLUMNS`` of a ledger entry stored under ``customer_id``."""
    return (
        e.id,
        customer_id,
        e.kind.value,
        e.points,
        micros(e.at),
        opt_micros(e.expires_at),
        e.source,
        e.description,
    )


def loyalty_from(row: Sequence[Any], customer_id: str) -> LoyaltyEntry:
    """A ledger entry from a row in ``LOYALTY_COLUMNS`` order."""
    return LoyaltyEntry(
        id=row[0],
        customer_id=customer_id,
        kind=row[2],
        points=row[3],
        at=from_micros(row[4]),
        expires_at=opt_from_micros(row[5]),
        source=row[6],
        description=row[7],
    )


MESSAGE_COLUMNS = (
    "id, customer_id, channel, at, template, direction, purpose, outcome, flow_id, action_id, "
    "params"
)


def message_values(m: Message, customer_id: str) -> tuple[Any, ...]:
    """The ``MESSAGE_COLUMNS`` of a message stored under ``customer_id``."""
    return (
        m.id,
        customer_id,
        m.channel.value,
        micros(m.at),
        m.template,
        m.direction.value,
        m.purpose.value,
        m.outcome.value,
        m.flow_id,
        m.action_id,
        dumps(dict(m.params)) if m.params else None,
    )


def message_from(row: Sequence[Any], customer_id: str) -> Message:
    """A message from a row in ``MESSAGE_COLUMNS`` order."""
    return Message(
        id=row[0],
        customer_id=customer_id,
        channel=row[2],
        at=from_micros(row[3]),
        template=row[4],
        direction=row[5],
        purpose=row[6],
        outcome=row[7],
        flow_id=row[8],
        action_id=row[9],
        params=json.loads(row[10]) if row[10] else {},
    )
