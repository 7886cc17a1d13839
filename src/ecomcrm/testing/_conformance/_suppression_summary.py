"""Capability ``SupportsSuppressionSummary`` (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

from ecomcrm.domain import Identity
from ecomcrm.storage import Store, SupportsSuppressionSummary
from ecomcrm.testing._conformance._fixtures import StoreFixtures, customer


class SuppressionSummaryBehaviour(StoreFixtures):
    """``has_suppressions()`` is True exactly when some identity is suppressed."""

    def test_false_until_an_erasure(self, store: Store) -> None:
        """Contract: False on a store where nobody was erased, True after an erasure."""
        summary: SupportsSuppressionSummary = self.claimed(store, SupportsSuppressionSummary)
        assert summary.has_suppressions() is False
        email = Identity.email("kept@example.com")
        store.customers.put(customer("kept", email))
        store.customers.put(customer("gone", Identity.email("gone@example.com")))
        store.merge("kept", "gone", at=store.customers.get("kept").created_at)
        assert summary.has_suppressions() is False
        store.customers.put(customer("erased", Identity.email("erased@example.com")))
        store.erase("erased")
        assert summary.has_suppressions() is True
        assert store.is_suppressed(Identity.email("erased@example.com"))
        assert not store.is_suppressed(email)

    def test_an_erased_person_without_identities_counts(self, store: Store) -> None:
        """Contract: erasing a person with only an id suppresses that id."""
        summary: SupportsSuppressionSummary = self.claimed(store, SupportsSuppressionSummary)
        store.customers.put(customer("bare"))
        store.erase("bare")
        assert summary.has_suppressions() is True
