# Method docstrings live on the protocols in ecomcrm.storage; this file does not repeat them.
# ruff: noqa: D101, D102
"""DictStore: a small but complete ecomcrm storage adapter, kept in plain dicts.

This is the example of docs/write-a-storage-adapter.md. It implements the whole
``ecomcrm.storage.Store`` contract in about 350 lines and passes the conformance kit
(tests/storage/test_example_adapter.py). It favours clarity over speed: there are no
secondary indexes (reads scan a table) and a transaction snapshots every table.

What an adapter does itself: keep records, look them up, make writes atomic.
What it borrows from ``ecomcrm.storage.toolkit``: the rules that must be identical in
every adapter (tombstone hashing, merge field filling, erasure anonymisation, export and
360 documents, compare-and-set checks, columnar builders).

Run it through ``open_store`` after registering it (a packaged plugin would declare the
entry point ``[project.entry-points."ecomcrm.stores"] dict = "dict_store:DictStore.from_url"``
instead)::

    from ecomcrm.storage import open_store, register_store
    register_store("dict", DictStore.from_url)
    store = open_store("dict://")
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs

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
from ecomcrm.storage import (
    ConsentRepository,
    Customer360,
    CustomerRepository,
    CustomerTable,
    ErasureReceipt,
    EventFacts,
    EventRepository,
    LineFacts,
    LoyaltyRepository,
    MergeRecord,
    MessageRepository,
    OrderFacts,
    OrderRepository,
    StateRecord,
    StateRepository,
    TicketRepository,
)
from ecomcrm.storage import toolkit as sh

TABLES = (
    "customers",  # id -> Customer
    "identities",  # "kind:value" -> customer id
    "aliases",  # merged id -> survivor id
    "tombstones",  # tombstone key -> True
    "merges",  # merged id -> (seq, MergeRecord)
    "orders",  # id -> Order
    "refunds",  # id -> (seq, Refund)
    "events",  # id -> (seq, Event)
    "consents",  # seq -> Consent
    "tickets",  # id -> SupportTicket
    "loyalty",  # id -> (seq, LoyaltyEntry)
    "messages",  # id -> Message
    "state",  # key -> StateRecord
)


class _Repo:
    def __init__(self, store: DictStore) -> None:
        self.s = store
        self.t = store.tables


class Customers(_Repo):
    def put(self, customer: Customer) -> None:
        with self.s.transaction():
            if customer.id in self.t["customers"] or customer.id in self.t["aliases"]:
                raise ConflictError("exists", entity="Customer", field="id", value=customer.id)
            self.s.write_customer(customer)

    def upsert(self, customer: Customer) -> bool:
        with self.s.transaction():
            if customer.id in self.t["aliases"]:
                raise ConflictError("was merged", entity="Customer", field="id", value=customer.id)
            created = customer.id not in self.t["customers"]
            self.s.write_customer(customer)
            return created

    def put_many(self, customers: Iterable[Customer]) -> int:
        with self.s.transaction():
            return sum(1 for c in customers if self.upsert(c) or True)

    def get(self, customer_id: str) -> Customer:
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError("no such customer", entity="Customer", value=customer_id)
        return found

    def find(self, customer_id: str) -> Customer | None:
        found: Customer | None = self.t["customers"].get(self.s.resolve(customer_id))
        return found

    def find_by_identity(self, identity: Identity) -> Customer | None:
        owner = self.t["identities"].get(identity.key)
        return None if owner is None else self.find(owner)

    def iterate(self) -> Iterator[Customer]:
        return iter([self.t["customers"][k] for k in sorted(self.t["customers"])])

    def count(self) -> int:
        return len(self.t["customers"])


class Orders(_Repo):
    def upsert(self, order: Order) -> bool:
        with self.s.transaction():
            owner = self.s.live_id(order.customer_id)
            created = order.id not in self.t["orders"]
            self.t["orders"][order.id] = attrs.evolve(order, customer_id=owner)
            return created

    def put_many(self, orders: Iterable[Order]) -> int:
        with self.s.transaction():
            return sum(1 for o in orders if self.upsert(o) or True)

    def get(self, order_id: str) -> Order:
        if order_id not in self.t["orders"]:
            raise NotFoundError("no such order", entity="Order", value=order_id)
        order: Order = self.t["orders"][order_id]
        return order

    def for_customer(self, customer_id: str) -> list[Order]:
        cid = self.s.resolve(customer_id)
        found = [o for o in self.t["orders"].values() if o.customer_id == cid]
        return sorted(found, key=lambda o: (o.placed_at, o.id))

    def count(self) -> int:
        return len(self.t["orders"])

    def add_refund(self, refund: Refund) -> bool:
        with self.s.transaction():
            if refund.order_id not in self.t["orders"]:
                raise NotFoundError("no such order", entity="Refund", value=refund.order_id)
            if refund.id in self.t["refunds"]:
                return False
            owner = self.s.resolve(refund.customer_id)
            self.t["refunds"][refund.id] = (self.s.seq(), attrs.evolve(refund, customer_id=owner))
            return True

    def add_refunds(self, refunds: Iterable[Refund]) -> int:
        new = 0
        with self.s.transaction():
            for row, refund in enumerate(refunds):
                if refund.order_id not in self.t["orders"]:
                    raise NotFoundError(
                        "no such order", entity="Refund", value=refund.order_id, row=row
                    )
                new += self.add_refund(refund)
        return new

    def _refunds(self, keep: Any) -> list[Refund]:
        rows = sorted(
            (r for r in self.t["refunds"].values() if keep(r[1])), key=lambda r: (r[1].at, r[0])
        )
        return [refund for _, refund in rows]

    def refunds_for_order(self, order_id: str) -> list[Refund]:
        return self._refunds(lambda r: r.order_id == order_id)

    def refunds_for_customer(self, customer_id: str) -> list[Refund]:
        cid = self.s.resolve(customer_id)
        return self._refunds(lambda r: r.customer_id == cid)


class Events(_Repo):
    def append(self, event: Event) -> bool:
        with self.s.transaction():
            if event.id in self.t["events"]:
                return False
            if event.customer_id is not None:
                event = attrs.evolve(event, customer_id=self.s.resolve(event.customer_id))
            self.t["events"][event.id] = (self.s.seq(), event)
            return True

    def append_many(self, events: Iterable[Event]) -> int:
        with self.s.transaction():
            return sum(self.append(e) for e in events)

    def for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        names: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        cid = self.s.resolve(customer_id)
        wanted = sh.event_names(names)  # " Viewed" finds what was stored from " Viewed"
        found = sorted(
            (
                e
                for e in self.s.events_of(cid)
                if (since is None or e.at >= since) and (wanted is None or e.name in wanted)
            ),
            key=lambda e: (e.at, e.id),
        )
        return found if limit is None else (found[-limit:] if limit > 0 else [])

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        found = [e for _, e in self.t["events"].values() if e.anonymous_id == anonymous_id]
        return sorted(found, key=lambda e: (e.at, e.id))

    def count(self) -> int:
        return len(self.t["events"])


class Consents(_Repo):
    def record(self, consent: Consent) -> None:
        with self.s.transaction():
            owner = self.s.live_id(consent.customer_id)
            self.t["consents"][self.s.seq()] = attrs.evolve(consent, customer_id=owner)

    def record_many(self, consents: Iterable[Consent]) -> int:
        n = 0
        with self.s.transaction():
            for consent in consents:
                try:
                    self.record(consent)
                except NotFoundError:
                    raise NotFoundError(
                        "no such customer",
                        entity="Consent",
                        field="customer_id",
                        value=consent.customer_id,
                        row=n,
                    ) from None
                n += 1
        return n

    def history(self, customer_id: str) -> list[Consent]:
        cid = self.s.resolve(customer_id)
        rows = sorted((q, c) for q, c in self.t["consents"].items() if c.customer_id == cid)
        return sorted((c for _, c in rows), key=lambda c: c.at)  # stable: ties keep insertion

    def current(self, customer_id: str) -> dict[tuple[Channel, Purpose], Consent]:
        return sh.latest_consents(self.history(customer_id))

    def is_granted(self, customer_id: str, channel: Channel | str, purpose: Purpose | str) -> bool:
        latest = self.current(customer_id).get((Channel(channel), Purpose(purpose)))
        return latest is not None and latest.granted


class Tickets(_Repo):
    def upsert(self, ticket: SupportTicket) -> bool:
        with self.s.transaction():
            owner = self.s.live_id(ticket.customer_id)
            created = ticket.id not in self.t["tickets"]
            self.t["tickets"][ticket.id] = attrs.evolve(ticket, customer_id=owner)
            return created

    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        n = 0
        with self.s.transaction():
            for ticket in tickets:
                if self.s.resolve(ticket.customer_id) not in self.t["customers"]:
                    raise NotFoundError(
                        "no such customer", entity="SupportTicket", value=ticket.customer_id, row=n
                    )
                self.upsert(ticket)
                n += 1
        return n

    def get(self, ticket_id: str) -> SupportTicket:
        if ticket_id not in self.t["tickets"]:
            raise NotFoundError("no such ticket", entity="SupportTicket", value=ticket_id)
        ticket: SupportTicket = self.t["tickets"][ticket_id]
        return ticket

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        cid = self.s.resolve(customer_id)
        found = [t for t in self.t["tickets"].values() if t.customer_id == cid]
        return sorted(found, key=lambda t: (t.opened_at, t.id))


class Loyalty(_Repo):
    def append(self, entry: LoyaltyEntry) -> bool:
        with self.s.transaction():
            if entry.id in self.t["loyalty"]:
                return False
            owner = self.s.resolve(entry.customer_id)
            self.t["loyalty"][entry.id] = (self.s.seq(), attrs.evolve(entry, customer_id=owner))
            return True

    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        with self.s.transaction():
            return sum(self.append(entry) for entry in entries)

    def has(self, entry_id: str) -> bool:
        return entry_id in self.t["loyalty"]

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        cid = self.s.resolve(customer_id)
        rows = sorted(
            (r for r in self.t["loyalty"].values() if r[1].customer_id == cid),
            key=lambda r: (r[1].at, r[0]),
        )
        return [entry for _, entry in rows]

    def balance(self, customer_id: str) -> int:
        return sum(e.points for e in self.entries(customer_id))


class Messages(_Repo):
    def upsert(self, message: Message) -> bool:
        with self.s.transaction():
            created = message.id not in self.t["messages"]
            owner = self.s.resolve(message.customer_id)
            self.t["messages"][message.id] = attrs.evolve(message, customer_id=owner)
            return created

    def get(self, message_id: str) -> Message:
        if message_id not in self.t["messages"]:
            raise NotFoundError("no such message", entity="Message", value=message_id)
        message: Message = self.t["messages"][message_id]
        return message

    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        cid = self.s.resolve(customer_id)
        found = [
            m
            for m in self.t["messages"].values()
            if m.customer_id == cid and (since is None or m.at >= since)
        ]
        return sorted(found, key=lambda m: (m.at, m.id))


class State(_Repo):
    def get(self, key: str) -> StateRecord | None:
        record: StateRecord | None = self.t["state"].get(sh.check_state_key(key))
        return (
            None
            if record is None
            else attrs.evolve(record, value=sh.freeze_state_value(record.value))
        )

    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        expected_version: int | None,
        owner: str | None = None,
    ) -> StateRecord:
        frozen = sh.freeze_state_value(value)
        sh.check_state_owner(owner)
        with self.s.transaction():
            stored = self.t["state"].get(sh.check_state_key(key))
            version = sh.check_expected_version(key, stored and stored.version, expected_version)
            record = StateRecord(key=key, value=frozen, version=version, owner=owner)
            self.t["state"][key] = record
            return attrs.evolve(record, value=sh.freeze_state_value(frozen))

    def delete(self, key: str, *, expected_version: int) -> None:
        with self.s.transaction():
            stored = self.t["state"].get(sh.check_state_key(key))
            sh.check_expected_version(key, stored and stored.version, expected_version)
            del self.t["state"][key]

    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        keys = sorted(
            k
            for k in self.t["state"]
            if k.startswith(prefix) and (start is None or k >= start) and (stop is None or k < stop)
        )
        return [r for k in keys[:limit] if (r := self.get(k)) is not None]


class DictStore:
    """The example adapter: every table is a dict; a transaction snapshots them all."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self._depth = 0
        self._counter = itertools.count()
        self.customers: CustomerRepository = Customers(self)
        self.orders: OrderRepository = Orders(self)
        self.events: EventRepository = Events(self)
        self.consents: ConsentRepository = Consents(self)
        self.tickets: TicketRepository = Tickets(self)
        self.loyalty: LoyaltyRepository = Loyalty(self)
        self.messages: MessageRepository = Messages(self)
        self.state: StateRepository = State(self)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> DictStore:
        """The factory ``open_store`` calls for ``dict://`` URLs."""
        return cls(**options)

    # --- plumbing ---------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Snapshot every table on entry of the outermost block; restore them on error."""
        snapshot = (
            {name: dict(table) for name, table in self.tables.items()} if self._depth == 0 else None
        )
        self._depth += 1
        try:
            yield
        except BaseException:
            if snapshot is not None:
                for name, saved in snapshot.items():  # restore in place: repos hold the dicts
                    self.tables[name].clear()
                    self.tables[name].update(saved)
            raise
        finally:
            self._depth -= 1

    def seq(self) -> int:
        return next(self._counter)

    def live_id(self, customer_id: str) -> str:
        owner = self.resolve(customer_id)
        if owner not in self.tables["customers"]:
            raise NotFoundError("no such customer", entity="Customer", value=customer_id)
        return owner

    def write_customer(self, customer: Customer) -> None:
        t = self.tables
        sh.check_not_suppressed(
            customer.identities, t["tombstones"].__contains__, entity="Customer"
        )
        sh.check_id_not_erased(customer.id, t["tombstones"].__contains__)  # an erased id
        for identity in customer.identities:
            if t["identities"].get(identity.key, customer.id) != customer.id:
                raise ConflictError(
                    "taken", entity="Customer", field="identities", value=identity.key
                )
        for key in [k for k, owner in t["identities"].items() if owner == customer.id]:
            del t["identities"][key]
        for identity in customer.identities:
            t["identities"][identity.key] = customer.id
        t["customers"][customer.id] = customer

    def events_of(self, cid: str) -> list[Event]:
        person = self.tables["customers"].get(cid)
        cookies = (
            {i.value for i in person.identities if i.kind is IdentityKind.ANONYMOUS}
            if person
            else set()
        )
        return [
            e
            for _, e in self.tables["events"].values()
            if e.customer_id == cid or (e.customer_id is None and e.anonymous_id in cookies)
        ]

    def _repoint(self, old: str, new: str) -> None:
        t = self.tables
        for name in ("orders", "tickets", "messages"):
            for key, obj in t[name].items():
                if obj.customer_id == old:
                    t[name][key] = attrs.evolve(obj, customer_id=new)
        for name in ("refunds", "events", "loyalty"):
            for key, (seq, obj) in t[name].items():
                if obj.customer_id == old:
                    t[name][key] = (seq, attrs.evolve(obj, customer_id=new))
        for seq, c in t["consents"].items():
            if c.customer_id == old:
                t["consents"][seq] = attrs.evolve(c, customer_id=new)

    # --- identity resolution ----------------------------------------------------------

    def link_identity(self, customer_id: str, identity: Identity) -> None:
        """Attach an identity; an anonymous id also re-points its unowned events."""
        with self.transaction():
            person = self.customers.get(customer_id)
            holder = self.tables["identities"].get(identity.key)
            if holder == person.id:
                return
            if holder is not None:
                raise ConflictError("taken", entity="Identity", field="value", value=identity.key)
            sh.check_not_suppressed(
                [identity], self.tables["tombstones"].__contains__, entity="Identity"
            )
            self.write_customer(attrs.evolve(person, identities=(*person.identities, identity)))
            if identity.kind is IdentityKind.ANONYMOUS:
                for key, (seq, e) in self.tables["events"].items():
                    if e.customer_id is None and e.anonymous_id == identity.value:
                        self.tables["events"][key] = (seq, attrs.evolve(e, customer_id=person.id))

    def resolve(self, customer_id: str) -> str:
        """Follow merges to the surviving id."""
        return sh.follow_merges(customer_id, self.tables["aliases"].get)

    def merge(self, survivor_id: str, merged_id: str, *, at: datetime) -> MergeRecord:
        """Fold ``merged_id`` into ``survivor_id`` (idempotent, cycle-safe)."""
        with self.transaction():
            s, m = self.resolve(survivor_id), self.resolve(merged_id)
            if s == m:
                for candidate in (merged_id, survivor_id):
                    if candidate in self.tables["merges"]:
                        record: MergeRecord = self.tables["merges"][candidate][1]
                        return record
                self.live_id(s)
                raise ValidationError(
                    "cannot merge a customer into itself", entity="merge", value=s
                )
            survivor, merged = self.customers.get(s), self.customers.get(m)
            del self.tables["customers"][m]
            for key, owner in list(self.tables["identities"].items()):
                if owner == m:
                    del self.tables["identities"][key]
            self.write_customer(sh.merge_profiles(survivor, merged))
            self.tables["aliases"][m] = s
            self._repoint(m, s)
            record = MergeRecord(survivor_id=s, merged_id=m, at=at)
            self.tables["merges"][m] = (self.seq(), record)
            return record

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """Merges whose survivor resolves to this customer, oldest first."""
        target = self.resolve(customer_id)
        rows = [
            r for r in self.tables["merges"].values() if self.resolve(r[1].survivor_id) == target
        ]
        return [record for _, record in sorted(rows, key=lambda r: (r[1].at, r[0]))]

    # --- privacy ----------------------------------------------------------------------

    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything about the person (the shared export layout)."""
        return sh.build_export(self, customer_id)

    def erase(self, customer_id: str, *, keep_order_facts: bool = False) -> ErasureReceipt:
        """Delete the person everywhere, keep tombstones (and maybe anonymous orders)."""
        with self.transaction():
            t = self.tables
            person = self.customers.get(customer_id)
            cid = person.id
            ids = {cid, *(a for a in t["aliases"] if self.resolve(a) == cid)}
            stones = sh.erasure_tombstones(person.identities, ids)
            t["tombstones"].update(dict.fromkeys(stones, True))
            doomed = {e.id for e in self.events_of(cid)}
            counts = {"events": len(doomed), "identities": len(person.identities)}
            for key in doomed:
                del t["events"][key]
            for name in ("identities", "aliases"):
                for key in [k for k, v in t[name].items() if v in ids]:
                    del t[name][key]
            for name in ("tickets", "messages", "consents"):
                gone = [k for k, v in t[name].items() if v.customer_id == cid]
                counts[name] = len(gone)
                for key in gone:
                    del t[name][key]
            for name in ("loyalty", "refunds"):
                gone = [k for k, (_, v) in t[name].items() if v.customer_id == cid]
                counts[name] = len(gone)
                if name == "refunds" and keep_order_facts:
                    continue
                for key in gone:
                    del t[name][key]
            orders = [k for k, o in t["orders"].items() if o.customer_id == cid]
            counts["orders"] = len(orders)
            if keep_order_facts and orders:
                anon = sh.new_anonymous_id()
                t["customers"][anon] = sh.anonymous_customer(person, anon)
                for key in orders:
                    t["orders"][key] = sh.anonymise_order(t["orders"][key], anon)
                for key, (seq, r) in list(t["refunds"].items()):
                    if r.customer_id == cid:
                        t["refunds"][key] = (seq, sh.anonymise_refund(r, anon))
            else:
                for key in orders:
                    del t["orders"][key]
                for key in [k for k, (_, r) in t["refunds"].items() if r.order_id in orders]:
                    del t["refunds"][key]
            for key in [k for k in t["merges"] if k in ids]:
                del t["merges"][key]
            owners = set(sh.state_owners_of(ids, person.identities))  # whole ids, never key parts
            owned = [k for k, r in t["state"].items() if r.owner in owners]
            counts["state"] = len(owned)
            for key in owned:
                del t["state"][key]
            del t["customers"][cid]
            return ErasureReceipt(
                customer_id=cid,
                tombstones=tuple(stones),
                kept_order_facts=bool(keep_order_facts and orders),
                counts=counts,
            )

    def is_suppressed(self, identity: Identity) -> bool:
        """True when the identity's tombstone is kept."""
        return sh.tombstone_key(identity) in self.tables["tombstones"]

    # --- analytics: plain column lists in, arrays out (the shared builders) ------------

    def customer_table(self) -> CustomerTable:
        """All live customers as columns."""
        people = list(self.tables["customers"].values())
        consents = [
            (c.id, sh.consent_key(ch, pu), d.granted)
            for c in people
            for (ch, pu), d in self.consents.current(c.id).items()
        ]
        return sh.customer_table_from_columns(
            ids=[c.id for c in people],
            created_at_us=[sh.to_micros(c.created_at) for c in people],
            country=[c.country for c in people],
            timezone=[c.timezone for c in people],
            birthday=[c.birthday for c in people],
            acquisition_channel=[c.acquisition_channel for c in people],
            tags=[c.tags for c in people],
            consents=consents,
        )

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """All orders as columns, converted to one currency."""
        rows = [sh.order_row(o) for o in self.tables["orders"].values()]
        refunded: dict[str, float] = {}
        returned: dict[str, int] = {}
        for _, refund in self.tables["refunds"].values():
            r = sh.refund_row(refund)
            refunded[r.order_id] = refunded.get(r.order_id, 0.0) + r.amount
            returned[r.order_id] = returned.get(r.order_id, 0) + r.returned_units
        return sh.order_facts_from_columns(
            customer_ids=sorted(self.tables["customers"]),
            order_id=[r.order_id for r in rows],
            order_customer=[r.customer_id for r in rows],
            placed_at_us=[r.placed_at_us for r in rows],
            amount=[r.amount for r in rows],
            order_currency=[r.currency for r in rows],
            discount=[r.discount for r in rows],
            refunded=[refunded.get(r.order_id, 0.0) for r in rows],
            units=[r.units for r in rows],
            returned_units=[returned.get(r.order_id, 0) for r in rows],
            cancelled=[r.cancelled for r in rows],
            currency=currency,
            rates=rates,
        )

    def line_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> LineFacts:
        """All order lines as columns (the shared builder flattens the stored objects)."""
        return sh.line_facts_from_objects(
            sorted(self.tables["customers"]),
            self.tables["orders"].values(),
            (refund for _, refund in self.tables["refunds"].values()),
            currency=currency,
            rates=rates,
        )

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """All events as columns (anonymous ids resolved through linked identities)."""
        events = [e for _, e in self.tables["events"].values()]
        owners = self.tables["identities"]
        return sh.event_facts_from_columns(
            customer_ids=sorted(self.tables["customers"]),
            event_id=[e.id for e in events],
            event_customer=[
                e.customer_id or owners.get(f"anonymous:{e.anonymous_id}") for e in events
            ],
            name=[e.name for e in events],
            at_us=[sh.to_micros(e.at) for e in events],
            product=[sh.event_product(e) for e in events],
            names=names,
        )

    def customer_360(
        self, customer_id: str, *, recent_events: int = 50, messages: int = 50
    ) -> Customer360:
        """The support view (the shared builder over this store's reads)."""
        return sh.build_customer_360(
            self, customer_id, recent_events=recent_events, messages=messages
        )

    def close(self) -> None:
        """Drop all data; later calls fail with StorageError (tables are gone)."""
        for name in TABLES:  # swap every table for one that refuses all access
            self.tables[name] = _Closed()


class _Closed(dict[Any, Any]):
    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise StorageError("the store is closed", entity="DictStore")

    __getitem__ = __contains__ = __iter__ = get = items = values = __setitem__ = _fail
