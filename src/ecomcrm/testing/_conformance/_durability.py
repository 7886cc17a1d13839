"""Durability and second handles (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import pytest

from ecomcrm.domain import Identity
from ecomcrm.errors import ConflictError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    customer,
    order,
)


class DurabilityBehaviour(StoreFixtures):
    """Capability tests: reopening and a second handle."""

    def test_everything_survives_reopen(self, store: Store) -> None:
        """Contract: everything survives reopen."""
        self.require("reopen")
        store.customers.put(customer("a", Identity.email("a@example.com"), first_name="Ada"))
        store.orders.upsert(order("o1", "a"))
        store.state.put("k", {"v": 1}, expected_version=None)
        store.customers.put(customer("z", Identity.email("z@example.com")))
        store.erase("z")
        again = self.reopen(store)
        assert again.customers.get("a").first_name == "Ada"
        assert again.orders.get("o1").customer_id == "a"
        record = again.state.get("k")
        assert record is not None and record.version == 1
        assert again.is_suppressed(Identity.email("z@example.com"))

    def test_two_handles_lose_no_writes(self, store: Store) -> None:
        """Contract: two handles lose no writes."""
        self.require("second_handle")
        other = self.second_handle(store)
        for i in range(20):
            handle = store if i % 2 else other
            handle.customers.put(customer(f"c{i}"))
            record = handle.state.get("counter")
            handle.state.put(
                "counter", {"n": i + 1}, expected_version=None if record is None else record.version
            )
        assert store.customers.count() == other.customers.count() == 20
        final = store.state.get("counter")
        assert final is not None and dict(final.value) == {"n": 20} and final.version == 20
        stale = other.state.get("counter")
        assert stale is not None
        store.state.put("counter", {"n": 21}, expected_version=stale.version)
        with pytest.raises(ConflictError):
            other.state.put("counter", {"n": 99}, expected_version=stale.version)
