"""Registers ecomcrm's strategies with Hypothesis so ``st.from_type(Customer)`` works.

Loaded through the ``hypothesis`` entry point; does nothing unless Hypothesis imports it.
"""

from __future__ import annotations


def _register() -> None:
    try:
        from hypothesis import strategies as st

        from ecomcrm import domain
        from ecomcrm.testing import strategies as crm
    except ImportError:  # pragma: no cover - e.g. the test extras are not installed
        return

    st.register_type_strategy(domain.Customer, crm.customers())
    st.register_type_strategy(domain.Identity, crm.identities())
    st.register_type_strategy(domain.Address, crm.addresses())
    st.register_type_strategy(domain.Consent, crm.consents())
    st.register_type_strategy(domain.Product, crm.products())
    st.register_type_strategy(domain.OrderLine, crm.order_lines())
    st.register_type_strategy(domain.Order, crm.orders())
    st.register_type_strategy(domain.Event, crm.events())
    st.register_type_strategy(domain.SupportTicket, crm.tickets())
    st.register_type_strategy(domain.LoyaltyEntry, crm.loyalty_entries())
    st.register_type_strategy(domain.Message, crm.messages())
