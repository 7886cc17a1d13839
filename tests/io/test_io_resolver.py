"""The importers' Resolver: its bounded cache and the overflow filter that keeps lookups exact."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.domain import Customer, Identity
from ecomcrm.io._people import Resolver
from ecomcrm.io._seen_keys import SeenKeys as _SeenKeys
from ecomcrm.storage import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class _CountingStore:
    """Wraps a store and counts the identity lookups that reach it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.lookups = 0
        self.customers = self
        self._repo = store.customers

    def find_by_identity(self, identity: Identity) -> Customer | None:
        self.lookups += 1
        return self._repo.find_by_identity(identity)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repo if name in ("count", "put_many", "find") else self._store, name)


def _customer(i: int) -> Customer:
    return Customer(id=f"c{i}", created_at=T0, identities=[Identity.email(f"p{i}@example.com")])


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(0, 60), min_size=1, max_size=40),
    st.integers(1, 8),
    st.integers(0, 80),
)
def test_lookups_after_trimming_match_the_store(batches: list[int], cap: int, probe: int) -> None:
    """Whatever the cache size, lookups answer as the store does; newcomers never query it."""
    inner = ecomcrm.open_store("memory://")
    store = _CountingStore(inner)
    resolver = Resolver(store, max_cache=cap)  # type: ignore[arg-type]
    created: set[int] = set()
    for n in batches:
        if n not in created and n % 7:  # every 7th person's batch fails and is rolled back
            customer = _customer(n)
            resolver.add(customer)
            inner.customers.put_many([customer])
            created.add(n)
            resolver.batch_written()
        elif n not in created:
            resolver.add(_customer(n))
            resolver.batch_failed()
    for i in (*created, probe):
        expected = f"c{i}" if i in created else None
        assert resolver.lookup([Identity.email(f"p{i}@example.com")]) == expected
    store.lookups = 0
    newcomer = Identity.email("never-seen-before@example.com")
    assert resolver.lookup([newcomer]) is None
    assert store.lookups <= 1  # only a (rare) false positive of the filter asks the store


def test_filter_has_no_false_negatives() -> None:
    seen = _SeenKeys()
    keys = [f"email:p{i}@example.com" for i in range(20_000)]
    for key in keys:
        seen.add(key)
    assert all(key in seen for key in keys)
    others = sum(f"email:q{i}@example.com" in seen for i in range(20_000))
    assert others < 20  # 3 hashes over 2**26 bits: false positives are rare
