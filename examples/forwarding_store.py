"""A store that forwards to another one: the pattern for wrappers (logging, metrics, access control).

``forwarding_store(inner)`` returns a store whose every call goes to ``inner``. Subclass
:class:`ForwardingStore` (override the methods you want to observe or guard, call
``super()``) and build it with ``forwarding_store(inner, cls=YourStore)``.

A wrapper must not hide what the wrapped store can do: the rules engine and the importers
take their fast paths through the named capabilities of :mod:`ecomcrm.storage`
(``SupportsBulkFacts``, ``SupportsStateBatches``...), tested with ``isinstance``. A
wrapper that forwards only the core contract makes a backtest over SQLite about 5x slower.
So the wrapper claims exactly what ``inner`` claims:

- the repositories are ``inner``'s own objects, so their capabilities
  (``SupportsStateBatches`` on ``state``, ``SupportsPreparedOrders`` on ``orders``) are
  there as they are;
- for each store-level capability ``inner`` claims, a mixin that forwards it is added to
  the wrapper's class (one class per combination, made once).

``tests/storage/test_forwarding_store.py`` runs the conformance kit on it (over
``MemoryStore`` and ``SqliteStore``); ``benchmarks/bench_wrapper.py`` times a backtest
through it against the bare store.

Example:
    >>> import ecomcrm
    >>> from ecomcrm.storage import SupportsBulkFacts, SupportsBulkLoad
    >>> inner = ecomcrm.open_store("memory://")
    >>> store = forwarding_store(inner)
    >>> isinstance(store, SupportsBulkFacts), isinstance(store, SupportsBulkLoad)
    (True, False)
    >>> store.state is inner.state
    True
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, TypeVar, cast

from ecomcrm.domain import Identity
from ecomcrm.storage import (
    AuditLog,
    ConsentFacts,
    Customer360,
    CustomerTable,
    ErasureReceipt,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
    MergeRecord,
    OrderFacts,
    RetentionPolicy,
    RetentionReport,
    Store,
    SupportsAuditLog,
    SupportsBulkFacts,
    SupportsBulkLoad,
    SupportsRetention,
    SupportsSharedUrl,
    SupportsSuppressionRemoval,
    SupportsSuppressionSummary,
    SupportsTicketFacts,
    TicketFacts,
)

__all__ = ["ForwardingStore", "forwarding_store"]


class ForwardingStore:
    """The core :class:`~ecomcrm.storage.Store` contract, every call forwarded to ``inner``."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.customers = inner.customers
        self.orders = inner.orders
        self.events = inner.events
        self.consents = inner.consents
        self.tickets = inner.tickets
        self.loyalty = inner.loyalty
        self.messages = inner.messages
        self.state = inner.state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r})"

    def transaction(self) -> AbstractContextManager[None]:
        """Forwarded to ``inner``."""
        return self.inner.transaction()

    def link_identity(self, customer_id: str, identity: Identity) -> None:
        """Forwarded to ``inner``."""
        self.inner.link_identity(customer_id, identity)

    def resolve(self, customer_id: str) -> str:
        """Forwarded to ``inner``."""
        return self.inner.resolve(customer_id)

    def merge(self, survivor_id: str, merged_id: str, *, at: datetime) -> MergeRecord:
        """Forwarded to ``inner``."""
        return self.inner.merge(survivor_id, merged_id, at=at)

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """Forwarded to ``inner``."""
        return self.inner.merges(customer_id)

    def export(self, customer_id: str) -> dict[str, Any]:
        """Forwarded to ``inner``."""
        return self.inner.export(customer_id)

    def erase(self, customer_id: str, *, keep_order_facts: bool = False) -> ErasureReceipt:
        """Forwarded to ``inner``."""
        return self.inner.erase(customer_id, keep_order_facts=keep_order_facts)

    def is_suppressed(self, identity: Identity) -> bool:
        """Forwarded to ``inner``."""
        return self.inner.is_suppressed(identity)

    def customer_table(self) -> CustomerTable:
        """Forwarded to ``inner``."""
        return self.inner.customer_table()

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """Forwarded to ``inner``."""
        return self.inner.order_facts(currency=currency, rates=rates)

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """Forwarded to ``inner``."""
        return self.inner.event_facts(names=names)

    def line_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> LineFacts:
        """Forwarded to ``inner``."""
        return self.inner.line_facts(currency=currency, rates=rates)

    def customer_360(
        self, customer_id: str, *, recent_events: int = 50, messages: int = 50
    ) -> Customer360:
        """Forwarded to ``inner``."""
        return self.inner.customer_360(customer_id, recent_events=recent_events, messages=messages)

    def close(self) -> None:
        """Forwarded to ``inner``."""
        self.inner.close()


# --- one mixin per store-level capability ----------------------------------------------


class _ForwardBulkFacts:
    inner: Store

    def consent_facts(self) -> ConsentFacts:
        return cast(SupportsBulkFacts, self.inner).consent_facts()

    def loyalty_facts(self) -> LoyaltyFacts:
        return cast(SupportsBulkFacts, self.inner).loyalty_facts()


class _ForwardBulkLoad:
    inner: Store

    def bulk_load(self) -> AbstractContextManager[None]:
        return cast(SupportsBulkLoad, self.inner).bulk_load()


class _ForwardSharedUrl:
    inner: Store

    @property
    def url(self) -> str | None:
        return cast(SupportsSharedUrl, self.inner).url


class _ForwardSuppressionSummary:
    inner: Store

    def has_suppressions(self) -> bool:
        return cast(SupportsSuppressionSummary, self.inner).has_suppressions()


class _ForwardSuppressionRemoval:
    inner: Store

    def remove_suppression(self, identity: Identity) -> bool:
        return cast(SupportsSuppressionRemoval, self.inner).remove_suppression(identity)


class _ForwardAuditLog:
    inner: Store

    @property
    def audit(self) -> AuditLog:
        return cast(SupportsAuditLog, self.inner).audit


class _ForwardRetention:
    inner: Store

    def apply_retention(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        return cast(SupportsRetention, self.inner).apply_retention(policy, now)


class _ForwardTicketFacts:
    inner: Store

    def ticket_facts(self) -> TicketFacts:
        return cast(SupportsTicketFacts, self.inner).ticket_facts()


_MIXINS: tuple[tuple[type, type], ...] = (
    (SupportsBulkFacts, _ForwardBulkFacts),
    (SupportsBulkLoad, _ForwardBulkLoad),
    (SupportsSharedUrl, _ForwardSharedUrl),
    (SupportsSuppressionSummary, _ForwardSuppressionSummary),
    (SupportsSuppressionRemoval, _ForwardSuppressionRemoval),
    (SupportsAuditLog, _ForwardAuditLog),
    (SupportsRetention, _ForwardRetention),
    (SupportsTicketFacts, _ForwardTicketFacts),
)

F = TypeVar("F", bound=ForwardingStore)


@functools.cache
def _with_mixins(cls: type[ForwardingStore], mixins: tuple[type, ...]) -> type[ForwardingStore]:
    if not mixins:
        return cls
    return type(cls.__name__, (*mixins, cls), {"__module__": cls.__module__})


def forwarding_store(inner: Store, cls: type[F] = ForwardingStore) -> F:  # type: ignore[assignment]
    """A ``cls`` around ``inner`` that claims exactly the capabilities ``inner`` claims."""
    mixins = tuple(mixin for capability, mixin in _MIXINS if isinstance(inner, capability))
    return cast(F, _with_mixins(cls, mixins)(inner))
