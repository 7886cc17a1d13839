"""MemoryStore: the whole store contract in plain Python structures, with real transactions.

Every mutation goes through a handful of primitives that record how to undo it; a
transaction keeps that undo log and replays it backwards when the block raises, so a
failure rolls back every repository at once. Outside a ``transaction()`` block each public
write is its own transaction (a failing ``put_many`` leaves nothing behind).

Orders and events also live in per-column lists (one list per analytic column, with an
``alive`` flag per row), so columnar reads turn lists into arrays without building a Python
object per row.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import attrs
import numpy as np
from numpy.typing import NDArray

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    Event,
    Identity,
    IdentityKind,
    LoyaltyEntry,
    Message,
    Order,
    Purpose,
    Refund,
    SupportTicket,
)
from ecomcrm.errors import ConflictError, NotFoundError, StorageError, ValidationError
from ecomcrm.storage._capabilities import StateChange
from ecomcrm.storage._records import (
    ConsentFacts,
    CustomerTable,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
    MergeRecord,
    OrderFacts,
    StateRecord,
)

__all__ = ["MemoryStore"]

_MISSING: Any = object()
K = TypeVar("K")
V = TypeVar("V")


def _check_type(value: Any, cls: type, entity: str) -> None:
    if not isinstance(value, cls):
        raise ValidationError(
            f"must be a {cls.__name__}", entity=entity, field="argument", value=value
        )


class _Columns:
    """Rows addressed by key, stored as one list per column, with an undo hook."""

    def __init__(self, store: MemoryStore, names: tuple[str, ...]) -> None:
        self._store = store
        self.row: dict[str, int] = {}
        self.cols: dict[str, list[Any]] = {name: [] for name in names}
        self.keys: list[str | None] = []

    def set(self, key: str, values: Mapping[str, Any]) -> None:
        store = self._store
        i = self.row.get(key)
        if i is None:
            self.keys.append(key)
            for name, column in self.cols.items():
                column.append(values[name])
            self.row[key] = len(self.keys) - 1
            store._record(self._pop_last, key)
        else:
            for name, value in values.items():
                store._lset(self.cols[name], i, value)

    def _pop_last(self, key: str) -> None:
        del self.row[key]
        self.keys.pop()
        for column in self.cols.values():
            column.pop()

    def update(self, key: str, name: str, value: Any) -> None:
        self._store._lset(self.cols[name], self.row[key], value)

    def delete(self, key: str) -> None:
        i = self.row.get(key)
        if i is None:
            return
        store = self._store
        store._ddel(self.row, key)
        store._lset(self.keys, i, None)
        for column in self.cols.values():
            store._lset(column, i, None)

    def alive(self) -> NDArray[np.bool_]:
        keys = np.asarray(self.keys, dtype=object)
        mask: NDArray[np.bool_] = keys != None  # noqa: E711 - elementwise on an object array
        return mask


class _Customers(sh.BaseCustomerRepository):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._s = store

    def put(self, customer: Customer) -> None:
        _check_type(customer, Customer, "Customer")
        with self._s.transaction():
            if customer.id in self._s._customers or customer.id in self._s._alias:
                raise ConflictError(
                    "a customer with this id exists",
                    entity="Customer",
                    field="id",
                    value=customer.id,
                )
            self._s._write_customer(customer)

    def upsert(self, customer: Customer) -> bool:
        _check_type(customer, Customer, "Customer")
        with self._s.transaction():
            if customer.id in self._s._alias:
                raise ConflictError(
                    f"was merged into {self._s.resolve(customer.id)!r}; write the survivor",
                    entity="Customer",
                    field="id",
                    value=customer.id,
                )
            created = customer.id not in self._s._customers
            self._s._write_customer(customer)
            return created

    def put_many(self, customers: Iterable[Customer]) -> int:
        count = 0
        with self._s.transaction():
            for customer in customers:
                self.upsert(customer)
                count += 1
        return count

    def get(self, customer_id: str) -> Customer:
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError("no such customer", entity="Customer", value=customer_id)
        return found

    def find(self, customer_id: str) -> Customer | None:
        self._s._check_open()
        return self._s._customers.get(self._s.resolve(customer_id))

    def find_by_identity(self, identity: Identity) -> Customer | None:
        self._s._check_open()
        _check_type(identity, Identity, "Identity")
        owner = self._s._identity.get(identity.key)
        return None if owner is None else self._s._customers.get(owner)

    def iterate(self) -> Iterator[Customer]:
        self._s._check_open()
        for customer_id in sorted(self._s._customers):
            customer = self._s._customers.get(customer_id)
            if customer is not None:
                yield customer

    def count(self) -> int:
        self._s._check_open()
        return len(self._s._customers)

    def remove(self, customer_ids: Collection[str]) -> None:
        s = self._s
        for cid in customer_ids:
            customer = s._customers.get(cid)
            if customer is None:
                continue
            for identity in customer.identities:
                if s._identity.get(identity.key) == cid:
                    s._ddel(s._identity, identity.key)
            s._ddel(s._customers, cid)


class _Orders(sh.BaseOrderRepository):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._s = store

    def upsert(self, order: Order) -> bool:
        _check_type(order, Order, "Order")
        s = self._s
        with s.transaction():
            owner = s._live_id(order.customer_id, "Order")
            if owner != order.customer_id:
                order = attrs.evolve(order, customer_id=owner)
            old = s._orders.get(order.id)
            if old is not None and old.customer_id != owner:
                s._index_remove(s._orders_by_customer, old.customer_id, order.id)
            s._dset(s._orders, order.id, order)
            s._index_add(s._orders_by_customer, owner, order.id)
            row = sh.order_row(order)
            s._order_cols.set(
                order.id,
                {
                    "customer": owner,
                    "placed_at": row.placed_at_us,
                    "amount": row.amount,
                    "currency": row.currency,
                    "discount": row.discount,
                    "units": row.units,
                    "cancelled": row.cancelled,
                    "refunded": 0.0,
                    "returned": 0,
                },
            )
            if old is not None:  # a new order has no refunds yet
                s._refresh_refunds(order.id)
            return old is None

    def put_many(self, orders: Iterable[Order]) -> int:
        count = 0
        with self._s.transaction():
            for order in orders:
                self.upsert(order)
                count += 1
        return count

    def get(self, order_id: str) -> Order:
        self._s._check_open()
        order = self._s._orders.get(order_id)
        if order is None:
            raise NotFoundError("no such order", entity="Order", value=order_id)
        return order

    def for_customer(self, customer_id: str) -> list[Order]:
        s = self._s
        s._check_open()
        ids = s._orders_by_customer.get(s.resolve(customer_id), {})
        return sorted((s._orders[i] for i in ids), key=lambda o: (o.placed_at, o.id))

    def count(self) -> int:
        self._s._check_open()
        return len(self._s._orders)

    def add_refund(self, refund: Refund) -> bool:
        _check_type(refund, Refund, "Refund")
        s = self._s
        with s.transaction():
            if refund.order_id not in s._orders:
                raise NotFoundError(
                    "no such order", entity="Refund", field="order_id", value=refund.order_id
                )
            if refund.id in s._refunds:
                return False
            owner = s.resolve(refund.customer_id)
            if owner != refund.customer_id:
                refund = attrs.evolve(refund, customer_id=owner)
            s._dset(s._refunds, refund.id, (s._next_seq(), refund))
            s._index_add(s._refunds_by_order, refund.order_id, refund.id)
            s._index_add(s._refunds_by_customer, owner, refund.id)
            s._refresh_refunds(refund.order_id)
            return True

    def add_refunds(self, refunds: Iterable[Refund]) -> int:
        n = 0
        with self._s.transaction():
            for row, refund in enumerate(refunds):
                try:
                    n += self.add_refund(refund)
                except NotFoundError as exc:
                    raise _at_row(exc, row) from None
        return n

    def refunds_for_order(self, order_id: str) -> list[Refund]:
        s = self._s
        s._check_open()
        return s._sorted_refunds(s._refunds_by_order.get(order_id, {}))

    def refunds_for_customer(self, customer_id: str) -> list[Refund]:
        s = self._s
        s._check_open()
        return s._sorted_refunds(s._refunds_by_customer.get(s.resolve(customer_id), {}))

    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymise: bool = False
    ) -> None:
        s = self._s
        order_ids = [o for cid in customer_ids for o in s._orders_by_customer.get(cid, {})]
        refund_ids = dict.fromkeys(
            r for cid in customer_ids for r in s._refunds_by_customer.get(cid, {})
        )
        for order_id in order_ids:
            refund_ids.update(s._refunds_by_order.get(order_id, {}))
        for refund_id in refund_ids:
            if to is None:
                s._drop_refund(refund_id)
                continue
            seq, refund = s._refunds[refund_id]
            kept = sh.anonymise_refund(refund, to) if anonymise else refund
            s._index_remove(s._refunds_by_customer, refund.customer_id, refund_id)
            s._dset(s._refunds, refund_id, (seq, attrs.evolve(kept, customer_id=to)))
            s._index_add(s._refunds_by_customer, to, refund_id)
        for order_id in order_ids:
            order = s._orders[order_id]
            s._index_remove(s._orders_by_customer, order.customer_id, order_id)
            if to is None:
                s._ddel(s._orders, order_id)
                s._order_cols.delete(order_id)
                s._ddel(s._refunds_by_order, order_id)
                continue
            kept_order = sh.anonymise_order(order, to) if anonymise else order
            s._dset(s._orders, order_id, attrs.evolve(kept_order, customer_id=to))
            s._order_cols.update(order_id, "customer", to)
            s._index_add(s._orders_by_customer, to, order_id)
        for cid in customer_ids:
            s._ddel(s._orders_by_customer, cid)
            s._ddel(s._refunds_by_customer, cid)


class _Events(sh.BaseEventRepository):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._s = store

    def append(self, event: Event) -> bool:
        _check_type(event, Event, "Event")
        s = self._s
        with s.transaction():
            if event.id in s._events:
                return False
            if event.customer_id is not None:
                owner = s.resolve(event.customer_id)
                if owner != event.customer_id:
                    event = attrs.evolve(event, customer_id=owner)
            s._store_event(event, s._next_seq())
            return True

    def append_many(self, events: Iterable[Event]) -> int:
        added = 0
        with self._s.transaction():
            for event in events:
                added += self.append(event)
        return added

    def for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        names: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        s = self._s
        s._check_open()
        events = [s._events[i][1] for i in s._event_ids_of(s.resolve(customer_id))]
        if since is not None:
            events = [e for e in events if e.at >= since]
        wanted = sh.event_names(names)
        if wanted is not None:
            events = [e for e in events if e.name in wanted]
        events.sort(key=lambda e: (e.at, e.id))
        if limit is not None:
            events = events[-limit:] if limit > 0 else []
        return events

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        s = self._s
        s._check_open()
        ids = s._events_by_anonymous.get(anonymous_id, {})
        return sorted((s._events[i][1] for i in ids), key=lambda e: (e.at, e.id))

    def count(self) -> int:
        self._s._check_open()
        return len(self._s._events)

    def iterate(self) -> Iterator[Event]:
        self._s._check_open()
        return iter([event for _, event in self._s._events.values()])

    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymous_ids: Collection[str] = ()
    ) -> None:
        s = self._s
        ids = dict.fromkeys(e for cid in customer_ids for e in s._events_by_customer.get(cid, {}))
        for anonymous_id in anonymous_ids:
            for event_id in s._events_by_anonymous.get(anonymous_id, {}):
                if s._events[event_id][1].customer_id is None:
                    ids[event_id] = None
        for event_id in ids:
            seq, event = s._events[event_id]
            s._drop_event(event_id)
            if to is not None:
                s._store_event(attrs.evolve(event, customer_id=to), seq)


class _Consents(sh.BaseConsentRepository):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._s = store

    def record(self, consent: Consent) -> None:
        _check_type(consent, Consent, "Consent")
        s = self._s
        with s.transaction():
            owner = s._live_id(consent.customer_id, "Consent")
            if owner != consent.customer_id:
                consent = attrs.evolve(consent, customer_id=owner)
            seq = s._next_seq()
            s._dset(s._consents, seq, consent)
            s._index_add(s._consents_by_customer, owner, seq)

    def record_many(self, consents: Iterable[Consent]) -> int:
        s = self._s
        n = 0
        with s.transaction():
            for row, consent in enumerate(consents):
                try:
                    self.record(consent)
                except NotFoundError as exc:
                    raise _at_row(exc, row) from None
                n += 1
        return n

    def history(self, customer_id: str) -> list[Consent]:
        s = self._s
        s._check_open()
        seqs = s._consents_by_customer.get(s.resolve(customer_id), {})
        return [s._consents[q] for q in sorted(seqs, key=lambda q: (s._consents[q].at, q))]

    def current(self, customer_id: str) -> dict[tuple[Channel, Purpose], Consent]:
        return sh.latest_consents(self.history(customer_id))

    def is_granted(self, customer_id: str, channel: Channel | str, purpose: Purpose | str) -> bool:
        latest = self.current(customer_id).get((Channel(channel), Purpose(purpose)))
        return latest is not None and latest.granted

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        self._s._reassign(self._s._consents, self._s._consents_by_customer, customer_ids, to)


def _at_row(exc: NotFoundError, row: int) -> NotFoundError:
    """The same NotFoundError naming the row of a batch it was raised for."""
    return NotFoundError(exc.message, entity=exc.entity, field=exc.field, value=exc.value, row=row)


class _Tickets(sh.BaseTicketRepository):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._s = store

    def upsert(self, ticket: SupportTicket) -> bool:
        _check_type(ticket, SupportTicket, "SupportTicket")
        s = self._s
        with s.transaction():
            owner = s._live_id(ticket.customer_id, "SupportTicket")
            if owner != ticket.customer_id:
                ticket = attrs.evolve(ticket, customer_id=owner)
            old = s._tickets.get(ticket.id)
            if old is not None:
                s._index_remove(s._tickets_by_customer, old.customer_id, ticket.id)
            s._dset(s._tickets, ticket.id, ticket)
            s._index_add(s._tickets_by_customer, owner, ticket.id)
            return old is None

    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        n = 0
        with self._s.transaction():
            for ticket in tickets:
                try:
                    self.upsert(ticket)
                except NotFoundError as exc:
                    raise _at_row(exc, n) from None
                n += 1
        return n

    def get(self, ticket_id: str) -> SupportTicket:
        self._s._check_open()
        ticket = self._s._tickets.get(ticket_id)
        if ticket is None:
            raise NotFoundError("no such ticket", entity="SupportTicket", value=ticket_id)
        return ticket

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        s = self._s
        s._check_open()
        ids = s._tickets_by_customer.get(s.resolve(customer_id), {})
        return sorted((s._tickets[i] for i in ids), key=lambda t: (t.opened_at, t.id))

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        self._s._reassign(self._s._tickets, self._s._tickets_by_customer, customer_ids, to)


class _Loyalty(sh.BaseLoyaltyRepository):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._s = store

    def append(self, entry: LoyaltyEntry) -> bool:
        _check_type(entry, LoyaltyEntry, "LoyaltyEntry")
        s = self._s
        with s.transaction():
            if entry.id in s._loyalty:
                return False
            owner = s.resolve(entry.customer_id)
            if owner != entry.customer_id:
                entry = attrs.evolve(entry, customer_id=owner)
            s._dset(s._loyalty, entry.id, (s._next_seq(), entry))
            s._index_add(s._loyalty_by_customer, owner, entry.id)
            return True

    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        with self._s.transaction():
            return sum(self.append(entry) for entry in entries)

    def has(self, entry_id: str) -> bool:
        self._s._check_open()
        return entry_id in self._s._loyalty

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        s = self._s
        s._check_open()
        ids = s._loyalty_by_customer.get(s.resolve(customer_id), {})
        rows = sorted((s._loyalty[i] for i in ids), key=lambda r: (r[1].at, r[0]))
        return [entry for _, entry in rows]

    def balance(self, customer_id: str) -> int:
        return sum(e.points for e in self.entries(customer_id))

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        s = self._s
        s._reassign(s._loyalty, s._loyalty_by_customer, customer_ids, to, sequenced=True)


class _Messages(sh.BaseMessageRepository):
    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._s = store

    def upsert(self, message: Message) -> bool:
        _check_type(message, Message, "Message")
        s = self._s
        with s.transaction():
            owner = s.resolve(message.customer_id)
            if owner != message.customer_id:
                message = attrs.evolve(message, customer_id=owner)
            old = s._messages.get(message.id)
            if old is not None:
                s._index_remove(s._messages_by_customer, old.customer_id, message.id)
            s._dset(s._messages, message.id, message)
            s._index_add(s._messages_by_customer, owner, message.id)
            return old is None

    def get(self, message_id: str) -> Message:
        self._s._check_open()
        message = self._s._messages.get(message_id)
        if message is None:
            raise NotFoundError("no such message", entity="Message", value=message_id)
        return message

    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        s = self._s
        s._check_open()
        ids = s._messages_by_customer.get(s.resolve(customer_id), {})
        found = [s._messages[i] for i in ids]
        if since is not None:
            found = [m for m in found if m.at >= since]
        return sorted(found, key=lambda m: (m.at, m.id))

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        self._s._reassign(self._s._messages, self._s._messages_by_customer, customer_ids, to)


class _SortedKeys:
    """The state keys in code-point order, as a list of short sorted blocks.

    Adding or removing a key costs a bisection plus a shift inside one block of at most
    ``2 * load`` keys (a plain sorted list would shift up to N keys), so keeping the
    order costs O(log N) per write; a range scan bisects to its first key.
    """

    __slots__ = ("_blocks", "_load", "_maxes")

    def __init__(self, load: int = 512) -> None:
        self._blocks: list[list[str]] = []
        self._maxes: list[str] = []
        self._load = load

    def add(self, key: str) -> None:
        maxes = self._maxes
        if not maxes:
            self._blocks.append([key])
            maxes.append(key)
            return
        i = bisect.bisect_left(maxes, key)
        if i == len(maxes):
            i -= 1
            block = self._blocks[i]
            block.append(key)
            maxes[i] = key
        else:
            block = self._blocks[i]
            bisect.insort(block, key)
        load = self._load
        if len(block) > 2 * load:
            self._blocks.insert(i + 1, block[load:])
            del block[load:]
            maxes.insert(i, block[-1])

    def remove(self, key: str) -> None:
        maxes = self._maxes
        i = bisect.bisect_left(maxes, key)
        if i == len(maxes):
            return
        block = self._blocks[i]
        j = bisect.bisect_left(block, key)
        if j == len(block) or block[j] != key:
            return
        del block[j]
        if not block:
            del self._blocks[i]
            del maxes[i]
        elif j == len(block):
            maxes[i] = block[-1]

    def range(self, start: str, stop: str | None) -> Iterator[str]:
        """Keys ``k`` with ``start <= k < stop`` (no upper bound when ``stop`` is None)."""
        maxes = self._maxes
        i = bisect.bisect_left(maxes, start)
        if i == len(maxes):
            return
        blocks = self._blocks
        j = bisect.bisect_left(blocks[i], start)
        for n in range(i, len(blocks)):
            block = blocks[n]
            if stop is not None and block[-1] >= stop:
                yield from block[j : bisect.bisect_left(block, stop, j)]
                return
            yield from block[j:] if j else block
            j = 0


class _StateMap(dict[str, StateRecord]):
    """The state records by key, with a :class:`_SortedKeys` index kept in step.

    Every way the store changes a record (``m[k] = v``, ``del m[k]``, ``m.pop(k)``,
    including the undo log's replays) maintains the index; the other mutating dict
    methods are refused.
    """

    __slots__ = ("keys_in_order",)

    def __init__(self) -> None:
        super().__init__()
        self.keys_in_order = _SortedKeys()

    def __setitem__(self, key: str, value: StateRecord) -> None:
        if key not in self:
            self.keys_in_order.add(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self.keys_in_order.remove(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.keys_in_order.remove(key)
        return dict.pop(self, key, *default)

    def _unsupported(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("the state map changes only by item assignment, del and pop")

    clear = popitem = setdefault = update = _unsupported
    __ior__ = _unsupported


def _restore_state(state: _StateMap, previous: list[tuple[str, StateRecord | None]]) -> None:
    """Undo one ``apply``: put back each key's record as it was (None: absent)."""
    for key, record in reversed(previous):
        if record is None:
            state.pop(key, None)
        else:
            state[key] = record


class _State(sh.BaseStateRepository):
    """The state area: frozen values stored once and shared with every reader.

    ``put`` validates and copies a value once into read-only containers
    (``toolkit.freeze_state_value``; frozen parts of a value read earlier are shared, not
    copied); ``get`` and ``scan`` return the stored records themselves, which nobody can
    change. ``scan`` walks the sorted key index from its first key.
    """

    def __init__(self, store: MemoryStore) -> None:
        super().__init__(store)
        self._s = store

    def get(self, key: str) -> StateRecord | None:
        s = self._s
        if s._closed or type(key) is not str or not key:  # the checks, inlined for the fast path
            s._check_open()
            sh.check_state_key(key)
        return s._state.get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        s = self._s
        s._check_open()
        state = s._state
        found: dict[str, StateRecord] = {}
        for key in keys:
            if type(key) is not str or not key:
                sh.check_state_key(key)
            record = state.get(key)
            if record is not None:
                found[key] = record
        return found

    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        expected_version: int | None,
        owner: str | None = None,
    ) -> StateRecord:
        s = self._s
        sh.check_state_key(key)
        sh.check_state_owner(owner)
        frozen = sh.freeze_state_value(value)
        # One write needs no transaction of its own: it either fails before changing
        # anything or makes one undo-logged change (rolled back with an enclosing block).
        with s._lock:
            s._check_open()
            stored = s._state.get(key)
            version = sh.check_expected_version(
                key, None if stored is None else stored.version, expected_version
            )
            record = StateRecord(key=key, value=frozen, version=version, owner=owner)
            s._dset(s._state, key, record)
        return record

    def delete(self, key: str, *, expected_version: int) -> None:
        s = self._s
        sh.check_state_key(key)
        with s._lock:
            s._check_open()
            stored = s._state.get(key)
            sh.check_expected_version(
                key, None if stored is None else stored.version, expected_version
            )
            s._ddel(s._state, key)

    def apply(self, changes: Iterable[StateChange]) -> None:
        """Several compare-and-set writes at once: all are applied, or none.

        Each change is ``(key, value, expected_version[, owner])``; a value of None deletes
        the record (its expected version is then required). Every version is checked
        (ConflictError naming the first stale key) before anything changes; keys must be
        distinct.
        """
        s = self._s
        freeze = sh.freeze_state_value
        frozen_dict = sh.FrozenDict
        batch: list[tuple[str, sh.FrozenDict | None, int | None, str | None]] = []
        append = batch.append
        for change in changes:
            key, value, expected = change[0], change[1], change[2]
            owner = change[3] if len(change) > 3 else None
            if type(key) is not str or not key:
                sh.check_state_key(key)
            if value is not None:
                if owner is not None and (type(owner) is not str or not owner):
                    sh.check_state_owner(owner)
                # a FrozenDict is checked and read-only already (freeze returns it as is)
                append((key, value if type(value) is frozen_dict else freeze(value), expected,
                        owner))  # fmt: skip
            elif expected is None:
                raise ValidationError("a delete needs the expected version", entity="state",
                                      field="expected_version", value=key)  # fmt: skip
            else:
                batch.append((key, None, expected, None))
        if len({change[0] for change in batch}) != len(batch):
            keys = [change[0] for change in batch]
            twice = next(k for k in keys if keys.count(k) > 1)
            raise ValidationError("given twice in one batch", entity="state", field="key",
                                  value=twice)  # fmt: skip
        with s._lock:
            s._check_open()
            state = s._state
            previous: list[tuple[str, StateRecord | None]] = []
            for key, _, expected, _ in batch:  # every version first: all or nothing
                stored = state.get(key)
                found = None if stored is None else stored.version
                if found != expected or (expected is not None and type(expected) is not int):
                    sh.check_expected_version(key, found, expected)  # raises
                previous.append((key, stored))
            add_key = state.keys_in_order.add
            for key, value, expected, owner in batch:
                if value is None:
                    del state[key]
                elif expected is None:  # checked above: the key is new
                    add_key(key)
                    dict.__setitem__(
                        state, key, StateRecord(key=key, value=value, version=1, owner=owner)
                    )
                else:
                    dict.__setitem__(
                        state,
                        key,
                        StateRecord(key=key, value=value, version=expected + 1, owner=owner),
                    )
            # Inside a transaction one undo step restores the whole batch: logging each
            # key (``_dset``) made a held ``handle_many(1000)`` unit 15 % slower.
            s._record(_restore_state, state, previous)

    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        s = self._s
        s._check_open()
        if limit is not None and limit <= 0:
            return []
        with s._lock:
            state = s._state
            out: list[StateRecord] = []
            first = prefix if start is None or start < prefix else start
            for key in state.keys_in_order.range(first, stop):
                if not key.startswith(prefix):
                    break
                out.append(state[key])
                if limit is not None and len(out) >= limit:
                    break
            return out


class MemoryStore(sh.BaseStore):
    """A complete store in memory: for tests, demos and small jobs. Nothing is persisted.

    Implements the whole :class:`~ecomcrm.storage.Store` contract, including atomic
    transactions across repositories (an undo log), identity suppression after erasure,
    merges, exports and columnar reads. Not safe for concurrent writers in several
    threads beyond a re-entrant lock held for each transaction.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer, Identity
        >>> store = MemoryStore()
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> with store.transaction():
        ...     store.customers.put(Customer(id="c1", created_at=t, identities=[Identity.email("a@b.co")]))
        ...     store.customers.put(Customer(id="c2", created_at=t))
        >>> store.merge("c1", "c2", at=t).merged_id, store.resolve("c2"), store.customers.count()
        ('c2', 'c1', 1)
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._undo: list[tuple[Callable[..., Any], tuple[Any, ...]]] | None = None
        self._depth = 0
        self._closed = False
        self._seq = 0
        self._customers: dict[str, Customer] = {}
        self._identity: dict[str, str] = {}
        self._alias: dict[str, str] = {}
        self._tombstones: dict[str, bool] = {}
        self._merges: dict[str, tuple[int, MergeRecord]] = {}
        self._orders: dict[str, Order] = {}
        self._orders_by_customer: dict[str, dict[str, None]] = {}
        self._order_cols = _Columns(
            self,
            (
                "customer",
                "placed_at",
                "amount",
                "currency",
                "discount",
                "units",
                "cancelled",
                "refunded",
                "returned",
            ),
        )
        self._refunds: dict[str, tuple[int, Refund]] = {}
        self._refunds_by_order: dict[str, dict[str, None]] = {}
        self._refunds_by_customer: dict[str, dict[str, None]] = {}
        self._events: dict[str, tuple[int, Event]] = {}
        self._events_by_customer: dict[str, dict[str, None]] = {}
        self._events_by_anonymous: dict[str, dict[str, None]] = {}
        self._event_cols = _Columns(self, ("customer", "anonymous", "name", "at", "product"))
        self._consents: dict[int, Consent] = {}
        self._consents_by_customer: dict[str, dict[int, None]] = {}
        self._tickets: dict[str, SupportTicket] = {}
        self._tickets_by_customer: dict[str, dict[str, None]] = {}
        self._loyalty: dict[str, tuple[int, LoyaltyEntry]] = {}
        self._loyalty_by_customer: dict[str, dict[str, None]] = {}
        self._messages: dict[str, Message] = {}
        self._messages_by_customer: dict[str, dict[str, None]] = {}
        self._state = _StateMap()
        self.customers = _Customers(self)
        self.orders = _Orders(self)
        self.events = _Events(self)
        self.consents = _Consents(self)
        self.tickets = _Tickets(self)
        self.loyalty = _Loyalty(self)
        self.messages = _Messages(self)
        self.state = _State(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._customers)} customers"
        return f"<MemoryStore {state}>"

    # --- undo-logged primitives ---------------------------------------------------------

    def _record(self, undo: Callable[..., Any], *args: Any) -> None:
        # Undo steps are (function, args) tuples rather than closures: a bulk import
        # records hundreds of thousands of them and closures cost several allocations.
        if self._undo is not None:
            self._undo.append((undo, args))

    def _next_seq(self) -> int:
        self._seq += 1  # never rolled back: sequence numbers only need to grow
        return self._seq

    def _dset(self, mapping: dict[K, V], key: K, value: V) -> None:
        old = mapping.get(key, _MISSING)
        mapping[key] = value
        if self._undo is not None:
            if old is _MISSING:
                self._undo.append((mapping.__delitem__, (key,)))
            else:
                self._undo.append((mapping.__setitem__, (key, old)))

    def _ddel(self, mapping: dict[K, V], key: K) -> None:
        if key in mapping:
            old = mapping.pop(key)
            self._record(mapping.__setitem__, key, old)

    def _lset(self, items: list[Any], index: int, value: Any) -> None:
        old = items[index]
        items[index] = value
        self._record(items.__setitem__, index, old)

    def _index_add(self, index: dict[K, dict[Any, None]], key: K, member: Any) -> None:
        bucket = index.get(key)
        if bucket is None:
            bucket = {}
            self._dset(index, key, bucket)
        if member not in bucket:
            self._dset(bucket, member, None)

    def _index_remove(self, index: dict[K, dict[Any, None]], key: K, member: Any) -> None:
        bucket = index.get(key)
        if bucket is not None:
            self._ddel(bucket, member)

    def _reassign(
        self,
        table: dict[Any, Any],
        index: dict[str, dict[Any, None]],
        customer_ids: Collection[str],
        to: str | None,
        *,
        sequenced: bool = False,
    ) -> None:
        """Re-point (or delete, for None) the rows of ``customer_ids`` in an indexed table."""
        for cid in customer_ids:
            for key in list(index.get(cid, {})):
                if to is None:
                    self._ddel(table, key)
                    continue
                row = table[key]
                if sequenced:  # (sequence number, record)
                    self._dset(table, key, (row[0], attrs.evolve(row[1], customer_id=to)))
                else:
                    self._dset(table, key, attrs.evolve(row, customer_id=to))
                self._index_add(index, to, key)
            self._ddel(index, cid)

    # --- transactions -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed", entity="MemoryStore")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._check_open()
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._undo = []
            self._depth += 1
            try:
                yield
            except BaseException:
                if outer:
                    undo, self._undo = self._undo or [], None
                    for step, args in reversed(undo):
                        step(*args)
                raise
            finally:
                self._depth -= 1
                if outer:
                    self._undo = None

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose writes, across all repositories, are applied atomically.

        Example:
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.domain import Customer
            >>> store = MemoryStore()
            >>> try:
            ...     with store.transaction():
            ...         store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
            ...         raise RuntimeError("boom")
            ... except RuntimeError:
            ...     pass
            >>> store.customers.count()
            0
        """
        return self._transaction()

    # --- internal helpers ---------------------------------------------------------------

    def _live_id(self, customer_id: str, entity: str) -> str:
        owner = self.resolve(customer_id)
        if owner not in self._customers:
            raise NotFoundError(
                "no such customer", entity=entity, field="customer_id", value=customer_id
            )
        return owner

    def _is_suppressed_key(self, key: str) -> bool:
        return key in self._tombstones

    def _write_customer(self, customer: Customer) -> None:
        sh.check_not_suppressed(customer.identities, self._is_suppressed_key, entity="Customer")
        if self._tombstones:
            sh.check_id_not_erased(customer.id, self._is_suppressed_key)
        for identity in customer.identities:
            owner = self._identity.get(identity.key)
            if owner is not None and owner != customer.id:
                raise ConflictError(
                    f"belongs to customer {owner!r}",
                    entity="Customer",
                    field="identities",
                    value=identity.key,
                )
        old = self._customers.get(customer.id)
        if old is not None:
            keep = {i.key for i in customer.identities}
            for identity in old.identities:
                if identity.key not in keep:
                    self._ddel(self._identity, identity.key)
        for identity in customer.identities:
            self._dset(self._identity, identity.key, customer.id)
        self._dset(self._customers, customer.id, customer)

    def _refresh_refunds(self, order_id: str) -> None:
        if order_id not in self._order_cols.row:
            return
        refunded = 0.0
        returned = 0
        for refund_id in self._refunds_by_order.get(order_id, {}):
            row = sh.refund_row(self._refunds[refund_id][1])
            refunded += row.amount
            returned += row.returned_units
        self._order_cols.update(order_id, "refunded", refunded)
        self._order_cols.update(order_id, "returned", returned)

    def _sorted_refunds(self, ids: Iterable[str]) -> list[Refund]:
        rows = sorted((self._refunds[i] for i in ids), key=lambda r: (r[1].at, r[0]))
        return [refund for _, refund in rows]

    def _store_event(self, event: Event, seq: int) -> None:
        self._dset(self._events, event.id, (seq, event))
        if event.customer_id is not None:
            self._index_add(self._events_by_customer, event.customer_id, event.id)
        if event.anonymous_id is not None:
            self._index_add(self._events_by_anonymous, event.anonymous_id, event.id)
        self._event_cols.set(
            event.id,
            {
                "customer": event.customer_id,
                "anonymous": event.anonymous_id,
                "name": event.name,
                "at": sh.to_micros(event.at),
                "product": sh.event_product(event),
            },
        )

    def _drop_event(self, event_id: str) -> None:
        _, event = self._events[event_id]
        self._ddel(self._events, event_id)
        if event.customer_id is not None:
            self._index_remove(self._events_by_customer, event.customer_id, event_id)
        if event.anonymous_id is not None:
            self._index_remove(self._events_by_anonymous, event.anonymous_id, event_id)
        self._event_cols.delete(event_id)

    def _anonymous_ids(self, customer_id: str) -> list[str]:
        customer = self._customers.get(customer_id)
        if customer is None:
            return []
        return [i.value for i in customer.identities if i.kind is IdentityKind.ANONYMOUS]

    def _event_ids_of(self, customer_id: str) -> list[str]:
        ids = dict(self._events_by_customer.get(customer_id, {}))
        for anonymous_id in self._anonymous_ids(customer_id):
            ids.update(self._events_by_anonymous.get(anonymous_id, {}))
        return list(ids)

    def _aliases_of(self, customer_id: str) -> list[str]:
        return [m for m in self._alias if self.resolve(m) == customer_id]

    # --- identity resolution ------------------------------------------------------------

    def resolve(self, customer_id: str) -> str:
        """The surviving id after any chain of merges.

        Example:
            >>> MemoryStore().resolve("c9")
            'c9'
        """
        return sh.follow_merges(customer_id, self._alias.get)

    def add_tombstones(self, keys: Iterable[str]) -> None:
        """Keep these tombstone keys (the erasure's primitive).

        Example:
            >>> store = MemoryStore()
            >>> store.add_tombstones(["k1"])
            >>> store.has_tombstone("k1")
            True
        """
        for key in keys:
            self._dset(self._tombstones, key, True)

    def has_tombstone(self, key: str) -> bool:
        """True when this tombstone key is kept.

        Example:
            >>> MemoryStore().has_tombstone("k1")
            False
        """
        self._check_open()
        return key in self._tombstones

    def record_merge(self, record: MergeRecord) -> None:
        """Keep a merge record and the alias it implies (the merge's primitive).

        Example:
            >>> from datetime import datetime, timezone
            >>> store = MemoryStore()
            >>> store.record_merge(MergeRecord(survivor_id="a", merged_id="b",
            ...                                at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
            >>> store.resolve("b")
            'a'
        """
        self._dset(self._alias, record.merged_id, record.survivor_id)
        self._dset(self._merges, record.merged_id, (self._next_seq(), record))

    def merge_records(self) -> list[MergeRecord]:
        """Every merge record, in the order they were recorded.

        Example:
            >>> MemoryStore().merge_records()
            []
        """
        self._check_open()
        return [record for _, record in sorted(self._merges.values(), key=lambda r: r[0])]

    def merge_record(self, merged_id: str) -> MergeRecord | None:
        """The merge record of ``merged_id``, or None.

        Example:
            >>> MemoryStore().merge_record("b") is None
            True
        """
        found = self._merges.get(merged_id)
        return None if found is None else found[1]

    def forget_merges(self, customer_ids: Collection[str]) -> None:
        """Drop the merge records (and aliases) of these merged ids (the erasure's primitive).

        Example:
            >>> MemoryStore().forget_merges(["b"])
        """
        for merged in customer_ids:
            self._ddel(self._merges, merged)
            self._ddel(self._alias, merged)

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """The merges into this customer (directly or through a chain), oldest first.

        Example:
            >>> MemoryStore().merges("c1")
            []
        """
        self._check_open()
        target = self.resolve(customer_id)
        rows = [
            (seq, record)
            for seq, record in self._merges.values()
            if self.resolve(record.survivor_id) == target
        ]
        return [record for _, record in sorted(rows, key=lambda r: (r[1].at, r[0]))]

    # --- privacy ------------------------------------------------------------------------

    def _drop_refund(self, refund_id: str) -> None:
        found = self._refunds.get(refund_id)
        if found is None:
            return
        refund = found[1]
        self._ddel(self._refunds, refund_id)
        self._index_remove(self._refunds_by_order, refund.order_id, refund_id)
        self._index_remove(self._refunds_by_customer, refund.customer_id, refund_id)
        self._refresh_refunds(refund.order_id)

    def has_suppressions(self) -> bool:
        """True when any identity is suppressed (an optional fast path for importers).

        Example:
            >>> MemoryStore().has_suppressions()
            False
        """
        self._check_open()
        return bool(self._tombstones)

    def is_suppressed(self, identity: Identity) -> bool:
        """True when this identity belonged to an erased person.

        Example:
            >>> from ecomcrm.domain import Identity
            >>> MemoryStore().is_suppressed(Identity.email("a@b.co"))
            False
        """
        self._check_open()
        _check_type(identity, Identity, "Identity")
        return sh.tombstone_key(identity) in self._tombstones

    # --- analytics ----------------------------------------------------------------------

    def consent_facts(self) -> ConsentFacts:
        """Every consent decision of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(MemoryStore().consent_facts())
            0
        """
        self._check_open()
        live = self._customers
        rows = sorted(
            (sh.to_micros(c.at), seq, c)
            for seq, c in self._consents.items()
            if c.customer_id in live
        )
        return ConsentFacts.from_columns(
            customer_id=[c.customer_id for _, _, c in rows],
            channel=[c.channel.value for _, _, c in rows],
            purpose=[c.purpose.value for _, _, c in rows],
            granted=[c.granted for _, _, c in rows],
            at_us=[at for at, _, _ in rows],
        )

    def loyalty_facts(self) -> LoyaltyFacts:
        """Every loyalty entry of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(MemoryStore().loyalty_facts())
            0
        """
        self._check_open()
        live = self._customers
        rows = sorted(
            (sh.to_micros(e.at), seq, e)
            for seq, e in self._loyalty.values()
            if e.customer_id in live
        )
        return LoyaltyFacts.from_columns(
            customer_id=[e.customer_id for _, _, e in rows],
            points=[e.points for _, _, e in rows],
            at_us=[at for at, _, _ in rows],
        )

    def customer_table(self) -> CustomerTable:
        """All live customers as columns, ordered by id.

        Example:
            >>> len(MemoryStore().customer_table())
            0
        """
        self._check_open()
        people = list(self._customers.values())
        consents = []
        for customer in people:
            for (channel, purpose), consent in self.consents.current(customer.id).items():
                consents.append((customer.id, sh.consent_key(channel, purpose), consent.granted))
        return sh.customer_table_from_columns(
            ids=[c.id for c in people],
            created_at_us=[sh.to_micros(c.created_at) for c in people],
            country=[c.country for c in people],
            timezone=[c.timezone for c in people],
            birthday=[c.birthday for c in people],
            acquisition_channel=[c.acquisition_channel for c in people],
            tags=[c.tags for c in people],
            consents=consents,
            city=[c.addresses[0].city if c.addresses else None for c in people],
            email=[c.email for c in people],
        )

    def _live_ids(self) -> NDArray[np.str_]:
        return np.sort(np.asarray(list(self._customers), dtype=str))

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """All orders of live customers as columns; see :meth:`ecomcrm.storage.Store.order_facts`.

        Example:
            >>> MemoryStore().order_facts(currency="EUR").currency
            'EUR'
        """
        self._check_open()
        cols = self._order_cols
        alive = cols.alive()
        dense = bool(alive.all())

        def col(name: str, dtype: Any) -> Any:
            if dense:  # no erased rows: straight from the list, no object detour
                return np.asarray(cols.cols[name], dtype=dtype)
            return np.asarray(cols.cols[name], dtype=object)[alive].astype(dtype)

        return sh.order_facts_from_columns(
            customer_ids=self._live_ids(),
            order_id=np.asarray(cols.keys, dtype=object)[alive].astype(str),
            order_customer=col("customer", str),
            placed_at_us=col("placed_at", np.int64),
            amount=col("amount", np.float64),
            order_currency=col("currency", str),
            discount=col("discount", np.float64),
            refunded=col("refunded", np.float64),
            units=col("units", np.int64),
            returned_units=col("returned", np.int64),
            cancelled=col("cancelled", bool),
            currency=currency,
            rates=rates,
        )

    def line_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> LineFacts:
        """All order lines of live customers as columns; see :meth:`ecomcrm.storage.Store.line_facts`.

        Example:
            >>> MemoryStore().line_facts(currency="EUR").currency
            'EUR'
        """
        self._check_open()
        return sh.line_facts_from_objects(
            self._live_ids(),
            self._orders.values(),
            (refund for _, refund in self._refunds.values()),
            currency=currency,
            rates=rates,
        )

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """All events as columns, by ``at`` then id.

        Example:
            >>> len(MemoryStore().event_facts())
            0
        """
        self._check_open()
        cols = self._event_cols
        alive = cols.alive()
        customers = np.asarray(cols.cols["customer"], dtype=object)[alive]
        anonymous = np.asarray(cols.cols["anonymous"], dtype=object)[alive]
        unknown = np.flatnonzero(customers == None)  # noqa: E711
        for i in unknown.tolist():
            owner = self._identity.get(f"{IdentityKind.ANONYMOUS.value}:{anonymous[i]}")
            customers[i] = owner
        keys = np.asarray(cols.keys, dtype=object)[alive]
        return sh.event_facts_from_columns(
            customer_ids=self._live_ids(),
            event_id=keys.astype(str),
            event_customer=customers,
            name=np.asarray(cols.cols["name"], dtype=object)[alive].astype(str),
            at_us=np.asarray(cols.cols["at"], dtype=object)[alive].astype(np.int64),
            product=np.asarray(cols.cols["product"], dtype=object)[alive],
            names=names,
        )

    def close(self) -> None:
        """Drop everything; further use raises StorageError.

        Example:
            >>> store = MemoryStore()
            >>> store.close()
            >>> store.customers.count()
            Traceback (most recent call last):
            ...
            ecomcrm.errors.StorageError: MemoryStore: the store is closed
        """
        self._closed = True
