"""Transactions (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecomcrm.domain import (
    Identity,
    Refund,
    to_dict,
)
from ecomcrm.errors import ConflictError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    at,
    consent,
    customer,
    entry,
    event,
    message,
    order,
    ticket,
)


class TransactionBehaviour(StoreFixtures):
    """``with store.transaction():`` is atomic across every repository."""

    def _seed(self, store: Store) -> None:
        store.customers.put(customer("c1", Identity.email("a@example.com"), first_name="Ada"))
        store.orders.upsert(order("1", "c1"))
        store.state.put("k", {"v": 1}, expected_version=None)

    def _snapshot(self, store: Store) -> Any:
        return (
            [to_dict(c) for c in store.customers.iterate()],
            store.orders.count(),
            [to_dict(o) for o in store.orders.for_customer("c1")],
            store.orders.refunds_for_customer("c1"),
            store.events.count(),
            store.consents.history("c1"),
            store.tickets.for_customer("c1"),
            store.loyalty.entries("c1"),
            store.messages.for_customer("c1"),
            [(r.key, json.dumps(r.value, sort_keys=True), r.version) for r in store.state.scan()],
            store.merges("c1"),
        )

    def test_an_exception_rolls_back_every_repository(self, store: Store) -> None:
        """Contract: an exception rolls back every repository."""
        self._seed(store)
        before = self._snapshot(store)
        with pytest.raises(RuntimeError, match="boom"), store.transaction():
            store.customers.upsert(
                customer("c1", Identity.email("b@example.com"), first_name="Changed")
            )
            store.customers.put(customer("c2", Identity.email("a@example.com")))
            store.orders.upsert(order("1", "c1", price="99.00"))
            store.orders.upsert(order("2", "c2"))
            store.orders.add_refund(
                Refund(id="r", order_id="1", customer_id="c1", at=at(1), amount="1", currency="EUR")
            )
            store.events.append(event("Cart Viewed", 1, cid="c1"))
            store.consents.record(consent("c1", True))
            store.tickets.upsert(ticket("t1", "c1"))
            store.loyalty.append(entry("e1", "c1", 10))
            store.messages.upsert(message("m1", "c1"))
            store.state.put("k", {"v": 2}, expected_version=1)
            store.state.put("k2", {"v": 1}, expected_version=None)
            store.link_identity("c1", Identity.phone("+33612345678"))
            store.merge("c1", "c2", at=at(2))
            raise RuntimeError("boom")
        assert self._snapshot(store) == before
        assert store.customers.find("c2") is None
        assert store.resolve("c2") == "c2"
        assert store.customers.find_by_identity(Identity.email("a@example.com")).id == "c1"  # type: ignore[union-attr]
        assert store.customers.find_by_identity(Identity.phone("+33612345678")) is None
        assert store.loyalty.has("e1") is False
        assert store.state.get("k2") is None

    def test_a_failing_write_inside_rolls_back_earlier_writes(self, store: Store) -> None:
        """Contract: a failing write inside rolls back earlier writes."""
        self._seed(store)
        with pytest.raises(ConflictError), store.transaction():
            store.customers.put(customer("c2"))
            store.state.put("k", {"v": 5}, expected_version=7)
        assert store.customers.find("c2") is None

    def test_nested_blocks_join_the_outer_one(self, store: Store) -> None:
        """Contract: nested blocks join the outer one."""
        with pytest.raises(RuntimeError), store.transaction():
            with store.transaction():
                store.customers.put(customer("c1"))
            store.customers.put(customer("c2"))
            raise RuntimeError("outer fails")
        assert store.customers.count() == 0

    def test_committed_blocks_stay(self, store: Store) -> None:
        """Contract: committed blocks stay."""
        with store.transaction():
            store.customers.put(customer("c1"))
            store.orders.upsert(order("1", "c1"))
        assert store.orders.get("1").customer_id == "c1"

    def test_rollback_of_an_erasure(self, store: Store) -> None:
        """Contract: rollback of an erasure."""
        self._seed(store)
        before = self._snapshot(store)
        with pytest.raises(RuntimeError), store.transaction():
            store.erase("c1")
            raise RuntimeError("undo")
        assert self._snapshot(store) == before
        assert store.is_suppressed(Identity.email("a@example.com")) is False
