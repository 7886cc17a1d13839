"""Row specs of the SQLite adapter: each table's columns, domain objects to and from rows.

Nothing here touches a connection: values are plain Python (text, integers, JSON text,
microseconds since the epoch), the same for any SQL database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
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
from ecomcrm.errors import (
    ValidationError,
)

_micros = sh.to_micros


_from_micros = sh.from_micros


def _opt_micros(when: datetime | None) -> int | None:
    return None if when is None else _micros(when)


def _opt_from_micros(value: int | None) -> datetime | None:
    return None if value is None else _from_micros(value)


# One encoder for every call: json.dumps() with non-default arguments builds a new one each
# time, which cost more than the encoding of a small mapping.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(value: Any) -> str:
    return _ENCODE(value)


_STATE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _state_json(value: Any) -> str:
    """A state value as JSON text, or ValidationError when it is not a JSON-compatible mapping.

    One strict encoding both validates and normalises (tuples become lists, other keys
    their JSON text), exactly as ``toolkit.freeze_state_value`` does, without a copy.
    """
    if not isinstance(value, Mapping):
        raise ValidationError("must be a mapping", entity="state", field="value", value=value)
    try:
        return _STATE_ENCODER.encode(value if isinstance(value, dict) else dict(value))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"must be JSON-compatible ({exc})", entity="state", field="value", value=value
        ) from None
    except RecursionError:
        raise ValidationError(
            "must be JSON-compatible (circular reference or nested too deeply)",
            entity="state",
            field="value",
            value=value,
        ) from None


# rows <-> domain objects
_CUSTOMER_COLUMNS = (
    "pk, id, created_at, first_name, last_name, birthday, timezone, locale, country, "
    "acquisition_channel, addresses, tags, attributes"
)


_CUSTOMER_INSERT = (
    "INSERT INTO customers (id, created_at, first_name, last_name, birthday, timezone, "
    "locale, country, acquisition_channel, addresses, tags, attributes)"
)


_IDENTITY_INSERT = "INSERT INTO identities (key, customer_pk, kind, value, position)"


def _customer_values(c: Customer) -> tuple[Any, ...]:
    return (
        c.id,
        _micros(c.created_at),
        c.first_name,
        c.last_name,
        c.birthday.isoformat() if c.birthday is not None else None,
        c.timezone,
        c.locale,
        c.country,
        c.acquisition_channel,
        _dumps([_address_dict(a) for a in c.addresses]) if c.addresses else None,
        _dumps(sorted(c.tags)) if c.tags else None,
        _dumps(dict(c.attributes)) if c.attributes else None,
    )


def _address_dict(a: Address) -> dict[str, Any]:
    return {
        "line1": a.line1,
        "line2": a.line2,
        "city": a.city,
        "region": a.region,
        "postal_code": a.postal_code,
        "country": a.country,
    }


def _customer_from(row: Sequence[Any], identities: Sequence[Identity]) -> Customer:
    return Customer(
        id=row[1],
        created_at=_from_micros(row[2]),
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


_ORDER_COLUMNS = (
    "id, customer_id, placed_at, currency, subtotal, discount, shipping, tax, taxes_included, "
    "total, status, sales_channel, discount_codes, shipping_address, cancelled_at, shipped_at, "
    "delivered_at, amount, discount_amount, units, cancelled"
)


_ORDER_INSERT = f"INSERT INTO orders ({_ORDER_COLUMNS})"


_ORDER_ON_CONFLICT = " ON CONFLICT(id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _ORDER_COLUMNS.split(", ")[1:]
)


_LINE_INSERT = (
    "INSERT INTO order_lines (order_id, position, sku, title, quantity, unit_price, discount, "
    "category)"
)


_ZERO = Decimal(0)


def _order_values(o: Order, customer_id: str) -> tuple[Any, ...]:
    # The hot path of bulk ingest: written out by hand (enum members bind as their text).
    # The analytic columns equal ``toolkit.order_row``'s; the tests compare them.
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
        sh.to_micros(o.placed_at),
        o.currency,
        str(o.subtotal),
        str(discount),
        str(o.shipping),
        str(o.tax),
        1 if o.taxes_included else 0,
        str(total),
        o.status._value_,
        o.sales_channel,
        _dumps(list(o.discount_codes)) if o.discount_codes else None,
        _dumps(_address_dict(o.shipping_address)) if o.shipping_address is not None else None,
        None if o.cancelled_at is None else _micros(o.cancelled_at),
        None if o.shipped_at is None else _micros(o.shipped_at),
        None if o.delivered_at is None else _micros(o.delivered_at),
        float(total),
        float(discount + line_discount) if line_discount else float(discount),
        units,
        1 if o.status is OrderStatus.CANCELLED or o.cancelled_at is not None else 0,
    )


def _line_values(o: Order) -> Iterator[tuple[Any, ...]]:
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
            _dumps(list(line.category)) if line.category else None,
        )


class _PreparedOrders(list[Order]):
    """Orders with their ``orders`` and ``order_lines`` rows (see ``prepare_many``)."""

    def __init__(
        self,
        orders: list[Order],
        rows: list[tuple[Any, ...]],
        line_rows: list[tuple[Any, ...]],
    ) -> None:
        super().__init__(orders)
        self.rows = rows
        self.line_rows = line_rows


def _prepare(orders: Iterable[Order]) -> _PreparedOrders:
    batch = list(orders)
    return _PreparedOrders(
        batch,
        [_order_values(o, o.customer_id) for o in batch],
        [v for o in batch for v in _line_values(o)],
    )


def _order_from(row: Sequence[Any], customer_id: str, lines: Sequence[OrderLine]) -> Order:
    address = json.loads(row[13]) if row[13] else None
    return Order(
        id=row[0],
        customer_id=customer_id,
        placed_at=_from_micros(row[2]),
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
        cancelled_at=_opt_from_micros(row[14]),
        shipped_at=_opt_from_micros(row[15]),
        delivered_at=_opt_from_micros(row[16]),
    )


def _line_from(row: Sequence[Any]) -> OrderLine:
    # row: order_id, position, sku, title, quantity, unit_price, discount, category
    return OrderLine(
        sku=row[2],
        title=row[3],
        quantity=row[4],
        unit_price=Decimal(row[5]),
        discount=Decimal(row[6]),
        category=json.loads(row[7]) if row[7] else (),
    )


_REFUND_COLUMNS = (
    "id, order_id, customer_id, at, amount, amount_real, currency, reason, returned, lines, "
    "returned_units"
)


def _refund_values(r: Refund, customer_id: str) -> tuple[Any, ...]:
    facts = sh.refund_row(r)
    lines = [{"sku": x.sku, "quantity": x.quantity, "reason": x.reason} for x in r.lines]
    return (
        r.id,
        r.order_id,
        customer_id,
        _micros(r.at),
        str(r.amount),
        facts.amount,
        r.currency,
        r.reason,
        int(r.returned),
        _dumps(lines) if lines else None,
        facts.returned_units,
    )


def _refund_from(row: Sequence[Any], customer_id: str) -> Refund:
    return Refund(
        id=row[0],
        order_id=row[1],
        customer_id=customer_id,
        at=_from_micros(row[3]),
        amount=Decimal(row[4]),
        currency=row[6],
        reason=row[7],
        returned=bool(row[8]),
        lines=[ReturnLine(**x) for x in json.loads(row[9])] if row[9] else (),
    )


_EVENT_COLUMNS = "id, name, at, customer_id, anonymous_id, properties, source, product"


def _event_values(e: Event) -> tuple[Any, ...]:
    return (
        e.id,
        e.name,
        _micros(e.at),
        e.customer_id,
        e.anonymous_id,
        _dumps(dict(e.properties)) if e.properties else None,
        e.source,
        sh.event_product(e),
    )


def _event_from(row: Sequence[Any], customer_id: str | None) -> Event:
    return Event(
        id=row[0],
        name=row[1],
        at=_from_micros(row[2]),
        customer_id=customer_id,
        anonymous_id=row[4],
        properties=json.loads(row[5]) if row[5] else {},
        source=row[6],
    )


_TICKET_COLUMNS = (
    "id, customer_id, channel, subject, tags, status, opened_at, first_response_at, closed_at, "
    "satisfaction, order_id"
)


def _ticket_values(t: SupportTicket, customer_id: str) -> tuple[Any, ...]:
    return (
        t.id,
        customer_id,
        t.channel.value,
        t.subject,
        _dumps(sorted(t.tags)) if t.tags else None,
        t.status.value,
        _micros(t.opened_at),
        _opt_micros(t.first_response_at),
        _opt_micros(t.closed_at),
        t.satisfaction,
        t.order_id,
    )


def _ticket_from(row: Sequence[Any], customer_id: str) -> SupportTicket:
    return SupportTicket(
        id=row[0],
        customer_id=customer_id,
        channel=row[2],
        subject=row[3],
        tags=json.loads(row[4]) if row[4] else (),
        status=row[5],
        opened_at=_from_micros(row[6]),
        first_response_at=_opt_from_micros(row[7]),
        closed_at=_opt_from_micros(row[8]),
        satisfaction=row[9],
        order_id=row[10],
    )


_LOYALTY_COLUMNS = "id, customer_id, kind, points, at, expires_at, source, description"


def _loyalty_from(row: Sequence[Any], customer_id: str) -> LoyaltyEntry:
    return LoyaltyEntry(
        id=row[0],
        customer_id=customer_id,
        kind=row[2],
        points=row[3],
        at=_from_micros(row[4]),
        expires_at=_opt_from_micros(row[5]),
        source=row[6],
        description=row[7],
    )


_MESSAGE_COLUMNS = (
    "id, customer_id, channel, at, template, direction, purpose, outcome, flow_id, action_id, "
    "params"
)


def _message_values(m: Message, customer_id: str) -> tuple[Any, ...]:
    return (
        m.id,
        customer_id,
        m.channel.value,
        _micros(m.at),
        m.template,
        m.direction.value,
        m.purpose.value,
        m.outcome.value,
        m.flow_id,
        m.action_id,
        _dumps(dict(m.params)) if m.params else None,
    )


def _message_from(row: Sequence[Any], customer_id: str) -> Message:
    return Message(
        id=row[0],
        customer_id=customer_id,
        channel=row[2],
        at=_from_micros(row[3]),
        template=row[4],
        direction=row[5],
        purpose=row[6],
        outcome=row[7],
        flow_id=row[8],
        action_id=row[9],
        params=json.loads(row[10]) if row[10] else {},
    )


def _consent_from(row: Sequence[Any], customer_id: str) -> Consent:
    # row: customer_id, channel, purpose, granted, at, source
    return Consent(
        customer_id=customer_id,
        channel=row[1],
        purpose=row[2],
        granted=bool(row[3]),
        at=_from_micros(row[4]),
        source=row[5],
    )
