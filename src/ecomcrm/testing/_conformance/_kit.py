"""``StoreConformance``: every behaviour group of the storage conformance kit in one class."""

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
from ecomcrm.testing._conformance._event_marks import EventMarksBehaviour
from ecomcrm.testing._conformance._events import EventBehaviour
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


class StoreConformance(
    CustomerBehaviour,
    OrderBehaviour,
    EventBehaviour,
    ConsentBehaviour,
    TicketBehaviour,
    LoyaltyBehaviour,
    MessageBehaviour,
    StateBehaviour,
    TransactionBehaviour,
    MergeBehaviour,
    ExportEraseBehaviour,
    AnalyticsBehaviour,
    Customer360Behaviour,
    RoundTripBehaviour,
    StatefulBehaviour,
    DurabilityBehaviour,
    StateBatchesBehaviour,
    ClaimsBehaviour,
    EventMarksBehaviour,
    BulkFactsBehaviour,
    BulkLoadBehaviour,
    PreparedOrdersBehaviour,
    SharedUrlBehaviour,
    SuppressionSummaryBehaviour,
    SuppressionRemovalBehaviour,
    AuditLogBehaviour,
    RetentionBehaviour,
    TicketFactsBehaviour,
):
    """The whole storage contract: subclass it and define a ``store`` fixture.

    Example:
        >>> import pytest
        >>> from ecomcrm.storage import MemoryStore
        >>> class TestMyStore(StoreConformance):
        ...     @pytest.fixture
        ...     def store(self):
        ...         return MemoryStore()
        >>> "test_merge_is_idempotent_and_never_cycles" in dir(TestMyStore)
        True
    """
