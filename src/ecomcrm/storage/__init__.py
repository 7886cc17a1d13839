"""Storage: the store contract, the built-in adapters and ``open_store(url)``.

A store holds customers, orders, events, consents, tickets, the loyalty ledger, the
message log and the rules engine's state, behind the :class:`Store` protocol. Open one
by URL: ``"memory://"`` (:class:`MemoryStore`, for tests and demos), ``"sqlite:///crm.db"``
(the embedded default, one file), ``"postgresql://user@host/db?schema=crm"``
(:class:`PostgresStore`, many processes on one server database; the ``postgres`` extra),
or any scheme a plugin registers under the
``ecomcrm.stores`` entry-point group or through :func:`register_store`. Plugin authors
prove their adapter with ``ecomcrm.testing.StoreConformance``.

Beyond the core contract a store may claim named optional capabilities
(:class:`SupportsStateBatches`, :class:`SupportsClaims`, :class:`SupportsEventMarks`,
:class:`SupportsBulkFacts`,
:class:`SupportsBulkLoad`, :class:`SupportsPreparedOrders`, :class:`SupportsSharedUrl`,
:class:`SupportsSuppressionSummary`, :class:`SupportsSuppressionRemoval`, :class:`SupportsAuditLog`,
:class:`SupportsRetention`, :class:`SupportsTicketFacts`):
fast paths that callers test for with
``isinstance`` and do without when they are absent.

Example:
    >>> from datetime import datetime, timezone
    >>> import ecomcrm
    >>> from ecomcrm.domain import Customer, Identity
    >>> store = ecomcrm.open_store("memory://")
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> store.customers.put(Customer(id="c1", created_at=t, identities=[Identity.email("ada@example.com")]))
    >>> store.customers.find_by_identity(Identity.email("ADA@example.com")).id
    'c1'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecomcrm.storage._audit import (
    AuditAction,
    AuditContext,
    AuditEntry,
    AuditLog,
    SupportsAuditLog,
    audit_context,
    current_audit_context,
)
from ecomcrm.storage._capabilities import (
    EventMark,
    StateChange,
    SupportsBulkFacts,
    SupportsBulkLoad,
    SupportsClaims,
    SupportsEventMarks,
    SupportsPreparedOrders,
    SupportsSharedUrl,
    SupportsStateBatches,
    SupportsSuppressionRemoval,
    SupportsSuppressionSummary,
    SupportsTicketFacts,
)
from ecomcrm.storage._protocols import (
    ConsentRepository,
    CustomerRepository,
    EventRepository,
    LoyaltyRepository,
    MessageRepository,
    OrderRepository,
    StateRepository,
    Store,
    TicketRepository,
)
from ecomcrm.storage._records import (
    ConsentFacts,
    Customer360,
    CustomerTable,
    ErasureReceipt,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
    MergeRecord,
    OrderFacts,
    StateRecord,
    TicketFacts,
)
from ecomcrm.storage._registry import (
    ENTRY_POINT_GROUP,
    open_store,
    register_store,
    store_schemes,
    unregister_store,
)
from ecomcrm.storage._retention import (
    Period,
    RetentionPolicy,
    RetentionReport,
    SupportsRetention,
    parse_period,
)
from ecomcrm.storage.memory import MemoryStore
from ecomcrm.storage.sqlite import SqliteStore

if TYPE_CHECKING:
    from ecomcrm.storage.postgres import PostgresStore

__all__ = [
    "ENTRY_POINT_GROUP",
    "AuditAction",
    "AuditContext",
    "AuditEntry",
    "AuditLog",
    "ConsentFacts",
    "ConsentRepository",
    "Customer360",
    "CustomerRepository",
    "CustomerTable",
    "ErasureReceipt",
    "EventFacts",
    "EventMark",
    "EventRepository",
    "LineFacts",
    "LoyaltyFacts",
    "LoyaltyRepository",
    "MemoryStore",
    "MergeRecord",
    "MessageRepository",
    "OrderFacts",
    "OrderRepository",
    "Period",
    "PostgresStore",
    "RetentionPolicy",
    "RetentionReport",
    "SqliteStore",
    "StateChange",
    "StateRecord",
    "StateRepository",
    "Store",
    "SupportsAuditLog",
    "SupportsBulkFacts",
    "SupportsBulkLoad",
    "SupportsClaims",
    "SupportsEventMarks",
    "SupportsPreparedOrders",
    "SupportsRetention",
    "SupportsSharedUrl",
    "SupportsStateBatches",
    "SupportsSuppressionRemoval",
    "SupportsSuppressionSummary",
    "SupportsTicketFacts",
    "TicketFacts",
    "TicketRepository",
    "audit_context",
    "current_audit_context",
    "open_store",
    "parse_period",
    "register_store",
    "store_schemes",
    "unregister_store",
]


def __getattr__(name: str) -> Any:
    # PostgresStore needs the optional psycopg: imported on first use (StorageError with
    # the install hint when it is missing), so ``import ecomcrm.storage`` never needs it.
    if name == "PostgresStore":
        from ecomcrm.storage.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
