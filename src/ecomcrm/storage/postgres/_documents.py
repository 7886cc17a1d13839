"""The customer 360 view of :class:`~ecomcrm.storage.PostgresStore` in two round trips.

The repository reads the toolkit's ``build_customer_360`` makes cost about twenty
statements, each a round trip to the server (resolving the customer's merge group again
for every part). Here one statement reads the profile and the group's ids, and the
other parts are one statement each, sent together in pipeline mode; both round trips
read one snapshot, whose BEGIN travels with the first and whose COMMIT with the second
(:meth:`Db.chained`), and every statement is prepared on its connection. The rows become
domain objects with the repositories' row builders.
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

# First round trip: the profile with its identities, every id of its merge group and the
# group's anonymous ids. The other parts then take those ids as array parameters, so the
# planner knows how few they are and uses the per-customer indexes (a group found by a
# subquery inside each statement looked unbounded to it: hash joins over whole tables).
_GROUP_PKS = "array(SELECT g.pk FROM customers g WHERE g.pk = t.pk OR g.survivor_pk = t.pk)"
_CUSTOMER = (
    PostgresCustomers._LOAD + ", array(SELECT g.id FROM customers g WHERE g.pk = t.pk "
    "OR g.survivor_pk = t.pk), array(SELECT i.value FROM identities i WHERE "
    f"i.customer_pk = ANY({_GROUP_PKS}) AND i.kind = 'anonymous' ORDER BY i.customer_pk, "
    "i.position) FROM customers c JOIN customers t "
    "ON t.pk = coalesce(c.survivor_pk, c.pk) WHERE c.id = %(id)s"
)
_ORDERS = (
    PostgresOrders._SELECT
    + 'WHERE o.customer_id = ANY(%(ids)s) ORDER BY o.placed_at, o.id COLLATE "C"'
)
_LINES = (
    f"SELECT {rw.LINE_COLUMNS} FROM order_lines WHERE order_id = ANY(array("
    "SELECT id FROM orders WHERE customer_id = ANY(%(ids)s))) ORDER BY order_id, position"
)
_REFUNDS = (
    PostgresOrders._REFUNDS + 'WHERE r.customer_id = ANY(%(ids)s) ORDER BY r.at, r.id COLLATE "C"'
)
_EVENTS = (
    f"SELECT * FROM ({PostgresEvents._SELECT}WHERE (e.customer_id = ANY(%(ids)s) OR "
    "(e.customer_id IS NULL AND e.anonymous_id = ANY(%(anonymous)s))) "
    'ORDER BY e.at DESC, e.id COLLATE "C" DESC LIMIT %(events)s) x '
    'ORDER BY x.at, x.id COLLATE "C"'
)
_MESSAGES = (
    f"SELECT * FROM (SELECT {rw.MESSAGE_COLUMNS} FROM messages WHERE customer_id = "
    'ANY(%(ids)s) ORDER BY at DESC, id COLLATE "C" DESC LIMIT %(messages)s) x '
    'ORDER BY x.at, x.id COLLATE "C"'
)
_TICKETS = (
    PostgresTickets._SELECT
    + 'WHERE t.customer_id = ANY(%(ids)s) ORDER BY t.opened_at, t.id COLLATE "C"'
)
_CONSENTS = (
    "SELECT k.customer_id, k.channel, k.purpose, k.granted, k.at, k.source, k.topic, k.proof "
    "FROM consents k "
    "WHERE k.customer_id = ANY(%(ids)s) ORDER BY k.at, k.pk"
)
_LOYALTY = (
    f"SELECT {rw.LOYALTY_COLUMNS} FROM loyalty WHERE customer_id = ANY(%(ids)s) ORDER BY at, pk"
)
_MERGES = (
    "SELECT merged_id FROM merges WHERE survivor_pk = ANY(array("
    "SELECT pk FROM customers WHERE pk = %(pk)s OR survivor_pk = %(pk)s)) ORDER BY at, seq"
)


_PARTS = (_ORDERS, _LINES, _REFUNDS, _EVENTS, _MESSAGES, _TICKETS, _CONSENTS, _LOYALTY, _MERGES)


def _bound(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValidationError(
            "must be a non-negative integer", entity="customer_360", field=name, value=value
        )
    return value


def customer_360(db: Db, customer_id: str, *, recent_events: int, messages: int) -> Customer360:
    """The support agent's view of one customer: the profile, then every part at once.

    Equal to ``ecomcrm.storage.toolkit.build_customer_360`` over the store's repositories.
    """
    events_bound = _bound("recent_events", recent_events)
    messages_bound = _bound("messages", messages)

    def parts(first: list[list[tuple[Any, ...]]]) -> list[tuple[str, dict[str, Any]]]:
        (found,) = first
        if not found:
            raise NotFoundError(
                "no such customer", entity="Customer", field="id", value=customer_id
            )
        row = found[0]
        args = {
            "ids": list(row[-2]),
            "anonymous": list(row[-1]),
            "pk": row[0],
            "events": events_bound,
            "messages": messages_bound,
        }
        return [(sql, args) for sql in _PARTS]

    # both round trips read one snapshot; BEGIN and COMMIT travel with them
    ((found,), rest) = db.chained([(_CUSTOMER, {"id": customer_id})], parts)
    row = found[0]
    (
        orders, lines, refunds, events, message_rows, tickets, consents, loyalty, merges,
    ) = rest  # fmt: skip
    customer = PostgresCustomers._loaded(row[:-2])
    assert customer is not None
    cid = customer.id
    by_order: dict[str, list[Any]] = {}
    for line in lines:
        by_order.setdefault(line[0], []).append(rw.line_from(line))
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
