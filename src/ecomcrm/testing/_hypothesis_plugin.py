"""Hypothesis entry point: ``st.from_type(Customer)`` draws from ``ecomcrm.testing.strategies``.

Hypothesis calls :func:`_register` while it is itself being imported, so this module must
not import ``ecomcrm.testing`` eagerly (that would import pytest and Hypothesis again).
Strategies are resolved with :func:`hypothesis.strategies.deferred`, on first draw.
"""

from __future__ import annotations

import importlib
from typing import Any

_TYPES = {
    "Customer": "customers",
    "Identity": "identities",
    "Order": "orders",
    "Event": "events",
    "Consent": "consents",
    "SupportTicket": "tickets",
    "LoyaltyEntry": "loyalty_entries",
    "Message": "messages",
}


def _deferred(function_name: str) -> Any:
    from hypothesis import strategies as st

    def build() -> Any:
        module = importlib.import_module("ecomcrm.testing.strategies")
        return getattr(module, function_name)()

    return st.deferred(build)


def _register() -> None:
    """Register a strategy for each domain type that ``ecomcrm.testing.strategies`` covers."""
    from hypothesis import strategies as st

    from ecomcrm import domain

    for type_name, function_name in _TYPES.items():
        st.register_type_strategy(getattr(domain, type_name), _deferred(function_name))
