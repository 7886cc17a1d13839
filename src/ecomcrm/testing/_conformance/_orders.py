"""Orders, refunds and returns (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest

from ecomcrm.domain import (
    Address,
    Order,
    OrderLine,
    Refund,
    ReturnLine,
)
from ecomcrm.errors import NotFoundError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    PARIS,
    StoreFixtures,
    at,
    customer,
    order,
)


class OrderBehaviour(StoreFixtures):
    """Orders with lines, refunds and returns."""

    def test_order_round_trip(self, store: Store) -> None:
        """Contract: order round trip."""
        store.customers.put(customer("c1"))
        rich = Order(
            id="1001",
            customer_id="c1",
            placed_at=at(1.5, tz=PARIS),
            currency="JPY",
            lines=[
                OrderLine(
                    sku="A",
                    title="Tea",
                    quantity=2,
                    unit_price="1200",
                    discount="100",
                    category="Food > Tea",
                ),
                OrderLine(sku="B", quantity=1, unit_price="0"),
            ],
            discount="100",
            shipping="500",
            tax="230",
            status="shipped",
            sales_channel="web",
            discount_codes=["WELCOME10"],
            shipping_address=Address(line1="1-1 Chiyoda", city="Tokyo", country="JP"),
            shipped_at=at(2),
        )
        assert store.orders.upsert(rich) is True
        assert store.orders.get("1001") == rich
        assert store.orders.for_customer("c1") == [rich]
        assert store.orders.count() == 1

    def test_order_for_unknown_customer_is_refused(self, store: Store) -> None:
        """Contract: order for unknown customer is refused."""
        with pytest.raises(NotFoundError):
            store.orders.upsert(order("1", "ghost"))
        assert store.orders.count() == 0

    def test_upsert_replaces(self, store: Store) -> None:
        """Contract: upsert replaces."""
        store.customers.put(customer("c1"))
        store.orders.upsert(order("1", "c1", price="10.00"))
        assert store.orders.upsert(order("1", "c1", price="12.00", status="delivered")) is False
        assert store.orders.get("1").total == Decimal("12.00")
        assert store.orders.count() == 1

    def test_missing_order(self, store: Store) -> None:
        """Contract: missing order."""
        with pytest.raises(NotFoundError):
            store.orders.get("nope")

    def test_for_customer_orders_by_time_then_id(self, store: Store) -> None:
        """Contract: for customer orders by time then id."""
        store.customers.put_many([customer("c1"), customer("c2")])
        store.orders.put_many(
            [order("b", "c1", 2), order("a", "c1", 2), order("z", "c1", 1), order("x", "c2", 0)]
        )
        assert [o.id for o in store.orders.for_customer("c1")] == ["z", "a", "b"]
        assert store.orders.for_customer("nobody") == []

    def test_put_many_orders_is_atomic(self, store: Store) -> None:
        """Contract: put many orders is atomic."""
        store.customers.put(customer("c1"))
        with pytest.raises(NotFoundError):
            store.orders.put_many([order("1", "c1"), order("2", "ghost")])
        assert store.orders.count() == 0

    def test_refunds_and_returns(self, store: Store) -> None:
        """Contract: refunds and returns."""
        store.customers.put(customer("c1"))
        store.orders.upsert(order("1", "c1", quantity=3, price="10.00"))
        late = Refund(
            id="r2",
            order_id="1",
            customer_id="c1",
            at=at(9),
            amount="5.00",
            currency="EUR",
            reason="late",
        )
        back = Refund(
            id="r1",
            order_id="1",
            customer_id="c1",
            at=at(5),
            amount="10.00",
            currency="EUR",
            returned=True,
            lines=[ReturnLine(sku="SKU-1", quantity=1, reason="too small")],
        )
        assert store.orders.add_refund(late) is True
        assert store.orders.add_refund(back) is True
        assert store.orders.add_refund(attrs.evolve(back, amount=Decimal("99"))) is False
        assert store.orders.refunds_for_order("1") == [back, late]
        assert store.orders.refunds_for_customer("c1") == [back, late]
        assert store.orders.refunds_for_order("other") == []

    def test_refund_for_unknown_order_is_refused(self, store: Store) -> None:
        """Contract: refund for unknown order is refused."""
        store.customers.put(customer("c1"))
        with pytest.raises(NotFoundError):
            store.orders.add_refund(
                Refund(
                    id="r", order_id="nope", customer_id="c1", at=at(), amount="1", currency="EUR"
                )
            )

    def test_add_refunds_skips_known_ids(self, store: Store) -> None:
        """Contract: add_refunds adds in order, skipping ids stored or seen earlier."""
        store.customers.put(customer("c1"))
        store.customers.put(customer("c2"))
        store.orders.put_many([order("1", "c1"), order("2", "c2")])
        store.merge("c1", "c2", at=at(0))

        def refund(rid: str, oid: str, cid: str, days: float, amount: str = "1.00") -> Refund:
            return Refund(
                id=rid, order_id=oid, customer_id=cid, at=at(days), amount=amount, currency="EUR"
            )

        first = refund("r1", "1", "c1", 3)
        assert store.orders.add_refund(first) is True
        batch = [
            attrs.evolve(first, amount=Decimal("9")),
            refund("r2", "2", "c2", 2),
            refund("r3", "1", "c1", 1, "2.00"),
            refund("r2", "1", "c1", 0, "7.00"),
        ]
        assert store.orders.add_refunds(iter(batch)) == 2
        assert store.orders.add_refunds([]) == 0
        moved = attrs.evolve(batch[1], customer_id="c1")
        assert store.orders.refunds_for_order("1") == [batch[2], first]
        assert store.orders.refunds_for_customer("c1") == [batch[2], moved, first]

    def test_add_refunds_is_atomic(self, store: Store) -> None:
        """Contract: add_refunds names the first unknown order's row and writes nothing."""
        store.customers.put(customer("c1"))
        store.orders.upsert(order("1", "c1"))
        batch = [
            Refund(id=f"r{k}", order_id=o, customer_id="c1", at=at(), amount="1", currency="EUR")
            for k, o in enumerate(["1", "nope", "1"])
        ]
        with pytest.raises(NotFoundError) as caught:
            store.orders.add_refunds(batch)
        assert caught.value.row == 1 and caught.value.value == "nope"
        assert store.orders.refunds_for_order("1") == []
