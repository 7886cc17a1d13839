"""Named optional capabilities: fast paths an adapter may offer beyond the core contract.

The core Protocols (:class:`~ecomcrm.storage.Store` and its repositories) are all a store
must implement. A capability is a small ``@runtime_checkable`` Protocol that an adapter
*claims* simply by having its members; callers test for it with ``isinstance`` and fall
back to the core contract without it, so every capability is an optimisation, never a
requirement. ``ecomcrm.testing.StoreConformance`` proves, for every adapter that claims
one, that the fast path gives exactly what the core contract gives (its behaviour groups
for a capability are skipped when the adapter does not claim it).

==========================  ===================  ==========================================
capability                  claimed by           used by
==========================  ===================  ==========================================
SupportsStateBatches        ``store.state``      rules engine: one read and one commit
                                                 per unit of work
SupportsClaims              ``store.state``      rules engine: processes advancing at once
                                                 run disjoint due timers
SupportsEventMarks          ``store.state``      rules engine: the ``seen:`` mark of each
                                                 event, written compactly
SupportsBulkFacts           the store            rules engine: backtests and refresh read
                                                 consents and loyalty as columns
SupportsBulkLoad            the store            importers: a mode for many large batches
SupportsPreparedOrders      ``store.orders``     importers: rows computed outside the
                                                 write transaction
SupportsSharedUrl           the store            parallel import: workers open the store
SupportsSuppressionSummary  the store            importers: skip per-identity checks
SupportsSuppressionRemoval  the store            the app: a returning person's explicit
                                                 request lifts a suppression (audited)
SupportsTicketFacts         the store            feature table and report: support figures
                                                 of every customer in one read
==========================  ===================  ==========================================

A wrapper store (one that forwards to another) passes a capability on by having the
member too; see ``examples/forwarding_store.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from ecomcrm.domain import Identity, Order
from ecomcrm.storage._records import ConsentFacts, LoyaltyFacts, StateRecord, TicketFacts

StateChange = (
    tuple[str, Mapping[str, Any] | None, int | None, str | None]
    | tuple[str, Mapping[str, Any] | None, int | None]
)
"""One change of a batched state write (:meth:`SupportsStateBatches.apply`).

``(key, value or None to delete, expected version or None for a new key[, owner])``;
without an owner (or with None) the record is about nobody.
"""


@runtime_checkable
class SupportsStateBatches(Protocol):
    """A state repository that reads and commits many records at once.

    Contract:

    - ``get_many(keys)`` returns, by key, the records of those keys that exist: for every
      key, ``get_many([key]).get(key) == get(key)``. Keys may repeat; an invalid key
      raises ValidationError as :meth:`~ecomcrm.storage.StateRepository.get` does.
    - ``apply(changes)`` is an all-or-nothing batch of compare-and-set writes, each the
      same as :meth:`~ecomcrm.storage.StateRepository.put` (a value) or ``delete`` (None)
      with the change's expected version. Every version is checked before anything
      changes: one stale change raises ConflictError naming its key and nothing of the
      batch is written. A key given twice, a delete without an expected version, or a
      value that is not JSON-compatible raises ValidationError, writing nothing. Inside
      ``store.transaction()`` the batch joins the enclosing transaction.

    Without it the rules engine reads each record when first needed and commits a unit
    of work record by record inside one ``store.transaction()``; with it a batch of
    events costs a few statements instead of several per event (the compare-and-set
    checks, and so the exactly-once promise, are the same).

    Example:
        >>> import ecomcrm
        >>> state = ecomcrm.open_store("memory://").state
        >>> isinstance(state, SupportsStateBatches)
        True
        >>> state.apply([("a", {"n": 1}, None, "c1"), ("b", {"n": 2}, None)])
        >>> sorted((k, r.version) for k, r in state.get_many(["a", "b", "zz"]).items())
        [('a', 1), ('b', 1)]
    """

    def get_many(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        """The records of these keys that exist, by key (the same as ``get`` of each).

        Example:
            >>> import ecomcrm
            >>> ecomcrm.open_store("memory://").state.get_many(["nothing"])
            {}
        """
        ...

    def apply(self, changes: Iterable[StateChange]) -> None:
        """Apply the compare-and-set changes as one batch: all of them, or none.

        Example:
            >>> import ecomcrm
            >>> state = ecomcrm.open_store("memory://").state
            >>> state.apply([("k", {"n": 1}, None)])
            >>> state.apply([("k", None, 1)])
            >>> state.get("k") is None
            True
        """
        ...


EventMark = tuple[str, int, str]
"""One mark of a :meth:`SupportsEventMarks.apply_marked` batch: ``(key, at µs, owner)``."""


@runtime_checkable
class SupportsEventMarks(SupportsStateBatches, Protocol):
    """A state repository that writes marks (small write-once records) compactly.

    A *mark* ``(key, at, owner)`` is the state record ``key`` with value
    ``{"at": at, "cust": owner}``, version 1, owned by ``owner``: the rules engine writes
    one per event it handles (``seen:<event id>``), so a redelivered event changes
    nothing. An adapter may keep marks in a compact form (the memory store keeps two
    scalars instead of a record and a mapping, a database may skip the JSON encoder);
    every other method sees them as the records they stand for.

    Contract (besides :class:`SupportsStateBatches`):

    - ``apply_marked(changes, marks)`` is ``apply(changes)`` plus, in the same
      all-or-nothing batch, one new record per mark: a mark whose key exists already is
      a stale change (ConflictError naming the key, nothing of the batch written), a key
      given twice (among the marks or the changes) or a mark that is not ``(non-empty
      str key, int at, non-empty str owner)`` raises ValidationError, writing nothing.
      Inside ``store.transaction()`` the batch joins the enclosing transaction.
    - A mark reads back through ``get``, ``get_many`` and ``scan`` as that record
      (``value == {"at": at, "cust": owner}``, ``version == 1``, ``owner == owner``), is
      deleted by ``delete(key, expected_version=1)`` and replaced by ``put`` like any
      record, and goes with its owner on :meth:`~ecomcrm.storage.Store.erase`.

    Without it the rules engine writes each ``seen:`` mark as an ordinary record of the
    unit's batch; with it the marks cost less to write and to keep (the exactly-once
    promise is the same: a mark is created in the same commit as what its event did).

    Example:
        >>> import ecomcrm
        >>> state = ecomcrm.open_store("memory://").state
        >>> isinstance(state, SupportsEventMarks)
        True
        >>> state.apply_marked([("a", {"n": 1}, None, "c1")], [("seen:e1", 1_000, "c1")])
        >>> record = state.get("seen:e1")
        >>> dict(record.value), record.version, record.owner
        ({'at': 1000, 'cust': 'c1'}, 1, 'c1')
    """

    def apply_marked(self, changes: Iterable[StateChange], marks: Iterable[EventMark]) -> None:
        """Apply the changes and create the marks as one batch: all of them, or none.

        Example:
            >>> import ecomcrm
            >>> state = ecomcrm.open_store("memory://").state
            >>> state.apply_marked([], [("seen:e1", 5, "c1")])
            >>> [r.key for r in state.scan("seen:")]
            ['seen:e1']
        """
        ...


@runtime_checkable
class SupportsClaims(Protocol):
    """A state repository that lets concurrent transactions claim disjoint records.

    Contract: ``claim(keys)`` must run inside ``store.transaction()``; it returns, in key
    order, the records of those keys that exist and that no other open transaction has
    claimed (or locked for writing), and claims them: until this transaction ends, a
    ``claim`` in any other transaction, of this or another process, skips them instead of
    waiting, and a write of them there waits. Each returned record equals ``get(key)``.
    A record whose claimer's transaction ended is claimable again if it still exists
    (a rolled-back claimer leaves it for the next one). Outside a transaction ``claim``
    raises StorageError; an invalid key raises ValidationError as ``get`` does.

    The rules engine's ``advance(now)`` claims each batch of due timers before running
    it, so several processes advancing at once run disjoint timers side by side and each
    action is emitted once without a lost race. Without it every process reads the same
    due timers and the compare-and-set commit settles who runs each (the losers compute
    their batch again): still exactly once, but the work is done several times.

    Example:
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> isinstance(store.state, SupportsClaims)
        False
    """

    def claim(self, keys: Iterable[str]) -> list[StateRecord]:
        """Claim the existing, unclaimed records of ``keys`` until the transaction ends.

        Example:
            >>> import ecomcrm
            >>> hasattr(ecomcrm.open_store("memory://").state, "claim")
            False
        """
        ...


@runtime_checkable
class SupportsBulkFacts(Protocol):
    """A store that reads every consent decision and loyalty entry as columns.

    Contract: ``consent_facts()`` holds one row per purpose-wide consent decision
    (``Consent.topic`` None) of every live customer (those of ``customer_table()``), with
    the surviving customer id; the rows of one customer equal the purpose-wide decisions
    of ``store.consents.history(customer_id)`` (same channels, purposes, decisions and
    instants, same order). ``loyalty_facts()`` holds one row per ledger
    entry of every live customer; the rows of one customer equal
    ``store.loyalty.entries(customer_id)`` (points and instants, same order). Both are
    ordered by instant, then as recorded.

    Without it a backtest reads each customer's consent history when a flow asks for a
    past consent, and ``Engine.refresh`` sends the flows whose conditions read
    ``loyalty_points`` through the per-customer path (one ledger read per customer).

    Example:
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> from ecomcrm.domain import Consent, Customer
        >>> store = ecomcrm.open_store("memory://")
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> store.customers.put(Customer(id="c1", created_at=t))
        >>> store.consents.record(Consent(customer_id="c1", channel="email",
        ...                               purpose="marketing", granted=True, at=t))
        >>> isinstance(store, SupportsBulkFacts)
        True
        >>> facts = store.consent_facts()
        >>> facts.customer_id.tolist(), facts.channel.tolist(), facts.granted.tolist()
        (['c1'], ['email'], [True])
    """

    def consent_facts(self) -> ConsentFacts:
        """Every purpose-wide consent decision of live customers, by instant then insertion.

        Example:
            >>> import ecomcrm
            >>> len(ecomcrm.open_store("memory://").consent_facts())
            0
        """
        ...

    def loyalty_facts(self) -> LoyaltyFacts:
        """Every loyalty entry of live customers as columns, by instant then insertion.

        Example:
            >>> import ecomcrm
            >>> len(ecomcrm.open_store("memory://").loyalty_facts())
            0
        """
        ...


@runtime_checkable
class SupportsBulkLoad(Protocol):
    """A store with a mode for writing many large batches (an import).

    Contract: ``bulk_load()`` is a context manager; writes made inside it behave exactly
    as outside (each transaction commits when it ends, and what was committed is read
    back by this and any other connection after the block), only faster. Leaving the
    block, normally or by an exception, restores the normal mode. Importers enter it for
    the whole import; without it they simply write their batches.

    Example:
        >>> import os, tempfile
        >>> import ecomcrm
        >>> store = ecomcrm.open_store(f"sqlite:///{tempfile.mkdtemp()}/crm.db")
        >>> isinstance(store, SupportsBulkLoad)
        True
        >>> with store.bulk_load():
        ...     pass
    """

    def bulk_load(self) -> AbstractContextManager[None]:
        """A block of many large write batches; commits are as durable as outside it.

        Example:
            >>> import ecomcrm
            >>> with ecomcrm.open_store("sqlite:///:memory:").bulk_load():
            ...     pass
        """
        ...


@runtime_checkable
class SupportsPreparedOrders(Protocol):
    """An order repository that converts orders to its rows ahead of the write.

    Contract: ``prepare_many(orders)`` returns the same orders (equal, in order) in a
    form that ``put_many`` writes faster; ``put_many(prepare_many(orders))`` has exactly
    the effect and result of ``put_many(orders)``. Preparing writes nothing and needs no
    transaction, so importers call it before taking the write lock (other writers, such
    as a parallel import's workers, wait less). Without it they pass the orders as they
    are.

    Example:
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> from ecomcrm.domain import Order, OrderLine
        >>> orders = ecomcrm.open_store("sqlite:///:memory:").orders
        >>> isinstance(orders, SupportsPreparedOrders)
        True
        >>> o = Order(id="1", customer_id="c1", currency="EUR",
        ...           placed_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
        ...           lines=[OrderLine(sku="A", quantity=1, unit_price="5.00")])
        >>> [p.id for p in orders.prepare_many([o])]
        ['1']
    """

    def prepare_many(self, orders: Iterable[Order]) -> Sequence[Order]:
        """The orders, prepared for a later ``put_many`` (nothing is written).

        Example:
            >>> import ecomcrm
            >>> list(ecomcrm.open_store("sqlite:///:memory:").orders.prepare_many([]))
            []
        """
        ...


@runtime_checkable
class SupportsSharedUrl(Protocol):
    """A store that another process can open by URL.

    Contract: ``url`` is a string that :func:`ecomcrm.open_store` (in this or another
    process) opens as a store over the same data, so what one commits the other reads;
    or None when this particular store cannot be shared (an in-memory database). A
    parallel import starts worker processes on it; without it (or with None) the import
    runs in this process.

    Example:
        >>> import os, tempfile
        >>> import ecomcrm
        >>> store = ecomcrm.open_store(f"sqlite:///{tempfile.mkdtemp()}/crm.db")
        >>> isinstance(store, SupportsSharedUrl), store.url.startswith("sqlite:///")
        (True, True)
    """

    @property
    def url(self) -> str | None:
        """The URL another process opens with :func:`ecomcrm.open_store`, or None."""
        ...


@runtime_checkable
class SupportsSuppressionSummary(Protocol):
    """A store that tells cheaply whether any identity is suppressed.

    Contract: ``has_suppressions()`` is True when, and only when, some identity is
    suppressed (``is_suppressed`` would be True for it): after any erasure of a person
    with an email, phone, external id or id. Importers that find it False skip the
    per-identity ``is_suppressed`` checks (the store still refuses a suppressed identity
    when writing); without it they check every identity.

    Example:
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> isinstance(store, SupportsSuppressionSummary), store.has_suppressions()
        (True, False)
    """

    def has_suppressions(self) -> bool:
        """True when any identity is suppressed.

        Example:
            >>> import ecomcrm
            >>> ecomcrm.open_store("memory://").has_suppressions()
            False
        """
        ...


@runtime_checkable
class SupportsSuppressionRemoval(Protocol):
    """A store that lifts the suppression of an identity, on record.

    Contract: ``remove_suppression(identity)`` stops ``identity`` from being suppressed
    (``is_suppressed`` is False afterwards, and a customer with it may be written again)
    and returns True when it was suppressed; it returns False, changing nothing and
    recording nothing, when it was not (an anonymous id never is). A removal is appended
    to the audit log (when the store keeps one) as ``suppression.removed`` in the same
    transaction, with the identity's kind and tombstone key (never its value) in the
    details; lifting the suppression of an erased customer id
    (``toolkit.customer_id_identity``) names the erasure's pseudonym as subject. Other
    identities (and ``has_suppressions``) are unaffected. A non-:class:`Identity`
    raises ValidationError. ``toolkit.lift_suppression`` implements these rules over a
    delete primitive.

    Only the person's own, explicit request justifies it (they sign up again after an
    erasure); the erased data does not come back.

    Example:
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> from ecomcrm.domain import Customer, Identity
        >>> store = ecomcrm.open_store("memory://")
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> store.customers.put(Customer(id="c1", created_at=t, identities=[Identity.email("a@b.co")]))
        >>> _ = store.erase("c1")
        >>> isinstance(store, SupportsSuppressionRemoval)
        True
        >>> store.remove_suppression(Identity.email("a@b.co")), store.is_suppressed(Identity.email("a@b.co"))
        (True, False)
    """

    def remove_suppression(self, identity: Identity) -> bool:
        """Lift the suppression of ``identity``; True when it was suppressed.

        Example:
            >>> import ecomcrm
            >>> from ecomcrm.domain import Identity
            >>> ecomcrm.open_store("memory://").remove_suppression(Identity.email("a@b.co"))
            False
        """
        ...


@runtime_checkable
class SupportsTicketFacts(Protocol):
    """A store that reads every support ticket as columns.

    Contract: ``ticket_facts()`` holds one row per ticket of every live customer (those of
    ``customer_table()``), with the surviving customer id; the rows of one customer equal
    ``store.tickets.for_customer(customer_id)`` (same ids, channels, statuses, instants
    and ratings, same order). Rows are ordered by ``opened_at``, then ticket id.

    Without it the feature table's ticket fields and the report's support figures read
    each customer's tickets one by one (``toolkit.ticket_facts_from_store``).

    Example:
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> from ecomcrm.domain import Customer, SupportTicket
        >>> store = ecomcrm.open_store("memory://")
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> store.customers.put(Customer(id="c1", created_at=t))
        >>> _ = store.tickets.upsert(SupportTicket(id="t1", customer_id="c1", channel="email",
        ...                                        opened_at=t, satisfaction=5))
        >>> isinstance(store, SupportsTicketFacts)
        True
        >>> facts = store.ticket_facts()
        >>> facts.ticket_id.tolist(), facts.satisfaction.tolist()
        (['t1'], [5.0])
    """

    def ticket_facts(self) -> TicketFacts:
        """Every ticket of live customers as columns, by ``opened_at`` then ticket id.

        Example:
            >>> import ecomcrm
            >>> len(ecomcrm.open_store("memory://").ticket_facts())
            0
        """
        ...
