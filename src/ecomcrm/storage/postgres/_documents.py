"""The customer 360 view of :class:`~ecomcrm.storage.PostgresStore` in one round trip.

The repository reads the toolkit's ``build_customer_360`` makes cost about twenty
statements, each a round trip to the server (resolving the customer's merge group again
for every part). Here every part is one statement that resolves the group itself, all of
them sent together in pipeline mode, inside one read-only snapshot; the rows become
domain objects with the same row builders the repositories use.
"""

from __future__ import annotations

from typing import Any

import ecomcrm.storage._sql_rows as rw
import ecomcrm.storage.toolkit as sh
from ecomcrm.errors import NotFoundError, ValidationError
from ecomcrm.storage._records import Customer360
from ecomcrm.storage.postgres._connection import Db
from ecomcrm.storage.postgres._customers import PostgresCustomers
from ecomcrm.storage.postgres._ledgers import PostgresEvents, PostgresTickets
from ecomcrm.storage.postgres._orders import PostgresOrders

# the surviving pk of the requested id, and every id of its merge group
_PK = "(SELECT coalesce(c.survivor_pk, c.pk) FROM customers c WHERE c.id = %(id)s)"
_GROUP = f"array(SELECT g.id FROM customers g WHERE g.pk = {_PK} OR g.survivor_pk = {_PK})"
_ANONYMOUS = (
    "array(SELECT i.value FROM identities i JOIN customers a ON a.pk = i.customer_pk "
    f"WHERE a.id = ANY({_GROUP}) AND i.kind = 'anonymous')"
)
_CUSTOMER = (
    PostgresCustomers._LOAD + "FROM customers c JOIN customers t "
    "ON t.pk = coalesce(c.survivor_pk, c.pk) WHERE c.id = %(id)s"
)
_ORDERS = (
    PostgresOrders._SELECT
    + f'WHERE o.customer_id = ANY({_GROUP}) ORDER BY o.placed_at, o.id COLLATE "C"'
)
_LINES = (
    f"SELECT {rw.LINE_COLUMNS} FROM order_lines WHERE order_id IN "
    f"(SELECT id FROM orders WHERE customer_id = ANY({_GROUP})) ORDER BY order_id, position"
)
_REFUNDS = (
    PostgresOrders._REFUNDS + f'WHERE r.customer_id = ANY({_GROUP}) ORDER BY r.at, r.id COLLATE "C"'
)
_EVENTS = (
    f"SELECT * FROM ({PostgresEvents._SELECT}WHERE (e.customer_id = ANY({_GROUP}) OR "
    f"(e.customer_id IS NULL AND e.anonymous_id = ANY({_ANONYMOUS}))) "
    'ORDER BY e.at DESC, e.id COLLATE "C" DESC LIMIT %(events)s) x '
    'ORDER BY x.at, x.id COLLATE "C"'
)
_MESSAGES = (
    f"SELECT * FROM (SELECT {rw.MESSAGE_COLUMNS} FROM messages WHERE customer_id = "
    f'ANY({_GROUP}) ORDER BY at DESC, id COLLATE "C" DESC LIMIT %(messages)s) x '
    'ORDER BY x.at, x.id COLLATE "C"'
)
_TICKETS = (
    PostgresTickets._SELECT
    + f'WHERE t.customer_id = ANY({_GROUP}) ORDER BY t.opened_at, t.id COLLATE "C"'
)
_CONSENTS = (
    "SELECT k.customer_id, k.channel, k.purpose, k.granted, k.at, k.source FROM consents k "
    f"WHERE k.customer_id = ANY({_GROUP}) ORDER BY k.at, k.pk"
)
_LOYALTY = (
    f"SELECT {rw.LOYALTY_COLUMNS} FROM loyalty WHERE customer_id = ANY({_GROUP}) ORDER BY at, pk"
)
_MERGES = (
    "SELECT merged_id FROM merges WHERE survivor_pk IN "
    f"(SELECT pk FROM customers WHERE pk = {_PK} OR survivor_pk = {_PK}) ORDER BY at, seq"
)


def _bound(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(
            "must be a non-negative integer", entity="customer_360", field=name, value=value
        )
    return value


def customer_360(db: Db, customer_id: str, *, recent_events: int, messages: int) -> Customer360:
    """The support agent's view of one customer: every part read in one pipelined round trip.

    Equal to ``ecomcrm.storage.toolkit.build_customer_360`` over the store's repositories.
    """
    args = {
        "id": customer_id,
        "events": _bound("recent_events", recent_events),
        "messages": _bound("messages", messages),
    }
    (
        customer_rows, orders, lines, refunds, events, message_rows, tickets, consents,
        loyalty, merges,
    ) = db.pipelined(
        [(sql, args) for sql in (
            _CUSTOMER, _ORDERS, _LINES, _REFUNDS, _EVENTS, _MESSAGES, _TICKETS, _CONSENTS,
            _LOYALTY, _MERGES,
        )]
    )  # fmt: skip
    customer = PostgresCustomers._loaded(customer_rows[0] if customer_rows else None)
    if customer is None:
        raise NotFoundError("no such customer", entity="Customer", field="id", value=customer_id)
    cid = customer.id
    by_order: dict[str, list[Any]] = {}
    for row in lines:
        by_order.setdefault(row[0], []).append(rw.line_from(row))
    entries = [rw.loyalty_from(r, cid) for r in loyalty]
    return sh.customer_360_from(
        customer=customer,
        orders=[rw.order_from(r, r[-1], by_order.get(r[0], [])) for r in orders],
        refunds=[rw.refund_from(r, r[-1]) for r in refunds],
        recent_events=[rw.event_from(r, cid if r[3] is not None else None) for r in events],
        tickets=[rw.ticket_from(r, r[-1]) for r in tickets],
        current_consents=sh.latest_consents([rw.consent_from(r, cid) for r in consents]),
        loyalty_balance=sum(e.points for e in entries),
        loyalty_entries=entries,
        messages=[rw.message_from(r, cid) for r in message_rows],
        merged_ids=[r[0] for r in merges],
    )
