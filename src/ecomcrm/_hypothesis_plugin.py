"""Registers ecomcrm's strategies with Hypothesis so ``st.from_type(Customer)`` works.

Loaded through the ``hypothesis`` entry point; does nothing unless Hypothesis imports it.

Hypothesis runs this hook while ``import hypothesis`` is still executing, and that import
is often triggered by ``ecomcrm.testing.strategies`` itself (the first line of a plugin
author's test file). The hook therefore must not import ``ecomcrm.testing.strategies``:
that module would be only partially initialised. Each type is registered with a
resolver that imports the strategies module when ``st.from_type`` first asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any


def _strategies() -> ModuleType:
    import ecomcrm.testing.strategies as crm

    return crm


def _resolver(factory: str) -> Callable[[type[Any]], Any]:
    """Return a resolver that builds ``ecomcrm.testing.strategies.<factory>()`` on demand."""

    def resolve(_type: type[Any]) -> Any:
        return getattr(_strategies(), factory)()

    return resolve


def _register() -> None:
    try:
        from hypothesis import strategies as st
    except ImportError:  # pragma: no cover - e.g. the test extras are not installed
        return

    from ecomcrm import domain

    registered: list[tuple[type[Any], str]] = [
        (domain.Customer, "customers"),
        (domain.Identity, "identities"),
        (domain.Address, "addresses"),
        (domain.Consent, "consents"),
        (domain.Product, "products"),
        (domain.OrderLine, "order_lines"),
        (domain.Order, "orders"),
        (domain.Event, "events"),
        (domain.SupportTicket, "tickets"),
        (domain.LoyaltyEntry, "loyalty_entries"),
        (domain.Message, "messages"),
    ]
    for cls, factory in registered:
        st.register_type_strategy(cls, _resolver(factory))
