"""The base store: identity resolution, merge, erasure, documents and columnar reads, once.

:class:`BaseStore` implements every cross-cutting method of the
:class:`~ecomcrm.storage.Store` protocol over its repositories (the
:mod:`~ecomcrm.storage.toolkit` base repositories) and five store-level primitives: the
transaction, ``close``, the tombstones (``add_tombstones``, ``has_tombstone``) and the
merge log (``record_merge``, ``merge_records``, ``forget_merges``). Merge and erasure are
written here and nowhere else; their argument checks (aware ``at``, string ids, no
self-merge, unknown or erased ids) live here once, and the conformance kit checks them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import attrs

from ecomcrm.domain import Identity, IdentityKind
from ecomcrm.errors import ConflictError, NotFoundError, ValidationError
from ecomcrm.storage._audit import AuditAction
from ecomcrm.storage._records import (
    Customer360,
    CustomerTable,
    ErasureReceipt,
    EventFacts,
    LineFacts,
    MergeRecord,
    OrderFacts,
)
from ecomcrm.storage.toolkit._audit import audit_pseudonym, pseudonymise_audit, write_audit
from ecomcrm.storage.toolkit._columnar import (
    customer_table_from_columns,
    event_facts_from_columns,
    event_product,
    line_facts_from_objects,
    order_facts_from_columns,
    order_row,
    refund_row,
)
from ecomcrm.storage.toolkit._consents import consent_key
from ecomcrm.storage.toolkit._documents import build_customer_360, build_export
from ecomcrm.storage.toolkit._erasure import anonymous_customer, new_anonymous_id, state_owners_of
from ecomcrm.storage.toolkit._merges import follow_merges, merge_profiles
from ecomcrm.storage.toolkit._repositories import (
    BaseConsentRepository,
    BaseCustomerRepository,
    BaseEventRepository,
    BaseLoyaltyRepository,
    BaseMessageRepository,
    BaseOrderRepository,
    BaseStateRepository,
    BaseTicketRepository,
)
from ecomcrm.storage.toolkit._suppression import (
    check_not_suppressed,
    erasure_tombstones,
    tombstone_key,
)
from ecomcrm.storage.toolkit._time import check_aware, to_micros


def check_customer_id(value: Any, *, entity: str, field: str = "customer_id") -> str:
    """``value`` when it is a non-empty string (a customer id); ValidationError otherwise.

    Example:
        >>> check_customer_id("c1", entity="merge")
        'c1'
    """
    if not isinstance(value, str) or not value:
        raise ValidationError("must be a non-empty string", entity=entity, field=field, value=value)
    return value


def check_merge_arguments(survivor_id: Any, merged_id: Any, at: Any) -> None:
    """The argument checks of ``merge``: ``at`` aware, both ids non-empty strings.

    ValidationError otherwise, before anything is read or written. :meth:`BaseStore.merge`
    calls it; an adapter that keeps its own merge calls it first.

    Example:
        >>> from datetime import datetime, timezone
        >>> check_merge_arguments("a", "b", datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> check_merge_arguments("a", "", datetime(2024, 1, 1, tzinfo=timezone.utc))
        Traceback (most recent call last):
        ...
        ecomcrm.errors.ValidationError: merge.merged_id: must be a non-empty string (got '')
    """
    check_aware(at, entity="merge", field="at")
    check_customer_id(survivor_id, entity="merge", field="survivor_id")
    check_customer_id(merged_id, entity="merge", field="merged_id")


class BaseStore(ABC):
    """A store whose cross-cutting operations are derived from its repositories.

    Set the eight repository attributes (instances of the toolkit's base repositories or
    anything with their methods) in ``__init__`` and write :meth:`transaction`,
    :meth:`close`, and the tombstone and merge-log primitives; everything else of the
    :class:`~ecomcrm.storage.Store` protocol is here. Override any method with a faster
    equivalent (a set-based SQL ``reassign``, a columnar read computed in the database):
    the conformance kit checks the result, not the path.

    Example:
        >>> from ecomcrm.storage.toolkit import BaseStore, required_methods
        >>> sorted(BaseStore.__abstractmethods__)[:3]
        ['add_tombstones', 'close', 'forget_merges']
        >>> required_methods() <= 40
        True
    """

    customers: BaseCustomerRepository
    orders: BaseOrderRepository
    events: BaseEventRepository
    consents: BaseConsentRepository
    tickets: BaseTicketRepository
    loyalty: BaseLoyaltyRepository
    messages: BaseMessageRepository
    state: BaseStateRepository

    # --- what the adapter writes ------------------------------------------------------

    @abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A block whose writes, across all repositories, are applied atomically."""

    @abstractmethod
    def close(self) -> None:
        """Release the store's resources; further use raises StorageError."""

    @abstractmethod
    def add_tombstones(self, keys: Iterable[str]) -> None:
        """Primitive: keep these tombstone keys (:func:`erasure_tombstones`) for good."""

    @abstractmethod
    def has_tombstone(self, key: str) -> bool:
        """Primitive: True when this tombstone key is kept."""

    @abstractmethod
    def record_merge(self, record: MergeRecord) -> None:
        """Primitive: keep a merge record; ``record.merged_id`` now resolves to the survivor."""

    @abstractmethod
    def merge_records(self) -> Iterable[MergeRecord]:
        """Primitive: every kept merge record, in the order they were recorded."""

    @abstractmethod
    def forget_merges(self, customer_ids: Collection[str]) -> None:
        """Primitive: drop the merge records whose merged id is one of ``customer_ids``."""

    # --- identity resolution ----------------------------------------------------------

    def merge_record(self, merged_id: str) -> MergeRecord | None:
        """The merge record of ``merged_id`` (it was merged away), or None."""
        return next((r for r in self.merge_records() if r.merged_id == merged_id), None)

    def resolve(self, customer_id: str) -> str:
        """The surviving id after any chain of merges (the id itself when unmerged)."""

        def merged_into(cid: str) -> str | None:
            record = self.merge_record(cid)
            return None if record is None else record.survivor_id

        return follow_merges(customer_id, merged_into)

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """The merges into this customer (directly or through a chain), oldest first."""
        target = self.resolve(customer_id)
        found = [r for r in self.merge_records() if self.resolve(r.survivor_id) == target]
        return sorted(found, key=lambda r: r.at)  # stable: recording order breaks ties

    def link_identity(self, customer_id: str, identity: Identity) -> None:
        """Attach an identity to a customer (anonymous ids also re-point their events)."""
        if not isinstance(identity, Identity):
            raise ValidationError(
                "must be an Identity", entity="Identity", field="identity", value=identity
            )
        with self.transaction():
            person = self.customers.find(customer_id)
            if person is None:
                raise NotFoundError(
                    "no such customer", entity="Identity", field="customer_id", value=customer_id
                )
            holder = self.customers.find_by_identity(identity)
            if holder is not None:
                if holder.id == person.id:
                    return
                raise ConflictError(
                    f"belongs to customer {holder.id!r}",
                    entity="Identity",
                    field="value",
                    value=identity.key,
                )
            check_not_suppressed([identity], self.has_tombstone, entity="Identity")
            self.customers.upsert(attrs.evolve(person, identities=(*person.identities, identity)))
            if identity.kind is IdentityKind.ANONYMOUS:
                self.events.reassign((), person.id, anonymous_ids=(identity.value,))

    def merge(self, survivor_id: str, merged_id: str, *, at: datetime) -> MergeRecord:
        """Fold ``merged_id`` into ``survivor_id`` (see the protocol): the one merge.

        Checks: ``at`` aware, both ids non-empty strings; idempotent (merging ids that
        already resolve to one customer returns the record that joined them); NotFoundError
        for an unknown (or erased) id; ValidationError for a customer merged into itself.
        """
        check_merge_arguments(survivor_id, merged_id, at)
        with self.transaction():
            survivor, merged = self.resolve(survivor_id), self.resolve(merged_id)
            if survivor == merged:
                for candidate in (merged_id, survivor_id):
                    if (record := self.merge_record(candidate)) is not None:
                        return record
                self._live(survivor, survivor_id)
                raise ValidationError(
                    "cannot merge a customer into itself",
                    entity="merge",
                    field="merged_id",
                    value=merged_id,
                )
            kept = self._live(survivor, survivor_id)
            gone = self._live(merged, merged_id)
            for repository in (  # first, so that nothing refers to the merged row below
                self.orders,
                self.events,
                self.consents,
                self.tickets,
                self.loyalty,
                self.messages,
            ):
                repository.reassign([merged], survivor)
            self.customers.remove([merged])  # frees its identities for the survivor
            self.customers.upsert(merge_profiles(kept, gone))
            record = MergeRecord(survivor_id=survivor, merged_id=merged, at=at)
            self.record_merge(record)
            write_audit(self, AuditAction.MERGE, survivor, {"merged_id": merged})
            return record

    def _live(self, resolved: str, requested: str) -> Any:
        found = self.customers.find(resolved)
        if found is None:
            raise NotFoundError("no such customer", entity="merge", value=requested)
        return found

    # --- privacy ------------------------------------------------------------------------

    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything stored about the person (:func:`build_export`); audited as ``export``."""
        with self.transaction():
            document = build_export(self, customer_id)
            write_audit(self, AuditAction.EXPORT, document["customer_id"])
        return document

    def erase(self, customer_id: str, *, keep_order_facts: bool = False) -> ErasureReceipt:
        """Remove the person's personal data everywhere (see the protocol): the one erasure.

        The receipt counts what went: identities, events, consents, tickets, loyalty
        entries, messages, orders and refunds (kept anonymous with ``keep_order_facts``),
        merges, state records and the customer.
        """
        check_customer_id(customer_id, entity="erase")
        with self.transaction():
            person = self.customers.get(customer_id)
            cid = person.id
            ids = [cid, *(r.merged_id for r in self.merges(cid))]
            stones = erasure_tombstones(person.identities, ids)
            cookies = [i.value for i in person.identities if i.kind is IdentityKind.ANONYMOUS]
            orders = self.orders.for_customer(cid)
            counts = {
                "consents": len(self.consents.history(cid)),
                "customers": 1,
                "events": len(self.events.for_customer(cid)),
                "identities": len(person.identities),
                "loyalty": len(self.loyalty.entries(cid)),
                "merges": len(ids) - 1,
                "messages": len(self.messages.for_customer(cid)),
                "orders": len(orders),
                "refunds": len(self.orders.refunds_for_customer(cid)),
                "tickets": len(self.tickets.for_customer(cid)),
            }
            self.add_tombstones(stones)
            self.events.reassign(ids, None, anonymous_ids=cookies)
            for repository in (self.consents, self.tickets, self.loyalty, self.messages):
                repository.reassign(ids, None)
            kept = keep_order_facts and bool(orders)
            if kept:
                anonymous = new_anonymous_id()
                self.customers.upsert(anonymous_customer(person, anonymous))
                self.orders.reassign(ids, anonymous, anonymise=True)
            else:
                self.orders.reassign(ids, None)
            self.forget_merges(ids)
            counts["state"] = self.state.delete_owned(state_owners_of(ids, person.identities))
            self.customers.remove(ids)
            pseudonym = audit_pseudonym(cid)
            pseudonymise_audit(self, ids, pseudonym)
            write_audit(self, AuditAction.ERASURE, pseudonym, dict(sorted(counts.items())))
            write_audit(self, AuditAction.SUPPRESSION_ADDED, pseudonym, {"count": len(stones)})
            return ErasureReceipt(
                customer_id=cid,
                tombstones=tuple(stones),
                kept_order_facts=kept,
                counts=dict(sorted(counts.items())),
            )

    def is_suppressed(self, identity: Identity) -> bool:
        """True when this identity belonged to an erased person."""
        return self.has_tombstone(tombstone_key(identity))

    # --- analytics ----------------------------------------------------------------------

    def customer_table(self) -> CustomerTable:
        """All live customers as columns, ordered by id (from iterating them)."""
        people = list(self.customers.iterate())
        consents = [
            (c.id, consent_key(channel, purpose), decision.granted)
            for c in people
            for (channel, purpose), decision in self.consents.current(c.id).items()
        ]
        return customer_table_from_columns(
            ids=[c.id for c in people],
            created_at_us=[to_micros(c.created_at) for c in people],
            country=[c.country for c in people],
            timezone=[c.timezone for c in people],
            birthday=[c.birthday for c in people],
            acquisition_channel=[c.acquisition_channel for c in people],
            tags=[c.tags for c in people],
            consents=consents,
            city=[c.addresses[0].city if c.addresses else None for c in people],
            email=[c.email for c in people],
        )

    def _live_orders(self) -> tuple[list[str], list[Any], list[Any]]:
        ids, orders, refunds = [], [], []
        for person in self.customers.iterate():
            ids.append(person.id)
            orders.extend(self.orders.for_customer(person.id))
            refunds.extend(self.orders.refunds_for_customer(person.id))
        return sorted(ids), orders, refunds

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """All orders of live customers as columns (from iterating them)."""
        ids, orders, refunds = self._live_orders()
        rows = [order_row(o) for o in orders]
        refunded: dict[str, float] = {}
        returned: dict[str, int] = {}
        for refund in map(refund_row, refunds):
            refunded[refund.order_id] = refunded.get(refund.order_id, 0.0) + refund.amount
            returned[refund.order_id] = returned.get(refund.order_id, 0) + refund.returned_units
        return order_facts_from_columns(
            customer_ids=ids,
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
        """All order lines of live customers' orders as columns (from iterating them)."""
        ids, orders, refunds = self._live_orders()
        return line_facts_from_objects(ids, orders, refunds, currency=currency, rates=rates)

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """All events as columns, anonymous ones given to the customer their id is linked to."""
        owners: dict[str, str] = {}
        live: list[str] = []
        for person in self.customers.iterate():
            live.append(person.id)
            for identity in person.identities:
                if identity.kind is IdentityKind.ANONYMOUS:
                    owners[identity.value] = person.id
        events = list(self.events.iterate())
        return event_facts_from_columns(
            customer_ids=sorted(live),
            event_id=[e.id for e in events],
            event_customer=[
                e.customer_id or (owners.get(e.anonymous_id) if e.anonymous_id else None)
                for e in events
            ],
            name=[e.name for e in events],
            at_us=[to_micros(e.at) for e in events],
            product=[event_product(e) for e in events],
            names=names,
        )

    def customer_360(
        self, customer_id: str, *, recent_events: int = 50, messages: int = 50
    ) -> Customer360:
        """The support agent's view of one customer (:func:`build_customer_360`)."""
        return build_customer_360(
            self,
            customer_id,
            recent_events=recent_events,
            messages=messages,
        )


_BASES: tuple[type[ABC], ...] = (
    BaseStore,
    BaseCustomerRepository,
    BaseOrderRepository,
    BaseEventRepository,
    BaseConsentRepository,
    BaseTicketRepository,
    BaseLoyaltyRepository,
    BaseMessageRepository,
    BaseStateRepository,
)


def required_methods() -> int:
    """How many methods an adapter built on the toolkit's base classes must write.

    Counted by introspection: the abstract methods of :class:`BaseStore` and of the eight
    base repositories (the store contract itself has 57 methods).

    Example:
        >>> required_methods()
        40
    """
    return sum(1 for _ in required_method_names())


def required_method_names() -> Iterator[str]:
    """The methods :func:`required_methods` counts, as ``"Class.method"``.

    Example:
        >>> next(required_method_names())
        'BaseStore.add_tombstones'
    """
    for base in _BASES:
        abstract: frozenset[str] = vars(base)["__abstractmethods__"]
        for name in sorted(abstract):
            yield f"{base.__name__}.{name}"
