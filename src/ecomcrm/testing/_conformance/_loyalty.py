"""The loyalty ledger (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import attrs

from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    customer,
    entry,
)


class LoyaltyBehaviour(StoreFixtures):
    """The points ledger: idempotent appends, ordering, balance."""

    def test_ledger(self, store: Store) -> None:
        """Contract: ledger."""
        store.customers.put(customer("c1"))
        earn = entry("order:1:earn", "c1", 120, 1)
        redeem = entry("redeem:1", "c1", -50, 2)
        early = entry("signup", "c1", 10, 0)
        assert store.loyalty.append(earn) is True
        assert store.loyalty.append(redeem) is True
        assert store.loyalty.append(early) is True
        assert store.loyalty.append(attrs.evolve(earn, points=999)) is False
        assert store.loyalty.has("order:1:earn") and not store.loyalty.has("nope")
        assert store.loyalty.entries("c1") == [early, earn, redeem]
        assert store.loyalty.balance("c1") == 80
        assert store.loyalty.balance("ghost") == 0

    def test_equal_times_keep_insertion_order(self, store: Store) -> None:
        """Contract: equal times keep insertion order."""
        store.customers.put(customer("c1"))
        ids = ["z", "a", "m"]
        for eid in ids:
            store.loyalty.append(entry(eid, "c1", 5, 1))
        assert [e.id for e in store.loyalty.entries("c1")] == ids

    def test_append_many_skips_known_ids(self, store: Store) -> None:
        """Contract: append_many appends in order, skipping ids stored or seen earlier."""
        store.customers.put(customer("c1"))
        first = entry("a", "c1", 5, 1)
        assert store.loyalty.append(first) is True
        batch = [
            attrs.evolve(first, points=99),
            entry("z", "c1", 7, 1),
            entry("b", "c1", -2, 1),
            entry("z", "c1", 1000, 0),
        ]
        assert store.loyalty.append_many(iter(batch)) == 2
        assert store.loyalty.append_many([]) == 0
        assert [e.id for e in store.loyalty.entries("c1")] == ["a", "z", "b"]
        assert store.loyalty.balance("c1") == 10
