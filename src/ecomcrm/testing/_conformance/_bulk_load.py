"""Capability ``SupportsBulkLoad`` (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import pytest

from ecomcrm.storage import Store, SupportsBulkLoad
from ecomcrm.testing._conformance._fixtures import StoreFixtures, customer, order


class BulkLoadBehaviour(StoreFixtures):
    """Writes inside ``bulk_load()`` commit exactly as outside it."""

    def test_writes_inside_bulk_load_commit(self, store: Store) -> None:
        """Contract: what is committed inside the block is read back, then and after it."""
        bulk: SupportsBulkLoad = self.claimed(store, SupportsBulkLoad)
        with bulk.bulk_load():
            for n in range(3):
                with store.transaction():
                    store.customers.put(customer(f"c{n}"))
                    store.orders.upsert(order(f"o{n}", f"c{n}", n))
            assert store.customers.count() == 3
        assert store.customers.count() == 3 and store.orders.count() == 3
        assert store.orders.get("o2").customer_id == "c2"
        if "reopen" in self.capabilities:
            store = self.reopen(store)
            assert store.customers.count() == 3 and store.orders.count() == 3

    def test_bulk_load_keeps_transactions_atomic_and_ends_on_errors(self, store: Store) -> None:
        """Contract: a failed block rolls back as usual; an exception leaves the normal mode."""
        bulk: SupportsBulkLoad = self.claimed(store, SupportsBulkLoad)
        with pytest.raises(RuntimeError), bulk.bulk_load():
            store.customers.put(customer("kept"))
            with store.transaction():
                store.customers.put(customer("rolled-back"))
                raise RuntimeError("boom")
        assert store.customers.find("kept") is not None
        assert store.customers.find("rolled-back") is None
        store.customers.put(customer("after"))  # the store is usable after the block
        with bulk.bulk_load():
            pass
        assert store.customers.count() == 2
