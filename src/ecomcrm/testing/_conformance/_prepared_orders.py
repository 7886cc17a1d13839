"""Capability ``SupportsPreparedOrders`` (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import attrs
import pytest

from ecomcrm.errors import NotFoundError
from ecomcrm.storage import Store, SupportsPreparedOrders
from ecomcrm.testing._conformance._fixtures import StoreFixtures, at, customer, order


class PreparedOrdersBehaviour(StoreFixtures):
    """``put_many(prepare_many(orders))`` is ``put_many(orders)``."""

    def test_prepare_writes_nothing_and_keeps_the_orders(self, store: Store) -> None:
        """Contract: the prepared orders equal the given ones, in order; nothing is written."""
        orders: SupportsPreparedOrders = self.claimed(store.orders, SupportsPreparedOrders)
        store.customers.put(customer("c1"))
        batch = [order("o2", "c1", 2), order("o1", "c1", 1, "5.00", quantity=3)]
        prepared = orders.prepare_many(iter(batch))
        assert list(prepared) == batch
        assert store.orders.count() == 0

    def test_prepared_orders_write_like_plain_ones(self, store: Store) -> None:
        """Contract: the same result and stored orders as put_many of the plain orders."""
        orders: SupportsPreparedOrders = self.claimed(store.orders, SupportsPreparedOrders)
        store.customers.put_many([customer("a"), customer("b"), customer("m")])
        store.merge("a", "m", at=at(1))
        plain = [order("p1", "b", 1, "7.00", quantity=2), order("p2", "m", 2)]
        fast = [order("f1", "b", 1, "7.00", quantity=2), order("f2", "m", 2)]
        assert store.orders.put_many(orders.prepare_many(fast)) == store.orders.put_many(plain)
        for p, f in (("p1", "f1"), ("p2", "f2")):
            assert store.orders.get(f) == attrs.evolve(store.orders.get(p), id=f)
        assert [o.id for o in store.orders.for_customer("a")] == ["f2", "p2"]
        # replacing stored orders: an upsert through the prepared path
        again = [order("f2", "m", 4, "9.00")]
        assert store.orders.put_many(orders.prepare_many(again)) == store.orders.put_many(
            [order("p2", "m", 4, "9.00")]
        )
        assert store.orders.get("f2").placed_at == store.orders.get("p2").placed_at == at(4)

    def test_prepared_orders_of_unknown_customers_are_refused(self, store: Store) -> None:
        """Contract: NotFoundError for an unknown customer, as for plain orders; nothing written."""
        orders: SupportsPreparedOrders = self.claimed(store.orders, SupportsPreparedOrders)
        store.customers.put(customer("c1"))
        with pytest.raises(NotFoundError):
            store.orders.put_many(orders.prepare_many([order("o1", "c1"), order("o2", "ghost")]))
        assert store.orders.count() == 0
