"""Test helpers for ecomcrm users and adapter authors (needs pytest and Hypothesis).

- :class:`StoreConformance`: the storage conformance kit. Subclass it in your adapter's
  tests and provide a ``store`` fixture returning a fresh, empty store; every behaviour of
  the contract in :mod:`ecomcrm.storage` is then checked. The behaviour groups are also
  available one by one (``CustomerBehaviour``, ``MergeBehaviour``...) to compose.
- :class:`StoreStateMachine` / :func:`run_state_machine`: a Hypothesis stateful test that
  drives any store against a plain dict model.
- :class:`FakeClock`: a settable clock for code that takes ``now`` or a clock.
- ``ecomcrm.testing.strategies``: Hypothesis strategies for every domain type.

Names are imported on first use so that Hypothesis' plugin hook
(``ecomcrm.testing._hypothesis_plugin``) stays cheap.

Example:
    >>> from ecomcrm.testing import FakeClock
    >>> from datetime import datetime, timedelta, timezone
    >>> clock = FakeClock(datetime(2024, 1, 1, tzinfo=timezone.utc))
    >>> clock.advance(timedelta(hours=2)).hour
    2
"""

from __future__ import annotations

import importlib
import importlib.util
import typing
from typing import Any

if importlib.util.find_spec("hypothesis") is None:  # pragma: no cover - depends on the env
    raise ImportError(
        "ecomcrm.testing needs Hypothesis (and pytest for the conformance kit): "
        "pip install 'ecomcrm[test]' or pip install hypothesis pytest"
    )

if typing.TYPE_CHECKING:
    from ecomcrm.testing._clock import FakeClock
    from ecomcrm.testing._conformance import (
        AnalyticsBehaviour,
        AuditLogBehaviour,
        BulkFactsBehaviour,
        BulkLoadBehaviour,
        ClaimsBehaviour,
        ConsentBehaviour,
        Customer360Behaviour,
        CustomerBehaviour,
        DurabilityBehaviour,
        EventBehaviour,
        ExportEraseBehaviour,
        LoyaltyBehaviour,
        MergeBehaviour,
        MessageBehaviour,
        OrderBehaviour,
        PreparedOrdersBehaviour,
        RetentionBehaviour,
        RoundTripBehaviour,
        SharedUrlBehaviour,
        StateBatchesBehaviour,
        StateBehaviour,
        StatefulBehaviour,
        StoreConformance,
        StoreFixtures,
        SuppressionRemovalBehaviour,
        SuppressionSummaryBehaviour,
        TicketBehaviour,
        TicketFactsBehaviour,
        TransactionBehaviour,
    )
    from ecomcrm.testing._stateful import StoreStateMachine, run_state_machine

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
    "FakeClock",
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
    "StoreStateMachine",
    "SuppressionRemovalBehaviour",
    "SuppressionSummaryBehaviour",
    "TicketBehaviour",
    "TicketFactsBehaviour",
    "TransactionBehaviour",
    "run_state_machine",
]

_WHERE = {
    "FakeClock": "ecomcrm.testing._clock",
    "StoreStateMachine": "ecomcrm.testing._stateful",
    "run_state_machine": "ecomcrm.testing._stateful",
}


def _require_pytest() -> None:
    if importlib.util.find_spec("pytest") is None:
        raise ImportError(
            "the ecomcrm conformance kit needs pytest: pip install 'ecomcrm[test]' or pip install pytest"
        )


def __getattr__(name: str) -> Any:
    if name not in __all__:
        if name == "strategies":
            return importlib.import_module("ecomcrm.testing.strategies")
        raise AttributeError(f"module 'ecomcrm.testing' has no attribute {name!r}")
    module_name = _WHERE.get(name, "ecomcrm.testing._conformance")
    if module_name != "ecomcrm.testing._clock":
        _require_pytest()
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, "strategies"])
