"""Customer profiles (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

from datetime import datetime

import pytest

from ecomcrm.domain import (
    Address,
    Identity,
)
from ecomcrm.errors import ConflictError, NotFoundError, StorageError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    PARIS,
    StoreFixtures,
    at,
    customer,
)


class CustomerBehaviour(StoreFixtures):
    """Customer profiles: put, upsert, get/find, identities, iteration, bulk writes."""

    def test_put_then_get_returns_an_equal_customer(self, store: Store) -> None:
        """Contract: put then get returns an equal customer."""
        ada = customer(
            "c1",
            Identity.email("Ada@Example.com"),
            Identity.phone("+44 20 7946 0958"),
            first_name="Ada",
            last_name="Lovelace",
            birthday=datetime(1815, 12, 10).date(),
            timezone="Europe/London",
            locale="en-GB",
            country="GB",
            acquisition_channel="referral",
            addresses=[Address(line1="12 St James's Sq", city="London", country="GB")],
            tags={"vip", "ü-tag"},
            attributes={"plan": "gold", "score": 1.5, "ok": True, "none": None},
            created_at=at(0.123456, tz=PARIS),
        )
        store.customers.put(ada)
        assert store.customers.get("c1") == ada
        assert store.customers.find("c1") == ada

    def test_put_existing_id_conflicts(self, store: Store) -> None:
        """Contract: put existing id conflicts."""
        store.customers.put(customer("c1"))
        with pytest.raises(ConflictError):
            store.customers.put(customer("c1", first_name="Other"))
        assert store.customers.get("c1").first_name == ""

    def test_identity_belongs_to_one_customer(self, store: Store) -> None:
        """Contract: identity belongs to one customer."""
        store.customers.put(customer("c1", Identity.email("a@example.com")))
        with pytest.raises(ConflictError):
            store.customers.put(customer("c2", Identity.email("A@example.com")))
        with pytest.raises(ConflictError):
            store.customers.upsert(customer("c2", Identity.email("a@example.com")))
        assert store.customers.find("c2") is None

    def test_upsert_creates_then_replaces(self, store: Store) -> None:
        """Contract: upsert creates then replaces."""
        assert store.customers.upsert(customer("c1", Identity.email("a@example.com"))) is True
        replaced = customer("c1", Identity.email("b@example.com"), first_name="Bea")
        assert store.customers.upsert(replaced) is False
        assert store.customers.get("c1") == replaced
        assert store.customers.find_by_identity(Identity.email("a@example.com")) is None
        assert store.customers.find_by_identity(Identity.email("b@example.com")) == replaced
        store.customers.put(customer("c2", Identity.email("a@example.com")))

    def test_missing_customer(self, store: Store) -> None:
        """Contract: missing customer."""
        assert store.customers.find("nobody") is None
        with pytest.raises(NotFoundError):
            store.customers.get("nobody")

    def test_find_by_identity_uses_normalised_values(self, store: Store) -> None:
        """Contract: find by identity uses normalised values."""
        store.customers.put(
            customer("c1", Identity.email("ada@example.com"), Identity.phone("+33612345678"))
        )
        assert store.customers.find_by_identity(Identity.email("  ADA@example.COM")).id == "c1"  # type: ignore[union-attr]
        assert store.customers.find_by_identity(Identity.phone("0033 6 12 34 56 78")).id == "c1"  # type: ignore[union-attr]
        assert store.customers.find_by_identity(Identity.email("bob@example.com")) is None

    def test_iterate_is_ordered_by_id_and_count_agrees(self, store: Store) -> None:
        """Contract: iterate is ordered by id and count agrees."""
        ids = ["c10", "c2", "B", "a", "c1", "é"]
        for cid in ids:
            store.customers.put(customer(cid))
        assert [c.id for c in store.customers.iterate()] == sorted(ids)
        assert store.customers.count() == len(ids)

    def test_put_many_writes_all(self, store: Store) -> None:
        """Contract: put many writes all."""
        written = store.customers.put_many(
            customer(f"c{i}", Identity.email(f"u{i}@example.com")) for i in range(50)
        )
        assert written == 50
        assert store.customers.count() == 50
        assert store.customers.find_by_identity(Identity.email("u49@example.com")).id == "c49"  # type: ignore[union-attr]

    def test_put_many_is_atomic(self, store: Store) -> None:
        """Contract: put many is atomic."""
        store.customers.put(customer("c0", Identity.email("taken@example.com")))
        batch = [
            customer("c1"),
            customer("c2"),
            customer("c3", Identity.email("taken@example.com")),
        ]
        with pytest.raises(ConflictError):
            store.customers.put_many(batch)
        assert store.customers.count() == 1
        assert store.customers.find("c1") is None

    def test_a_closed_store_refuses_use(self, store: Store) -> None:
        """After close(), calls raise StorageError; closing again is harmless."""
        store.customers.put(customer("c1"))
        store.close()
        with pytest.raises(StorageError):
            store.customers.get("c1")
        with pytest.raises(StorageError):
            store.customers.put(customer("c2"))
        store.close()
