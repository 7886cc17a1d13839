"""The memory store's repositories over its owned tables."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import Any

import attrs

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    Event,
    Identity,
    LoyaltyEntry,
    Message,
    Order,
    Purpose,
    Refund,
    SupportTicket,
)
from ecomcrm.errors import ConflictError, NotFoundError, ValidationError
from ecomcrm.storage._protocols import Store
from ecomcrm.storage.memory._tables import _Tables


def _check_type(value: Any, cls: type, entity: str) -> None:
    if not isinstance(value, cls):
        raise ValidationError(
            f"must be a {cls.__name__}", entity=entity, field="argument", value=value
        )


class _Customers(sh.BaseCustomerRepository):
    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables

    def put(self, customer: Customer) -> None:
        _check_type(customer, Customer, "Customer")
        with self._s._transaction():
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
        with self._s._transaction():
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
        with self._s._transaction():
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
    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables

    def upsert(self, order: Order) -> bool:
        _check_type(order, Order, "Order")
        s = self._s
        with s._transaction():
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
        with self._s._transaction():
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
        ids = s._orders_by_customer.get(s.resolve(customer_id))
        if not ids:
            return []  # no order: nothing to sort
        return sorted((s._orders[i] for i in ids), key=lambda o: (o.placed_at, o.id))

    def count(self) -> int:
        self._s._check_open()
        return len(self._s._orders)

    def add_refund(self, refund: Refund) -> bool:
        _check_type(refund, Refund, "Refund")
        s = self._s
        with s._transaction():
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
        with self._s._transaction():
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
    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables

    def append(self, event: Event) -> bool:
        _check_type(event, Event, "Event")
        s = self._s
        with s._transaction():
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
        with self._s._transaction():
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
    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables

    def record(self, consent: Consent) -> None:
        _check_type(consent, Consent, "Consent")
        s = self._s
        with s._transaction():
            owner = s._live_id(consent.customer_id, "Consent")
            if owner != consent.customer_id:
                consent = attrs.evolve(consent, customer_id=owner)
            seq = s._next_seq()
            s._dset(s._consents, seq, consent)
            s._index_add(s._consents_by_customer, owner, seq)
            sh.audit_consents(self.store, [consent])

    def record_many(self, consents: Iterable[Consent]) -> int:
        s = self._s
        n = 0
        with s._transaction():
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
    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables

    def upsert(self, ticket: SupportTicket) -> bool:
        _check_type(ticket, SupportTicket, "SupportTicket")
        s = self._s
        with s._transaction():
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
        with self._s._transaction():
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
    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables

    def append(self, entry: LoyaltyEntry) -> bool:
        _check_type(entry, LoyaltyEntry, "LoyaltyEntry")
        s = self._s
        with s._transaction():
            if entry.id in s._loyalty:
                return False
            owner = s.resolve(entry.customer_id)
            if owner != entry.customer_id:
                entry = attrs.evolve(entry, customer_id=owner)
            s._dset(s._loyalty, entry.id, (s._next_seq(), entry))
            s._index_add(s._loyalty_by_customer, owner, entry.id)
            return True

    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        with self._s._transaction():
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
        s = self._s
        s._check_open()
        ids = s._loyalty_by_customer.get(s.resolve(customer_id))
        if not ids:
            return 0  # no entry (most customers between purchases): nothing to sort or add
        return sum(s._loyalty[i][1].points for i in ids)  # a sum of ints: order is irrelevant

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        s = self._s
        s._reassign(s._loyalty, s._loyalty_by_customer, customer_ids, to, sequenced=True)


class _Messages(sh.BaseMessageRepository):
    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables

    def upsert(self, message: Message) -> bool:
        _check_type(message, Message, "Message")
        s = self._s
        with s._transaction():
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
