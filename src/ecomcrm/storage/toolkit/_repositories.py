"""Base repositories: the contract's derivable methods written once, over a few primitives.

Each class implements the methods of its :mod:`ecomcrm.storage` protocol that follow
from the others (bulk writes from single writes, ``get`` from ``find``, the current
consents from the history, ...) and declares as abstract only what an adapter must
store itself, plus one primitive, ``reassign``, that the shared merge and erasure
(:class:`~ecomcrm.storage.toolkit.BaseStore`) call to re-point or delete the rows of
some customer ids. An adapter may override any default with a faster equivalent; the
conformance kit proves the result either way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

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
from ecomcrm.errors import ConflictError, NotFoundError
from ecomcrm.storage._records import StateRecord
from ecomcrm.storage.toolkit._consents import latest_consents
from ecomcrm.storage.toolkit._state import check_state_key

if TYPE_CHECKING:
    from ecomcrm.storage._protocols import Store


def _each(items: Iterable[Any], write: Callable[[Any], Any]) -> list[Any]:
    """``write`` applied to each item in turn; a NotFoundError names the item's row."""
    results = []
    for row, item in enumerate(items):
        try:
            results.append(write(item))
        except NotFoundError as exc:
            if exc.row is not None:
                raise
            extra: dict[str, Any] = {"value": exc.value} if exc.has_value else {}
            raise NotFoundError(
                exc.message, entity=exc.entity, field=exc.field, row=row, **extra
            ) from None
    return results


class BaseRepository:
    """What every base repository holds: the store it belongs to.

    The defaults use ``self.store`` for transactions (a bulk write is one transaction)
    and for the other repositories' reads.

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.storage.toolkit import BaseRepository
        >>> store = ecomcrm.open_store("memory://")
        >>> BaseRepository(store).store is store
        True
    """

    def __init__(self, store: Store) -> None:
        """Attach the repository to ``store`` (kept as ``self.store``)."""
        self.store = store


class BaseCustomerRepository(BaseRepository, ABC):
    """Customers: write ``upsert``, ``find``, ``find_by_identity``, ``iterate``, ``remove``.

    ``put`` (ConflictError for an existing or merged id, then :meth:`upsert`),
    ``put_many``, ``get`` and ``count`` are derived. ``upsert`` must keep the contract's
    identity rules (:func:`~ecomcrm.storage.toolkit.check_not_suppressed`,
    :func:`~ecomcrm.storage.toolkit.check_id_not_erased`, ConflictError for an identity
    of another customer) and refuse a merged id.

    Example:
        >>> from ecomcrm.storage.toolkit import BaseCustomerRepository
        >>> sorted(BaseCustomerRepository.__abstractmethods__)
        ['find', 'find_by_identity', 'iterate', 'remove', 'upsert']
    """

    @abstractmethod
    def upsert(self, customer: Customer) -> bool:
        """Insert or replace the profile with this id; True when it was created."""

    @abstractmethod
    def find(self, customer_id: str) -> Customer | None:
        """The customer (following merges), or None."""

    @abstractmethod
    def find_by_identity(self, identity: Identity) -> Customer | None:
        """The customer holding ``identity`` (normalised), or None."""

    @abstractmethod
    def iterate(self) -> Iterator[Customer]:
        """Every live customer, ordered by id."""

    @abstractmethod
    def remove(self, customer_ids: Collection[str]) -> None:
        """Primitive: delete the profiles stored under these exact ids and their identities.

        Called by the shared merge (the merged profile, before the survivor is rewritten)
        and erasure; ids without a profile are ignored.
        """

    def put(self, customer: Customer) -> None:
        """Insert a new customer; ConflictError when the id exists or was merged away."""
        with self.store.transaction():
            if self.store.resolve(customer.id) != customer.id or self.find(customer.id):
                raise ConflictError(
                    "a customer with this id exists",
                    entity="Customer",
                    field="id",
                    value=customer.id,
                )
            self.upsert(customer)

    def put_many(self, customers: Iterable[Customer]) -> int:
        """Upsert many customers in one transaction; returns how many were written."""
        with self.store.transaction():
            return len(_each(customers, self.upsert))

    def get(self, customer_id: str) -> Customer:
        """The customer (following merges); NotFoundError when there is none."""
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError("no such customer", entity="Customer", value=customer_id)
        return found

    def count(self) -> int:
        """How many live customers there are (by iterating them)."""
        return sum(1 for _ in self.iterate())


class BaseOrderRepository(BaseRepository, ABC):
    """Orders and refunds: write six methods, get four.

    Write ``upsert``, ``get``, ``for_customer``, ``add_refund``, ``refunds_for_order`` and
    ``reassign``; ``put_many``, ``add_refunds``, ``refunds_for_customer`` and ``count`` are derived.

    Example:
        >>> from ecomcrm.storage.toolkit import BaseOrderRepository
        >>> len(BaseOrderRepository.__abstractmethods__)
        6
    """

    @abstractmethod
    def upsert(self, order: Order) -> bool:
        """Insert or replace the order (lines included); True when created."""

    @abstractmethod
    def get(self, order_id: str) -> Order:
        """The order; NotFoundError when there is none."""

    @abstractmethod
    def for_customer(self, customer_id: str) -> list[Order]:
        """The customer's orders (following merges), by ``placed_at`` then id."""

    @abstractmethod
    def add_refund(self, refund: Refund) -> bool:
        """Record a refund or return; False (and no change) when its id exists."""

    @abstractmethod
    def refunds_for_order(self, order_id: str) -> list[Refund]:
        """The refunds of one order, by ``at``."""

    @abstractmethod
    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymise: bool = False
    ) -> None:
        """Primitive: give the orders and refunds of ``customer_ids`` to ``to``.

        ``to=None`` deletes them (with every refund of those orders). With ``anonymise``
        the kept rows are rewritten by :func:`~ecomcrm.storage.toolkit.anonymise_order`
        and :func:`~ecomcrm.storage.toolkit.anonymise_refund`.
        """

    def put_many(self, orders: Iterable[Order]) -> int:
        """Upsert many orders in one transaction; returns how many were written."""
        with self.store.transaction():
            return len(_each(orders, self.upsert))

    def add_refunds(self, refunds: Iterable[Refund]) -> int:
        """Record many refunds in one transaction, in order; returns how many were new."""
        with self.store.transaction():
            return sum(_each(refunds, self.add_refund))

    def refunds_for_customer(self, customer_id: str) -> list[Refund]:
        """The customer's refunds (following merges), by ``at``."""
        found = [r for o in self.for_customer(customer_id) for r in self.refunds_for_order(o.id)]
        return sorted(found, key=lambda r: r.at)

    def count(self) -> int:
        """How many orders there are (the live customers' orders, counted)."""
        return sum(len(self.for_customer(c.id)) for c in self.store.customers.iterate())


class BaseEventRepository(BaseRepository, ABC):
    """Events: write ``append``, ``for_customer``, ``iterate`` and ``reassign``.

    ``append_many``, ``for_anonymous`` and ``count`` are derived (by iterating).

    Example:
        >>> from ecomcrm.storage.toolkit import BaseEventRepository
        >>> sorted(BaseEventRepository.__abstractmethods__)
        ['append', 'for_customer', 'iterate', 'reassign']
    """

    @abstractmethod
    def append(self, event: Event) -> bool:
        """Store an event; False (and no change) when its id is already stored."""

    @abstractmethod
    def for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        names: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The customer's events (following merges and linked anonymous ids), by ``at``."""

    @abstractmethod
    def iterate(self) -> Iterator[Event]:
        """Every stored event, in any order (the event facts and defaults read it)."""

    @abstractmethod
    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymous_ids: Collection[str] = ()
    ) -> None:
        """Primitive: give events to ``to``, or delete them when ``to`` is None.

        The events concerned: those of ``customer_ids``, and those without customer that
        carry one of ``anonymous_ids`` (the shared ``link_identity`` and erasure).
        """

    def append_many(self, events: Iterable[Event]) -> int:
        """Store many events in one transaction; returns how many were new."""
        with self.store.transaction():
            return sum(_each(events, self.append))

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        """Events carrying this anonymous id, by ``at`` then id."""
        found = [e for e in self.iterate() if e.anonymous_id == anonymous_id]
        return sorted(found, key=lambda e: (e.at, e.id))

    def count(self) -> int:
        """How many events are stored."""
        return sum(1 for _ in self.iterate())


class BaseConsentRepository(BaseRepository, ABC):
    """Consents: write ``record``, ``history`` and ``reassign``.

    ``record_many``, ``current`` (:func:`~ecomcrm.storage.toolkit.latest_consents`) and
    ``is_granted`` are derived.

    Example:
        >>> from ecomcrm.storage.toolkit import BaseConsentRepository
        >>> sorted(BaseConsentRepository.__abstractmethods__)
        ['history', 'reassign', 'record']
    """

    @abstractmethod
    def record(self, consent: Consent) -> None:
        """Append a consent decision. NotFoundError when the customer does not exist."""

    @abstractmethod
    def history(self, customer_id: str) -> list[Consent]:
        """Every decision for the customer, by ``at`` then insertion order."""

    @abstractmethod
    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Primitive: give the decisions of ``customer_ids`` to ``to`` (None deletes)."""

    def record_many(self, consents: Iterable[Consent]) -> int:
        """Append many decisions in one transaction, in order; returns how many."""
        with self.store.transaction():
            return len(_each(consents, self.record))

    def current(self, customer_id: str) -> dict[tuple[Channel, Purpose], Consent]:
        """The latest decision per (channel, purpose)."""
        return latest_consents(self.history(customer_id))

    def is_granted(self, customer_id: str, channel: Channel | str, purpose: Purpose | str) -> bool:
        """True when the latest decision for (channel, purpose) is a grant."""
        found = self.current(customer_id).get((Channel(channel), Purpose(purpose)))
        return found is not None and found.granted


class BaseTicketRepository(BaseRepository, ABC):
    """Tickets: write ``upsert``, ``get``, ``for_customer`` and ``reassign``.

    Example:
        >>> from ecomcrm.storage.toolkit import BaseTicketRepository
        >>> sorted(BaseTicketRepository.__abstractmethods__)
        ['for_customer', 'get', 'reassign', 'upsert']
    """

    @abstractmethod
    def upsert(self, ticket: SupportTicket) -> bool:
        """Insert or replace a ticket; True when created."""

    @abstractmethod
    def get(self, ticket_id: str) -> SupportTicket:
        """The ticket; NotFoundError when there is none."""

    @abstractmethod
    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        """The customer's tickets (following merges), by ``opened_at``."""

    @abstractmethod
    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Primitive: give the tickets of ``customer_ids`` to ``to`` (None deletes)."""

    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        """Upsert many tickets in one transaction, in order; returns how many were written."""
        with self.store.transaction():
            return len(_each(tickets, self.upsert))


class BaseLoyaltyRepository(BaseRepository, ABC):
    """The points ledger: write ``append``, ``has``, ``entries`` and ``reassign``.

    Example:
        >>> from ecomcrm.storage.toolkit import BaseLoyaltyRepository
        >>> sorted(BaseLoyaltyRepository.__abstractmethods__)
        ['append', 'entries', 'has', 'reassign']
    """

    @abstractmethod
    def append(self, entry: LoyaltyEntry) -> bool:
        """Append an entry; False (and no change) when an entry with its id exists."""

    @abstractmethod
    def has(self, entry_id: str) -> bool:
        """True when an entry with this id is in the ledger."""

    @abstractmethod
    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        """The customer's entries (following merges), by ``at`` then insertion."""

    @abstractmethod
    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Primitive: give the entries of ``customer_ids`` to ``to`` (None deletes)."""

    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        """Append many entries in one transaction, in order; returns how many were new."""
        with self.store.transaction():
            return sum(_each(entries, self.append))

    def balance(self, customer_id: str) -> int:
        """The sum of the customer's entries' points."""
        return sum(entry.points for entry in self.entries(customer_id))


class BaseMessageRepository(BaseRepository, ABC):
    """The message log: write ``upsert``, ``get``, ``for_customer`` and ``reassign``.

    Example:
        >>> from ecomcrm.storage.toolkit import BaseMessageRepository
        >>> sorted(BaseMessageRepository.__abstractmethods__)
        ['for_customer', 'get', 'reassign', 'upsert']
    """

    @abstractmethod
    def upsert(self, message: Message) -> bool:
        """Insert or replace a message; True when created."""

    @abstractmethod
    def get(self, message_id: str) -> Message:
        """The message; NotFoundError when there is none."""

    @abstractmethod
    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        """The customer's messages (following merges), by ``at``."""

    @abstractmethod
    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Primitive: give the messages of ``customer_ids`` to ``to`` (None deletes)."""


class BaseStateRepository(BaseRepository, ABC):
    """The state area: write ``put``, ``delete`` and ``scan``.

    ``get`` is the one-key :meth:`scan` (keys are ordered by code point, so ``key`` is the
    only key from ``key`` up to ``key`` followed by a NUL character); ``delete_owned``,
    the erasure's primitive, scans for the owners' records. Use :func:`~ecomcrm.storage.toolkit.check_state_key`,
    :func:`~ecomcrm.storage.toolkit.freeze_state_value` and
    :func:`~ecomcrm.storage.toolkit.check_expected_version` in ``put``.

    Example:
        >>> from ecomcrm.storage.toolkit import BaseStateRepository
        >>> sorted(BaseStateRepository.__abstractmethods__)
        ['delete', 'put', 'scan']
    """

    @abstractmethod
    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        expected_version: int | None,
        owner: str | None = None,
    ) -> StateRecord:
        """Write ``value`` (and ``owner``) if the stored version equals ``expected_version``."""

    @abstractmethod
    def delete(self, key: str, *, expected_version: int) -> None:
        """Delete if the stored version matches; ConflictError otherwise."""

    @abstractmethod
    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        """Records whose key starts with ``prefix`` and lies in ``[start, stop)``, by key."""

    def get(self, key: str) -> StateRecord | None:
        """The record (with its owner), or None."""
        check_state_key(key)
        found = self.scan(key, start=key, stop=key + "\0", limit=1)
        return found[0] if found else None

    def delete_owned(self, owners: Collection[str]) -> int:
        """Primitive: delete the records whose owner is one of ``owners``; how many.

        The owner is compared whole (:func:`~ecomcrm.storage.toolkit.state_owners_of`).
        """
        wanted = set(owners)
        doomed = [r for r in self.scan() if r.owner in wanted]
        for record in doomed:
            self.delete(record.key, expected_version=record.version)
        return len(doomed)
