"""The columnar reads (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pytest

from ecomcrm.domain import (
    Identity,
    Order,
    OrderLine,
    Refund,
    ReturnLine,
)
from ecomcrm.errors import ValidationError
from ecomcrm.storage import Store
from ecomcrm.testing._conformance._fixtures import (
    T0,
    StoreFixtures,
    _us,
    at,
    consent,
    customer,
    event,
    order,
)


class AnalyticsBehaviour(StoreFixtures):
    """Columnar reads equal the object reads."""

    def _write(self, store: Store) -> None:
        store.customers.put_many(
            [
                customer(
                    "b",
                    country="FR",
                    tags={"vip", "b2b"},
                    timezone="Europe/Paris",
                    acquisition_channel="ads",
                ),
                customer("a", birthday=datetime(1990, 5, 17).date(), created_at=at(-3)),
                customer("c", tags={"vip"}),
            ]
        )
        store.link_identity("c", Identity(kind="anonymous", value="cookie-c"))
        store.orders.put_many(
            [
                order("o3", "a", 2, "10.00", quantity=2),
                order("o1", "b", 1, "5.50"),
                order("o2", "c", 1, "1000", currency="JPY"),
                order("o4", "a", 3, "8.00", status="cancelled", cancelled_at=at(3.5)),
            ]
        )
        store.orders.add_refund(
            Refund(
                id="r",
                order_id="o3",
                customer_id="a",
                at=at(4),
                amount="4.00",
                currency="EUR",
                returned=True,
                lines=[ReturnLine(sku="SKU-1", quantity=1)],
            )
        )
        store.consents.record(consent("a", True))
        store.consents.record(consent("b", False))
        store.events.append_many(
            [
                event("Product Viewed", 1, cid="a", sku="TEE"),
                event("Order Completed", 1.5, cid="b"),
                event("Product Viewed", 2, anon="cookie-c", product_id=7),
                event("Product Viewed", 0, anon="stranger"),
            ]
        )

    def test_mixed_currencies_need_rates(self, store: Store) -> None:
        """Contract: mixed currencies need rates."""
        self._write(store)
        with pytest.raises(ValidationError, match="JPY"):
            store.order_facts()
        with pytest.raises(ValidationError, match="JPY"):
            store.order_facts(currency="EUR", rates={"USD": 1.1})

    def test_order_facts_equal_object_reads(self, store: Store) -> None:
        """Contract: order facts equal object reads."""
        self._write(store)
        rates = {"JPY": 0.0062}
        facts = store.order_facts(currency="EUR", rates=rates)
        table = store.customer_table()
        assert facts.currency == "EUR"
        assert facts.customer_ids.tolist() == table.ids.tolist() == ["a", "b", "c"]
        assert facts.order_id.tolist() == ["o1", "o2", "o3", "o4"]
        expected = sorted(
            (o for c in store.customers.iterate() for o in store.orders.for_customer(c.id)),
            key=lambda o: (o.placed_at, o.id),
        )
        assert [o.id for o in expected] == facts.order_id.tolist()
        assert facts.customer_ids[facts.customer_index].tolist() == [
            o.customer_id for o in expected
        ]
        assert facts.placed_at.dtype == np.dtype("datetime64[us]")
        assert facts.placed_at.tolist() == [_us(o.placed_at).tolist() for o in expected]
        assert facts.amount.dtype == np.float64
        np.testing.assert_allclose(
            facts.amount, [float(o.total) * rates.get(o.currency, 1.0) for o in expected]
        )
        np.testing.assert_allclose(facts.refunded, [0.0, 0.0, 4.0, 0.0])
        assert facts.units.tolist() == [1, 1, 2, 1]
        assert facts.returned_units.tolist() == [0, 0, 1, 0]
        assert facts.cancelled.tolist() == [False, False, False, True]

    def test_single_currency_needs_no_rates(self, store: Store) -> None:
        """Contract: single currency needs no rates."""
        store.customers.put(customer("a"))
        empty = store.order_facts(currency="USD")
        assert len(empty) == 0 and empty.currency == "USD"
        store.orders.upsert(order("o1", "a", currency="GBP"))
        facts = store.order_facts()
        assert facts.currency == "GBP" and facts.amount.tolist() == [10.0]

    def test_event_facts_equal_object_reads(self, store: Store) -> None:
        """Contract: event facts equal object reads."""
        self._write(store)
        facts = store.event_facts()
        assert facts.customer_ids.tolist() == ["a", "b", "c"]
        assert facts.at.dtype == np.dtype("datetime64[us]")
        assert [facts.names[c] for c in facts.name_code] == [
            "Product Viewed",
            "Product Viewed",
            "Order Completed",
            "Product Viewed",
        ]
        assert facts.names == ("Order Completed", "Product Viewed")
        assert facts.customer_index.tolist() == [-1, 0, 1, 2]
        assert facts.at.tolist() == [_us(at(d)).tolist() for d in (0, 1, 1.5, 2)]
        assert facts.product.tolist()[0] is None and facts.product.tolist()[3] == "7"
        only = store.event_facts(names=["Order Completed"])
        assert (
            len(only) == 1
            and only.names == ("Order Completed",)
            and only.customer_index.tolist() == [1]
        )
        for i, cid in enumerate(facts.customer_ids.tolist()):
            mine = store.events.for_customer(cid)
            assert int((facts.customer_index == i).sum()) == len(mine)

    def _write_lines(self, store: Store) -> None:
        def line(sku: str, quantity: int, price: str, **fields: Any) -> OrderLine:
            return OrderLine(sku=sku, quantity=quantity, unit_price=price, **fields)

        def refund(rid: str, oid: str, cid: str, returned: bool, *lines: ReturnLine) -> Refund:
            return Refund(
                id=rid,
                order_id=oid,
                customer_id=cid,
                at=at(5),
                amount="1.00",
                currency="EUR",
                returned=returned,
                lines=lines,
            )

        tops = "Apparel > Tops"
        store.customers.put_many(
            [customer(c) for c in ("a", "b", "c", "d")] + [customer("e", Identity.email("e@x.co"))]
        )
        store.orders.put_many(
            [
                Order(
                    id="o1",
                    customer_id="a",
                    placed_at=at(1),
                    currency="EUR",
                    lines=[
                        line("SKU-A", 2, "10.00", discount="1.00", category=tops),
                        line("SKU-B", 1, "5.50"),
                        line("SKU-A", 1, "10.00", category=tops),
                    ],
                ),
                Order(
                    id="o2",
                    customer_id="b",
                    placed_at=at(2),
                    currency="JPY",
                    lines=[line("SKU-C", 3, "1000", category=("Home",))],
                ),
                Order(
                    id="o3",
                    customer_id="a",
                    placed_at=at(3),
                    currency="EUR",
                    status="cancelled",
                    lines=[line("SKU-B", 1, "5.50", category="Home > Kitchen")],
                ),
                Order(
                    id="o4",
                    customer_id="d",
                    placed_at=at(2),
                    currency="EUR",
                    lines=[line("SKU-D", 1, "20.00", category="Apparel > Shoes")],
                ),
                Order(
                    id="o5",
                    customer_id="e",
                    placed_at=at(1),
                    currency="EUR",
                    lines=[line("SKU-E", 1, "3.00")],
                ),
                Order(id="o6", customer_id="a", placed_at=at(4), currency="EUR", shipping="4.99"),
            ]
        )
        store.orders.add_refund(refund("r1", "o1", "a", True, ReturnLine(sku="SKU-A", quantity=2)))
        store.orders.add_refund(
            refund(
                "r2",
                "o1",
                "a",
                True,
                ReturnLine(sku="SKU-A", quantity=1),
                ReturnLine(sku="SKU-Z", quantity=1),
            )
        )
        store.orders.add_refund(refund("r3", "o1", "a", False, ReturnLine(sku="SKU-B", quantity=1)))
        store.merge("c", "d", at=at(6))
        store.erase("e")

    def test_line_facts_equal_object_reads(self, store: Store) -> None:
        """Contract: line facts equal what the object reads imply (``Store.line_facts``)."""
        self._write_lines(store)
        rates = {"JPY": 0.0062}
        facts = store.line_facts(currency="EUR", rates=rates)
        orders = store.order_facts(currency="EUR", rates=rates)
        assert facts.currency == "EUR"
        assert facts.customer_ids.tolist() == store.customer_table().ids.tolist()
        assert facts.order_ids.tolist() == orders.order_id.tolist()
        assert facts.order_ids.tolist() == ["o1", "o2", "o4", "o3", "o6"]
        index = {cid: i for i, cid in enumerate(facts.customer_ids.tolist())}
        expected: list[tuple[Any, ...]] = []
        for j, oid in enumerate(facts.order_ids.tolist()):
            o = store.orders.get(oid)
            left: dict[str, int] = {}
            for r in store.orders.refunds_for_order(oid):
                for item in r.lines if r.returned else ():
                    left[item.sku] = left.get(item.sku, 0) + item.quantity
            for ln in o.lines:
                taken = min(ln.quantity, left.get(ln.sku, 0))
                left[ln.sku] = left.get(ln.sku, 0) - taken
                total = float(ln.unit_price) * ln.quantity - float(ln.discount)
                expected.append(
                    (
                        index[store.resolve(o.customer_id)],
                        j,
                        ln.sku,
                        " > ".join(ln.category) or None,
                        ln.quantity,
                        total * rates.get(o.currency, 1.0),
                        _us(o.placed_at).tolist(),
                        o.is_cancelled,
                        taken,
                    )
                )
        assert len(facts) == len(expected) == 6
        assert facts.skus == ("SKU-A", "SKU-B", "SKU-C", "SKU-D")
        assert facts.categories == ("Apparel > Shoes", "Apparel > Tops", "Home", "Home > Kitchen")
        assert facts.sku_code.dtype == np.int32 and facts.category_code.dtype == np.int32
        assert facts.placed_at.dtype == np.dtype("datetime64[us]")
        assert facts.amount.dtype == np.float64 and facts.quantity.dtype == np.int64
        assert facts.customer_index.tolist() == [e[0] for e in expected]
        assert facts.order_index.tolist() == [e[1] for e in expected]
        assert facts.sku.tolist() == [e[2] for e in expected]
        names = [facts.categories[c] if c >= 0 else None for c in facts.category_code.tolist()]
        assert names == [e[3] for e in expected]
        assert facts.quantity.tolist() == [e[4] for e in expected]
        np.testing.assert_allclose(facts.amount, [e[5] for e in expected], rtol=1e-12)
        np.testing.assert_allclose(facts.amount, [19.0, 5.5, 10.0, 18.6, 20.0, 5.5], rtol=1e-12)
        assert facts.placed_at.tolist() == [e[6] for e in expected]
        assert facts.cancelled.tolist() == [e[7] for e in expected]
        assert facts.cancelled.tolist() == [False, False, False, False, False, True]
        assert facts.returned_units.tolist() == [e[8] for e in expected] == [2, 0, 1, 0, 0, 0]
        # the merged customer's order counts for the survivor; the erased one's is gone
        assert facts.customer_ids[facts.customer_index].tolist() == ["a", "a", "a", "b", "c", "a"]
        codes, tops = facts.top_categories()
        assert tops == ("Apparel", "Home") and codes.tolist() == [0, -1, 0, 1, 0, 1]

    def test_line_facts_currencies(self, store: Store) -> None:
        """Contract: line facts convert like order facts; a mixture needs rates."""
        self._write_lines(store)
        with pytest.raises(ValidationError, match="JPY"):
            store.line_facts()
        with pytest.raises(ValidationError, match="JPY"):
            store.line_facts(currency="EUR", rates={"USD": 1.1})
        usd = store.line_facts(currency="USD", rates={"EUR": 2.0, "JPY": 0.01})
        assert usd.currency == "USD"
        np.testing.assert_allclose(usd.amount, [38.0, 11.0, 20.0, 30.0, 40.0, 11.0], rtol=1e-12)

    def test_line_facts_single_currency_and_empty(self, store: Store) -> None:
        """Contract: one currency needs no rates; an empty store gives empty line facts."""
        empty = store.line_facts(currency="USD")
        assert len(empty) == 0 and empty.currency == "USD" and empty.skus == ()
        store.customers.put(customer("a"))
        store.orders.upsert(order("o1", "a", currency="GBP", quantity=3))
        facts = store.line_facts()
        assert facts.currency == "GBP" and facts.amount.tolist() == [30.0]
        assert facts.sku.tolist() == ["SKU-1"] and facts.category_code.tolist() == [-1]
        assert facts.order_ids.tolist() == ["o1"] and facts.order_index.tolist() == [0]

    def test_customer_table(self, store: Store) -> None:
        """Contract: customer table."""
        self._write(store)
        table = store.customer_table()
        assert table.ids.tolist() == ["a", "b", "c"]
        assert table.created_at.tolist() == [
            _us(at(-3)).tolist(),
            _us(T0).tolist(),
            _us(T0).tolist(),
        ]
        assert table.country.tolist() == [None, "FR", None]
        assert table.timezone.tolist() == [None, "Europe/Paris", None]
        assert table.acquisition_channel.tolist() == [None, "ads", None]
        assert str(table.birthday[0]) == "1990-05-17" and np.isnat(table.birthday[1])
        tags = [
            sorted(
                table.tag_vocabulary[c]
                for c in table.tag_codes[table.tag_indptr[i] : table.tag_indptr[i + 1]]
            )
            for i in range(len(table))
        ]
        assert tags == [[], ["b2b", "vip"], ["vip"]]
        assert table.consents["email:marketing"].tolist() == [True, False, False]

    def test_empty_store(self, store: Store) -> None:
        """Contract: empty store."""
        assert len(store.customer_table()) == 0
        assert len(store.order_facts(currency="EUR")) == 0
        assert len(store.event_facts()) == 0
        assert len(store.line_facts(currency="EUR")) == 0
