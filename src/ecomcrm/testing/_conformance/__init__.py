"""The storage conformance kit: pytest classes that check the whole store contract.

An adapter author subclasses :class:`StoreConformance` and provides a ``store`` fixture::

    import pytest
    from ecomcrm.testing import StoreConformance
    from mypackage import PgStore

    class TestPgStore(StoreConformance):
        capabilities = frozenset({"raw_dump"})

        @pytest.fixture
        def store(self):
            store = PgStore(url_of_a_fresh_database())
            yield store
            store.close()

        def raw_dump(self, store):          # only with the "raw_dump" capability
            return dump_every_table_as_bytes(store)

The behaviour groups are separate mixins (``CustomerBehaviour``, ``MergeBehaviour``...), so
an adapter in progress can compose only the groups it already supports. Tests that need
an optional capability are skipped when the class does not declare it:

- ``"raw_dump"``: :meth:`StoreFixtures.raw_dump` returns every byte the adapter keeps
  (after its own clean-up); the erase-completeness test scans it for personal data.
- ``"reopen"``: :meth:`StoreFixtures.reopen` closes the store and opens the same data
  again; the durability tests check everything survives.
- ``"second_handle"``: :meth:`StoreFixtures.second_handle` opens a second, independent
  handle (connection, process-level client) on the same data; the concurrency test
  interleaves writes through both and checks none is lost.

Each named optional capability of :mod:`ecomcrm.storage` (``SupportsStateBatches``,
``SupportsClaims``, ``SupportsEventMarks``, ``SupportsBulkFacts``, ``SupportsBulkLoad``,
``SupportsPreparedOrders``,
``SupportsSharedUrl``, ``SupportsSuppressionSummary``, ``SupportsSuppressionRemoval``,
``SupportsAuditLog``,
``SupportsRetention``, ``SupportsTicketFacts``) has its own group
(``StateBatchesBehaviour``...), which proves that the fast path gives what the core
contract gives. An adapter claims a capability by having its members, so these groups
need no declaration: they run for an adapter that claims the capability and are
skipped for one that does not.

One module per behaviour group; ``_fixtures`` holds the hooks and builders they share.
"""

from __future__ import annotations

from ecomcrm.testing._conformance._analytics import AnalyticsBehaviour
from ecomcrm.testing._conformance._audit import AuditLogBehaviour
from ecomcrm.testing._conformance._bulk_facts import BulkFactsBehaviour
from ecomcrm.testing._conformance._bulk_load import BulkLoadBehaviour
from ecomcrm.testing._conformance._claims import ClaimsBehaviour
from ecomcrm.testing._conformance._consents import ConsentBehaviour
from ecomcrm.testing._conformance._customer360 import Customer360Behaviour
from ecomcrm.testing._conformance._customers import CustomerBehaviour
from ecomcrm.testing._conformance._durability import DurabilityBehaviour
from ecomcrm.testing._conformance._erasure import ExportEraseBehaviour
from ecomcrm.testing._conformance._events import EventBehaviour
from ecomcrm.testing._conformance._fixtures import StoreFixtures
from ecomcrm.testing._conformance._kit import StoreConformance
from ecomcrm.testing._conformance._loyalty import LoyaltyBehaviour
from ecomcrm.testing._conformance._merges import MergeBehaviour
from ecomcrm.testing._conformance._messages import MessageBehaviour
from ecomcrm.testing._conformance._orders import OrderBehaviour
from ecomcrm.testing._conformance._prepared_orders import PreparedOrdersBehaviour
from ecomcrm.testing._conformance._random_operations import StatefulBehaviour
from ecomcrm.testing._conformance._retention import RetentionBehaviour
from ecomcrm.testing._conformance._round_trip import RoundTripBehaviour
from ecomcrm.testing._conformance._shared_url import SharedUrlBehaviour
from ecomcrm.testing._conformance._state import StateBehaviour
from ecomcrm.testing._conformance._state_batches import StateBatchesBehaviour
from ecomcrm.testing._conformance._suppression_removal import SuppressionRemovalBehaviour
from ecomcrm.testing._conformance._suppression_summary import SuppressionSummaryBehaviour
from ecomcrm.testing._conformance._ticket_facts import TicketFactsBehaviour
from ecomcrm.testing._conformance._tickets import TicketBehaviour
from ecomcrm.testing._conformance._transactions import TransactionBehaviour

__all__ = [
    "AnalyticsBehaviour",
    "AuditLogBehaviour",
    "BulkFactsBehaviour",
    "BulkLoadBehaviour",
    "ClaimsBehaviour",
    "ConsentBehaviour",
    "Customer360Behaviour",
    "CustomerBehaviour",
    "DurabilityBehaviour",
    "EventBehaviour",
    "ExportEraseBehaviour",
    "LoyaltyBehaviour",
    "MergeBehaviour",
    "MessageBehaviour",
    "OrderBehaviour",
    "PreparedOrdersBehaviour",
    "RetentionBehaviour",
    "RoundTripBehaviour",
    "SharedUrlBehaviour",
    "StateBatchesBehaviour",
    "StateBehaviour",
    "StatefulBehaviour",
    "StoreConformance",
    "StoreFixtures",
    "SuppressionRemovalBehaviour",
    "SuppressionSummaryBehaviour",
    "TicketBehaviour",
    "TicketFactsBehaviour",
    "TransactionBehaviour",
]
