# Method docstrings live on the protocols in ecomcrm.storage and on the toolkit's base
# classes; this file does not repeat them.
# ruff: noqa: D101, D102
"""DictStore: a small but complete ecomcrm storage adapter, kept in plain dicts.

This is the example of docs/write-a-storage-adapter.md. It implements the whole
``ecomcrm.storage.Store`` contract and passes the conformance kit
(tests/storage/test_example_adapter.py). It favours clarity over speed: there are no
secondary indexes (reads scan a table) and a transaction snapshots every table.

What an adapter does itself: keep records, look them up, make writes atomic; that is
the 40 methods the toolkit's base classes leave abstract (``ecomcrm.storage.toolkit.
required_methods()``). Everything else comes from ``ecomcrm.storage.toolkit``: the
derived methods (bulk writes, ``get``, current consents, ``link_identity``, merge,
erasure, export, the 360 view, the columnar reads) and the rules that must be identical
in every adapter (tombstone hashing, compare-and-set checks, anonymisation).

Run it through ``open_store`` after registering it (a packaged plugin would declare the
entry point ``[project.entry-points."ecomcrm.stores"] dict = "dict_store:DictStore.from_url"``
instead)::

    from ecomcrm.storage import open_store, register_store
    register_store("dict", DictStore.from_url)
    store = open_store("dict://")
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs

from ecomcrm.domain import (
    Consent,
    Customer,
    Event,
    Identity,
    IdentityKind,
    LoyaltyEntry,
    Message,
    Order,
    Refund,
    SupportTicket,
)
from ecomcrm.errors import ConflictError, NotFoundError, StorageError
from ecomcrm.storage import AuditEntry, MergeRecord, StateRecord
from ecomcrm.storage import toolkit as tk

TABLES = (
    "customers",  # id -> Customer
    "identities",  # "kind:value" -> customer id
    "tombstones",  # tombstone key -> True
    "merges",  # merged id -> MergeRecord (in insertion order)
    "orders",  # id -> Order
    "refunds",  # id -> Refund (in insertion order)
    "events",  # id -> Event
    "consents",  # sequence number -> Consent
    "tickets",  # id -> SupportTicket
    "loyalty",  # id -> LoyaltyEntry (in insertion order)
    "messages",  # id -> Message
    "state",  # key -> StateRecord
    "audit",  # sequence number -> AuditEntry (the optional audit log)
)


class _Table:
    """The rows of one table that belong to customers: re-point or delete them."""

    name = ""

    def __init__(self, store: DictStore) -> None:
        super().__init__(store)  # type: ignore[call-arg]  # BaseRepository keeps .store
        self.s = store
        self.t = store.tables

    def rows(self, keep: Callable[[Any], bool]) -> list[Any]:
        return [row for row in self.t[self.name].values() if keep(row)]

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        table = self.t[self.name]
        for key, row in list(table.items()):
            if row.customer_id in customer_ids:
                if to is None:
                    del table[key]
                else:
                    table[key] = attrs.evolve(row, customer_id=to)

    def owner(self, customer_id: str, entity: str) -> str:
        """The live (resolved) customer id, or NotFoundError."""
        cid = self.s.resolve(customer_id)
        if cid not in self.t["customers"]:
            raise NotFoundError("no such customer", entity=entity, value=customer_id)
        return cid

    def fetch(self, key: str, entity: str) -> Any:
        if key not in self.t[self.name]:
            raise NotFoundError(f"no such {entity}", entity=entity, value=key)
        return self.t[self.name][key]


class Customers(_Table, tk.BaseCustomerRepository):
    name = "customers"

    def upsert(self, customer: Customer) -> bool:
        t = self.t
        with self.store.transaction():
            if customer.id in t["merges"]:
                raise ConflictError("was merged", entity="Customer", field="id", value=customer.id)
            tk.check_not_suppressed(customer.identities, self.s.has_tombstone, entity="Customer")
            tk.check_id_not_erased(customer.id, self.s.has_tombstone)
            for identity in customer.identities:
                if t["identities"].get(identity.key, customer.id) != customer.id:
                    raise ConflictError(
                        "taken", entity="Customer", field="identities", value=identity.key
                    )
            created = customer.id not in t["customers"]
            self.remove([customer.id])
            t["identities"].update(dict.fromkeys((i.key for i in customer.identities), customer.id))
            t["customers"][customer.id] = customer
            return created

    def find(self, customer_id: str) -> Customer | None:
        found: Customer | None = self.t["customers"].get(self.store.resolve(customer_id))
        return found

    def find_by_identity(self, identity: Identity) -> Customer | None:
        owner = self.t["identities"].get(identity.key)
        return None if owner is None else self.find(owner)

    def iterate(self) -> Iterator[Customer]:
        return iter([self.t["customers"][k] for k in sorted(self.t["customers"])])

    def remove(self, customer_ids: Collection[str]) -> None:
        for key in [k for k, owner in self.t["identities"].items() if owner in customer_ids]:
            del self.t["identities"][key]
        for cid in customer_ids:
            self.t["customers"].pop(cid, None)


class Orders(_Table, tk.BaseOrderRepository):
    name = "orders"

    def upsert(self, order: Order) -> bool:
        with self.store.transaction():
            owner = self.owner(order.customer_id, "Order")
            created = order.id not in self.t["orders"]
            self.t["orders"][order.id] = attrs.evolve(order, customer_id=owner)
            return created

    def get(self, order_id: str) -> Order:
        order: Order = self.fetch(order_id, "Order")
        return order

    def for_customer(self, customer_id: str) -> list[Order]:
        cid = self.store.resolve(customer_id)
        return sorted(self.rows(lambda o: o.customer_id == cid), key=lambda o: (o.placed_at, o.id))

    def add_refund(self, refund: Refund) -> bool:
        with self.store.transaction():
            order = self.get(refund.order_id)
            if refund.id in self.t["refunds"]:
                return False
            self.t["refunds"][refund.id] = attrs.evolve(refund, customer_id=order.customer_id)
            return True

    def refunds_for_order(self, order_id: str) -> list[Refund]:
        found = [r for r in self.t["refunds"].values() if r.order_id == order_id]
        return sorted(found, key=lambda r: r.at)  # stable: ties keep insertion order

    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymise: bool = False
    ) -> None:
        orders, refunds = self.t["orders"], self.t["refunds"]
        mine = {k for k, o in orders.items() if o.customer_id in customer_ids}
        for key, refund in list(refunds.items()):
            if refund.order_id in mine or refund.customer_id in customer_ids:
                if to is None:
                    del refunds[key]
                else:
                    kept = tk.anonymise_refund(refund, to) if anonymise else refund
                    refunds[key] = attrs.evolve(kept, customer_id=to)
        for key in mine:
            if to is None:
                del orders[key]
            else:
                kept = tk.anonymise_order(orders[key], to) if anonymise else orders[key]
                orders[key] = attrs.evolve(kept, customer_id=to)


class Events(_Table, tk.BaseEventRepository):
    name = "events"

    def append(self, event: Event) -> bool:
        with self.store.transaction():
            if event.id in self.t["events"]:
                return False
            if event.customer_id is not None:
                event = attrs.evolve(event, customer_id=self.store.resolve(event.customer_id))
            self.t["events"][event.id] = event
            return True

    def for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        names: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        cid = self.s.resolve(customer_id)
        person = self.t["customers"].get(cid)
        cookies = (
            {i.value for i in person.identities if i.kind is IdentityKind.ANONYMOUS}
            if person
            else set()
        )
        wanted = tk.event_names(names)  # " Viewed" finds what was stored from " Viewed"
        found = sorted(
            self.rows(
                lambda e: (
                    (e.customer_id == cid or (e.customer_id is None and e.anonymous_id in cookies))
                    and (since is None or e.at >= since)
                    and (wanted is None or e.name in wanted)
                )
            ),
            key=lambda e: (e.at, e.id),
        )
        return found if limit is None else (found[-limit:] if limit > 0 else [])

    def iterate(self) -> Iterator[Event]:
        return iter(list(self.t["events"].values()))

    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymous_ids: Collection[str] = ()
    ) -> None:
        table = self.t["events"]
        for key, e in list(table.items()):
            if e.customer_id in customer_ids or (
                e.customer_id is None and e.anonymous_id in anonymous_ids
            ):
                if to is None:
                    del table[key]
                else:
                    table[key] = attrs.evolve(e, customer_id=to)


class Consents(_Table, tk.BaseConsentRepository):
    name = "consents"

    def record(self, consent: Consent) -> None:
        with self.store.transaction():
            owner = self.owner(consent.customer_id, "Consent")
            stored = attrs.evolve(consent, customer_id=owner)
            self.t["consents"][self.s.seq()] = stored
            tk.audit_consents(self.store, [stored])  # the audit log's consent entries

    def history(self, customer_id: str) -> list[Consent]:
        cid = self.store.resolve(customer_id)
        return sorted(self.rows(lambda c: c.customer_id == cid), key=lambda c: c.at)


class Tickets(_Table, tk.BaseTicketRepository):
    name = "tickets"

    def upsert(self, ticket: SupportTicket) -> bool:
        with self.store.transaction():
            owner = self.owner(ticket.customer_id, "SupportTicket")
            created = ticket.id not in self.t["tickets"]
            self.t["tickets"][ticket.id] = attrs.evolve(ticket, customer_id=owner)
            return created

    def get(self, ticket_id: str) -> SupportTicket:
        ticket: SupportTicket = self.fetch(ticket_id, "SupportTicket")
        return ticket

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        cid = self.store.resolve(customer_id)
        return sorted(self.rows(lambda t: t.customer_id == cid), key=lambda t: (t.opened_at, t.id))


class Loyalty(_Table, tk.BaseLoyaltyRepository):
    name = "loyalty"

    def append(self, entry: LoyaltyEntry) -> bool:
        with self.store.transaction():
            if entry.id in self.t["loyalty"]:
                return False
            owner = self.store.resolve(entry.customer_id)
            self.t["loyalty"][entry.id] = attrs.evolve(entry, customer_id=owner)
            return True

    def has(self, entry_id: str) -> bool:
        return entry_id in self.t["loyalty"]

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        cid = self.store.resolve(customer_id)
        return sorted(self.rows(lambda e: e.customer_id == cid), key=lambda e: e.at)


class Messages(_Table, tk.BaseMessageRepository):
    name = "messages"

    def upsert(self, message: Message) -> bool:
        with self.store.transaction():
            created = message.id not in self.t["messages"]
            owner = self.store.resolve(message.customer_id)
            self.t["messages"][message.id] = attrs.evolve(message, customer_id=owner)
            return created

    def get(self, message_id: str) -> Message:
        message: Message = self.fetch(message_id, "Message")
        return message

    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        cid = self.store.resolve(customer_id)
        found = self.rows(lambda m: m.customer_id == cid and (since is None or m.at >= since))
        return sorted(found, key=lambda m: (m.at, m.id))


class State(_Table, tk.BaseStateRepository):
    name = "state"

    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        expected_version: int | None,
        owner: str | None = None,
    ) -> StateRecord:
        frozen = tk.freeze_state_value(value)
        tk.check_state_owner(owner)
        with self.store.transaction():
            stored = self.t["state"].get(tk.check_state_key(key))
            version = tk.check_expected_version(key, stored and stored.version, expected_version)
            record = StateRecord(key=key, value=frozen, version=version, owner=owner)
            self.t["state"][key] = record
            return record

    def delete(self, key: str, *, expected_version: int) -> None:
        with self.store.transaction():
            stored = self.t["state"].get(tk.check_state_key(key))
            tk.check_expected_version(key, stored and stored.version, expected_version)
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
        return [self.t["state"][k] for k in keys[:limit]]


class Audit(_Table, tk.BaseAuditLog):
    """The optional audit log (``SupportsAuditLog``): three primitives, the rest is the toolkit's."""

    name = "audit"

    def add(self, entries: Sequence[AuditEntry]) -> None:
        for entry in entries:
            self.t["audit"][self.s.seq()] = entry

    def scan(self) -> Iterator[AuditEntry]:
        return iter(list(self.t["audit"].values()))

    def rename_subjects(self, subjects: Collection[str], to: str) -> None:
        for key, entry in list(self.t["audit"].items()):
            if entry.subject in subjects:
                self.t["audit"][key] = tk.pseudonymised(entry, subjects, to)


class DictStore(tk.BaseStore):
    """The example adapter: every table is a dict; a transaction snapshots them all."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[Any, Any]] = {name: {} for name in TABLES}
        self._depth = 0
        self._counter = itertools.count()
        self.customers = Customers(self)
        self.orders = Orders(self)
        self.events = Events(self)
        self.consents = Consents(self)
        self.tickets = Tickets(self)
        self.loyalty = Loyalty(self)
        self.messages = Messages(self)
        self.state = State(self)
        self.audit = Audit(self)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> DictStore:
        """The factory ``open_store`` calls for ``dict://`` URLs."""
        return cls(**options)

    def seq(self) -> int:
        return next(self._counter)

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

    def close(self) -> None:
        """Drop all data; later calls fail with StorageError (tables are gone)."""
        for name in TABLES:  # swap every table for one that refuses all access
            self.tables[name] = _Closed()

    def add_tombstones(self, keys: Iterable[str]) -> None:
        self.tables["tombstones"].update(dict.fromkeys(keys, True))

    def has_tombstone(self, key: str) -> bool:
        return key in self.tables["tombstones"]

    def record_merge(self, record: MergeRecord) -> None:
        self.tables["merges"][record.merged_id] = record

    def merge_records(self) -> Iterable[MergeRecord]:
        return list(self.tables["merges"].values())

    def forget_merges(self, customer_ids: Collection[str]) -> None:
        for cid in customer_ids:
            self.tables["merges"].pop(cid, None)


class _Closed(dict[Any, Any]):
    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise StorageError("the store is closed", entity="DictStore")

    __getitem__ = __contains__ = __iter__ = get = items = values = __setitem__ = _fail
    pop = update = clear = _fail
