"""The storage contract: what every adapter implements and the conformance kit checks.

A :class:`Store` is a set of repositories plus the cross-cutting operations (transactions,
identity resolution, privacy, columnar reads, the customer 360 view). Every method's
docstring is part of the contract; ``ecomcrm.testing.StoreConformance`` checks it.

General rules for every adapter:

- Objects go in and come out as ``ecomcrm.domain`` instances, equal to what was written.
- Writes made inside ``with store.transaction():`` are all applied or none are; outside a
  transaction each call is its own transaction. Nested ``transaction()`` blocks join the
  outer one.
- Lookups of a missing record by id raise :class:`~ecomcrm.errors.NotFoundError`;
  ``find``-style calls return None instead.
- Customer ids are followed through merges: after ``merge(survivor, merged)``, reads by
  ``merged`` resolve to ``survivor``.
- Driver exceptions never escape: adapters raise :class:`~ecomcrm.errors.StorageError`.
- Results are ordered: orders by ``placed_at`` then id, events by ``at`` then id, ledgers by
  ``at`` then insertion, state records by key.
- Records written for a merged id are stored under the survivor (their ``customer_id`` is
  re-pointed), exactly as a merge re-points existing records.
- Reads of an unknown customer's records (``for_customer``, ``history``, ``entries``...)
  return empty results; only ``get``-style calls raise NotFoundError.
- The adapter-independent rules (tombstone hashing, merge field filling, erasure
  anonymisation, export and 360 documents, compare-and-set checks, columnar builders)
  live in :mod:`ecomcrm.storage.toolkit`; adapters call them instead of re-implementing.
- The toolkit's base classes (:class:`~ecomcrm.storage.toolkit.BaseStore` and the base
  repositories) derive every method that follows from others, merge and erasure
  included, so an adapter writes 40 methods rather than these protocols' 57.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

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
from ecomcrm.storage._records import (
    Customer360,
    CustomerTable,
    ErasureReceipt,
    EventFacts,
    LineFacts,
    MergeRecord,
    OrderFacts,
    StateRecord,
)


@runtime_checkable
class CustomerRepository(Protocol):
    """Customer profiles, found by id or by any of their identities."""

    def put(self, customer: Customer) -> None:
        """Insert a new customer.

        Raises ConflictError when the id exists or one of its identities belongs to another
        customer, and ValidationError when an identity is suppressed (erased earlier).
        """

    def upsert(self, customer: Customer) -> bool:
        """Insert or replace the profile with this id; True when it was created.

        Same identity rules as :meth:`put`.
        """

    def put_many(self, customers: Iterable[Customer]) -> int:
        """Upsert many customers in one transaction; returns how many were written."""

    def get(self, customer_id: str) -> Customer:
        """The customer (following merges); NotFoundError when there is none."""

    def find(self, customer_id: str) -> Customer | None:
        """The customer (following merges), or None."""

    def find_by_identity(self, identity: Identity) -> Customer | None:
        """The customer holding ``identity`` (normalised), or None."""

    def iterate(self) -> Iterator[Customer]:
        """Every live (not merged, not erased) customer, ordered by id."""

    def count(self) -> int:
        """How many live customers there are."""


@runtime_checkable
class OrderRepository(Protocol):
    """Orders with their lines, and the refunds and returns made on them."""

    def upsert(self, order: Order) -> bool:
        """Insert or replace the order with this id (lines included); True when created.

        NotFoundError when the customer does not exist.
        """

    def put_many(self, orders: Iterable[Order]) -> int:
        """Upsert many orders in one transaction; returns how many were written."""

    def get(self, order_id: str) -> Order:
        """The order; NotFoundError when there is none."""

    def for_customer(self, customer_id: str) -> list[Order]:
        """The customer's orders (following merges), by ``placed_at``."""

    def count(self) -> int:
        """How many orders there are."""

    def add_refund(self, refund: Refund) -> bool:
        """Record a refund or return; False (and no change) when its id already exists.

        NotFoundError when the order does not exist.
        """

    def add_refunds(self, refunds: Iterable[Refund]) -> int:
        """Record many refunds or returns in one transaction, in order; returns how many were new.

        The same as :meth:`add_refund` for each refund in turn: one whose id is already
        stored, or earlier in ``refunds``, is skipped. NotFoundError naming the first
        offending row when an order does not exist; then nothing is written.
        """

    def refunds_for_order(self, order_id: str) -> list[Refund]:
        """The refunds of one order, by ``at``."""

    def refunds_for_customer(self, customer_id: str) -> list[Refund]:
        """The customer's refunds (following merges), by ``at``."""


@runtime_checkable
class EventRepository(Protocol):
    """Behavioural events, for known customers and anonymous visitors."""

    def append(self, event: Event) -> bool:
        """Store an event; False (and no change) when its id is already stored."""

    def append_many(self, events: Iterable[Event]) -> int:
        """Store many events in one transaction; returns how many were new."""

    def for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        names: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The customer's events (following merges, including anonymous ids linked to them).

        Ordered by ``at``; with ``limit``, the most recent ``limit`` events (still ascending).
        """

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        """Events carrying this anonymous id, by ``at``."""

    def count(self) -> int:
        """How many events are stored."""


@runtime_checkable
class ConsentRepository(Protocol):
    """The append-only consent ledger and the current state it implies."""

    def record(self, consent: Consent) -> None:
        """Append a consent decision. NotFoundError when the customer does not exist."""

    def record_many(self, consents: Iterable[Consent]) -> int:
        """Append many consent decisions in one transaction, in order; returns how many.

        The same as :meth:`record` for each decision in turn (insertion order, and so tie
        breaking in :meth:`current`, follows the iterable). NotFoundError naming the first
        offending row when a customer does not exist; then nothing is written.
        """

    def history(self, customer_id: str) -> list[Consent]:
        """Every decision for the customer, by ``at`` then insertion order."""

    def current(self, customer_id: str) -> dict[tuple[Channel, Purpose], Consent]:
        """The latest decision per (channel, purpose) (latest ``at``; ties: last recorded)."""

    def is_granted(self, customer_id: str, channel: Channel | str, purpose: Purpose | str) -> bool:
        """True when the latest decision for (channel, purpose) is a grant."""


@runtime_checkable
class TicketRepository(Protocol):
    """Support tickets."""

    def upsert(self, ticket: SupportTicket) -> bool:
        """Insert or replace a ticket; True when created. NotFoundError for unknown customers."""

    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        """Upsert many tickets in one transaction, in order; returns how many were written.

        The same as :meth:`upsert` for each ticket in turn (a later ticket with the same id
        replaces an earlier one). NotFoundError naming the first offending row when a
        customer does not exist; then nothing is written.
        """

    def get(self, ticket_id: str) -> SupportTicket:
        """The ticket; NotFoundError when there is none."""

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        """The customer's tickets (following merges), by ``opened_at``."""


@runtime_checkable
class LoyaltyRepository(Protocol):
    """The append-only loyalty points ledger, idempotent by entry id."""

    def append(self, entry: LoyaltyEntry) -> bool:
        """Append an entry; False (and no change) when an entry with its id exists."""

    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        """Append many entries in one transaction, in order; returns how many were new.

        The same as :meth:`append` for each entry in turn: an entry whose id is already in
        the ledger, or earlier in ``entries``, is skipped and changes nothing.
        """

    def has(self, entry_id: str) -> bool:
        """True when an entry with this id is in the ledger."""

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        """The customer's entries (following merges), by ``at`` then insertion."""

    def balance(self, customer_id: str) -> int:
        """The sum of the customer's entries' points."""


@runtime_checkable
class MessageRepository(Protocol):
    """The log of messages sent to and received from customers."""

    def upsert(self, message: Message) -> bool:
        """Insert or replace a message (outcomes change over time); True when created."""

    def get(self, message_id: str) -> Message:
        """The message; NotFoundError when there is none."""

    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        """The customer's messages (following merges), by ``at``."""


@runtime_checkable
class StateRepository(Protocol):
    """Versioned JSON records for the rules engine, with compare-and-set.

    Keys are strings ordered by code point; values are JSON-compatible mappings. Each
    record may name its ``owner``, the person it is about: ``erase`` deletes the records
    whose owner is the erased person (an exact comparison of the stored field; keys are
    never parsed), records without owner are about nobody and stay.
    """

    def get(self, key: str) -> StateRecord | None:
        """The record (with its owner), or None."""

    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        expected_version: int | None,
        owner: str | None = None,
    ) -> StateRecord:
        """Write ``value`` (and ``owner``) if the stored version equals ``expected_version``.

        ``expected_version=None`` means "must not exist yet". On success the new record has
        version ``expected_version + 1`` (1 for a new key). Otherwise ConflictError, and
        nothing changes. ``value`` is copied as JSON (tuples read back as lists); a value
        that is not JSON-compatible raises ValidationError (``toolkit.freeze_state_value``).
        ``owner`` replaces the stored owner (a non-empty string, or None for nobody);
        :meth:`Store.erase` deletes the record when the owner is erased.
        """

    def delete(self, key: str, *, expected_version: int) -> None:
        """Delete if the stored version matches; ConflictError otherwise."""

    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        """Records whose key starts with ``prefix`` and lies in ``[start, stop)``, by key."""


@runtime_checkable
class Store(Protocol):
    """A complete ecomcrm store: repositories plus the cross-cutting operations.

    Example:
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> isinstance(store, Store)
        True
    """

    # Read-only members: an adapter may hold any implementation of each repository
    # protocol (a subclass of a toolkit base repository, say) as a plain attribute.

    @property
    def customers(self) -> CustomerRepository:
        """Customer profiles and the identity index."""

    @property
    def orders(self) -> OrderRepository:
        """Orders with their lines, refunds and returns."""

    @property
    def events(self) -> EventRepository:
        """Behavioural events."""

    @property
    def consents(self) -> ConsentRepository:
        """The consent ledger."""

    @property
    def tickets(self) -> TicketRepository:
        """Support tickets."""

    @property
    def loyalty(self) -> LoyaltyRepository:
        """The loyalty points ledger."""

    @property
    def messages(self) -> MessageRepository:
        """The message log."""

    @property
    def state(self) -> StateRepository:
        """The rules engine's versioned records."""

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose writes, across all repositories, are applied atomically.

        An exception inside the block rolls every write back and propagates.
        """

    # --- identity resolution ----------------------------------------------------------

    def link_identity(self, customer_id: str, identity: Identity) -> None:
        """Attach an identity to a customer (anonymous ids also re-point their events).

        Idempotent. ConflictError when the identity belongs to another customer;
        ValidationError when it is suppressed.
        """

    def resolve(self, customer_id: str) -> str:
        """The surviving id after any chain of merges (the id itself when unmerged)."""

    def merge(self, survivor_id: str, merged_id: str, *, at: datetime) -> MergeRecord:
        """Fold ``merged_id`` into ``survivor_id``.

        Identities, orders, refunds, events, consents, tickets, ledger entries and messages
        are re-pointed; profile fields empty on the survivor are filled from the merged
        profile; tags are united (see ``toolkit.merge_profiles`` for the exact rules).
        Idempotent (merging again returns the original record). Both ids are resolved
        first, so A->B followed by B->A is a no-op, never a cycle. The returned record
        names the resolved ids. NotFoundError when either customer does not exist;
        ValidationError when both are the same id and were never merged.
        """

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """The merges into this customer (directly or through a chain), oldest first.

        ``customer_id`` is resolved first; ordered by ``at`` then by when they were made.
        """

    # --- privacy ------------------------------------------------------------------------

    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything stored about the person, as one JSON-serialisable document.

        The layout is ``toolkit.build_export``'s (which adapters may call).
        NotFoundError for an unknown customer.
        """

    def erase(self, customer_id: str, *, keep_order_facts: bool = False) -> ErasureReceipt:
        """Remove the person's personal data everywhere and suppress their identities.

        ``customer_id`` is resolved first; the profile and every record of the person
        (and of ids merged into them) go: identities, profile (names, addresses,
        birthday, attributes), events (including those of their anonymous ids), consents,
        tickets, ledger entries, messages, merge records and aliases, and the state
        records they own (``StateRecord.owner`` is one of the ids, or ``"anonymous:<id>"``
        of one of their anonymous identities: ``toolkit.state_owners_of``), compared
        exactly, never by parsing a key.
        A one-way hash (``toolkit.tombstone_key``) of each email, phone and external id,
        and of each of the ids (``toolkit.customer_id_identity``), is kept
        (``toolkit.erasure_tombstones``), so later ``put``/``upsert``/``link_identity`` of
        such an identity, or ``put``/``upsert``/``put_many`` of a customer with such an id,
        raise ValidationError and :meth:`is_suppressed` is True. Orders and refunds go too, unless
        ``keep_order_facts``: then they stay as anonymous facts under a new random
        customer id (``toolkit.anonymous_customer``, ``anonymise_order``,
        ``anonymise_refund``: no address, discount codes or free-text reasons).
        Nothing of the person may remain in the adapter's storage after its own
        clean-up (the kit's ``raw_dump`` check). NotFoundError for an unknown customer.
        """

    def is_suppressed(self, identity: Identity) -> bool:
        """True when this identity belonged to an erased person."""

    # --- analytics ----------------------------------------------------------------------

    def customer_table(self) -> CustomerTable:
        """All live customers as columns, ordered by id."""

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """All orders of live customers as columns, by ``placed_at`` then order id.

        Amounts are converted to ``currency`` with ``rates`` (units of ``currency`` per
        unit of the order's currency). Without ``currency`` the store must hold a single
        currency; a mixture without rates raises ValidationError naming the currencies.
        """

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """All events (optionally only these names) as columns, by ``at`` then id."""

    def line_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> LineFacts:
        """All order lines of live customers' orders as columns (see :class:`LineFacts`).

        Rows follow :meth:`order_facts`' order (``placed_at`` then order id), then each
        order's line order; ``order_ids`` equals the ``order_id`` column of
        :meth:`order_facts` on the same data and ``customer_ids`` the customer table's ids.
        Cancelled orders' lines are included (``cancelled`` True). ``amount`` is
        ``unit_price * quantity - discount`` of the line in float64, converted to
        ``currency`` with ``rates`` exactly as :meth:`order_facts` converts (the same
        ValidationError for a mixture without rates). ``skus`` is the sorted vocabulary of
        the SKUs on these lines; ``categories`` that of their category paths joined with
        ``" > "`` (-1 for a line without category). ``returned_units``: the units of the
        order's returns (refunds with ``returned=True``) given per SKU by their
        ``ReturnLine`` entries, allocated to the order's lines of that SKU in line order,
        each line taking at most its quantity; units of a SKU the order does not hold, or
        beyond its quantity, are not counted. ``toolkit.line_facts_from_columns`` (or
        ``toolkit.line_facts_from_objects``) implements these rules.
        """

    def customer_360(
        self, customer_id: str, *, recent_events: int = 50, messages: int = 50
    ) -> Customer360:
        """The whole view of one customer for a support agent.

        The latest ``recent_events`` events and ``messages`` messages (ascending), see
        ``toolkit.build_customer_360`` (which adapters may call). NotFoundError for an
        unknown customer.
        """

    def close(self) -> None:
        """Release the store's resources; further use raises StorageError."""
