"""MemoryStore: the whole store contract in plain Python structures, with real transactions.

Every mutation goes through a handful of primitives that record how to undo it; a
transaction keeps that undo log and replays it backwards when the block raises, so a
failure rolls back every repository at once. Outside a ``transaction()`` block each public
write is its own transaction (a failing ``put_many`` leaves nothing behind).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Identity,
    IdentityKind,
)
from ecomcrm.storage._records import (
    ConsentFacts,
    CustomerTable,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
    MergeRecord,
    OrderFacts,
    TicketFacts,
)
from ecomcrm.storage._retention import RetentionPolicy, RetentionReport
from ecomcrm.storage.memory._audit import _Audit
from ecomcrm.storage.memory._repositories import (
    _check_type,
    _Consents,
    _Customers,
    _Events,
    _Loyalty,
    _Messages,
    _Orders,
    _Tickets,
)
from ecomcrm.storage.memory._retention import MemoryPurger
from ecomcrm.storage.memory._state import _State
from ecomcrm.storage.memory._tables import _Tables


class MemoryStore(_Tables, sh.BaseStore):
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
        super().__init__()
        self.customers = _Customers(self, self)
        self.orders = _Orders(self, self)
        self.events = _Events(self, self)
        self.consents = _Consents(self, self)
        self.tickets = _Tickets(self, self)
        self.loyalty = _Loyalty(self, self)
        self.messages = _Messages(self, self)
        self.state = _State(self, self)
        self.audit = _Audit(self, self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._customers)} customers"
        return f"<MemoryStore {state}>"

    # --- undo-logged primitives ---------------------------------------------------------

    # --- transactions -------------------------------------------------------------------

    def apply_retention(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        """Delete or pseudonymise what ``policy`` says is due at ``now`` (``SupportsRetention``).

        Example:
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.storage import RetentionPolicy
            >>> MemoryStore().apply_retention(RetentionPolicy(events="2y"),
            ...                               datetime(2024, 1, 1, tzinfo=timezone.utc)).counts
            {'events': 0}
        """
        return sh.apply_retention(self, policy, now, MemoryPurger(self))

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

    # --- identity resolution ------------------------------------------------------------

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

    def remove_suppression(self, identity: Identity) -> bool:
        """Lift the suppression of ``identity``, audited (``SupportsSuppressionRemoval``).

        Example:
            >>> from ecomcrm.domain import Identity
            >>> MemoryStore().remove_suppression(Identity.email("a@b.co"))
            False
        """
        self._check_open()

        def delete(key: str) -> bool:
            if key not in self._tombstones:
                return False
            self._ddel(self._tombstones, key)
            return True

        with self.transaction():
            return sh.lift_suppression(self, identity, delete)

    # --- analytics ----------------------------------------------------------------------

    def consent_facts(self) -> ConsentFacts:
        """Every purpose-wide consent decision of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(MemoryStore().consent_facts())
            0
        """
        self._check_open()
        live = self._customers
        rows = sorted(
            (sh.to_micros(c.at), seq, c)
            for seq, c in self._consents.items()
            if c.customer_id in live and c.topic is None
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

    def ticket_facts(self) -> TicketFacts:
        """Every ticket of live customers as columns (``SupportsTicketFacts``).

        Example:
            >>> len(MemoryStore().ticket_facts())
            0
        """
        self._check_open()
        live = self._customers
        return sh.ticket_facts_from_tickets(
            (t.customer_id, t) for t in self._tickets.values() if t.customer_id in live
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
