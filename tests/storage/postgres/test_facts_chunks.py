"""Order facts, consents and loyalty read in slices of keys (each aggregate under the 1 GB limit)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

import ecomcrm.storage.postgres._columnar as columnar
from ecomcrm.domain import Consent, Customer, LoyaltyEntry, Order, OrderLine, Refund
from ecomcrm.storage import MemoryStore, OrderFacts, PostgresStore, Store

T0 = datetime(2024, 2, 1, tzinfo=UTC)


def _fill(store: Store) -> None:
    store.customers.put_many(Customer(id=f"c{n}", created_at=T0) for n in range(4))
    store.orders.put_many(
        Order(
            id=f"o{n:02d}",
            customer_id=f"c{n % 4}",
            placed_at=T0 + timedelta(hours=n % 3),  # ties: ordered by id
            currency=("EUR", "USD", "GBP")[n % 3],
            status="cancelled" if n == 4 else "paid",
            lines=[OrderLine(sku="A", quantity=n % 2 + 1, unit_price=f"{n + 1}.50")],
        )
        for n in range(11)
    )
    store.orders.add_refunds(
        [
            Refund(id="r1", order_id="o03", customer_id="c3", at=T0 + timedelta(days=1),
                   amount="1.00", currency="EUR"),
            Refund(id="r2", order_id="o08", customer_id="c0", at=T0 + timedelta(days=1),
                   amount="2.00", currency="GBP"),
        ]
    )  # fmt: skip
    store.merge("c0", "c2", at=T0 + timedelta(days=2))


def _equal(a: OrderFacts, b: OrderFacts) -> None:
    assert a.currency == b.currency
    for name in ("customer_ids", "order_id", "customer_index", "placed_at", "units",
                 "returned_units", "cancelled"):  # fmt: skip
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("amount", "discount", "refunded"):
        assert np.allclose(getattr(a, name), getattr(b, name)), name


@pytest.mark.parametrize("chunk", [1, 2, 5, 1_000_000])
def test_slices_give_the_facts_of_one_read(
    open_pg: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    store = open_pg()
    _fill(store)
    reference = MemoryStore()
    _fill(reference)
    rates = {"EUR": 1.0, "USD": 0.9, "GBP": 1.2}
    monkeypatch.setattr(columnar, "CHUNK_ROWS", chunk)
    _equal(store.order_facts(currency="EUR", rates=rates),
           reference.order_facts(currency="EUR", rates=rates))  # fmt: skip
    # an upsert of a stored order: its row gets a new place, its key stays
    store.orders.put_many(
        [
            Order(
                id="o03",
                customer_id="c1",
                placed_at=T0,
                currency="EUR",
                lines=[OrderLine(sku="B", quantity=2, unit_price="9.00")],
            )
        ]
    )  # fmt: skip
    reference.orders.put_many(
        [Order(id="o03", customer_id="c1", placed_at=T0, currency="EUR",
               lines=[OrderLine(sku="B", quantity=2, unit_price="9.00")])]
    )  # fmt: skip
    _equal(store.order_facts(currency="EUR", rates=rates),
           reference.order_facts(currency="EUR", rates=rates))  # fmt: skip


def test_no_orders(open_pg: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_pg()
    store.customers.put(Customer(id="c0", created_at=T0))
    monkeypatch.setattr(columnar, "CHUNK_ROWS", 2)
    facts = store.order_facts()
    assert len(facts) == 0 and facts.customer_ids.tolist() == ["c0"]


def _ledgers(store: Store) -> None:
    store.customers.put_many(Customer(id=f"k{n}", created_at=T0) for n in range(4))
    for n in range(14):
        store.consents.record(
            Consent(customer_id=f"k{n % 4}", channel=("email", "sms")[n % 2],
                    purpose="marketing", granted=n % 3 != 0,
                    at=T0 + timedelta(hours=(n * 5) % 4))  # ties on at: insertion order
        )  # fmt: skip
    store.loyalty.append_many(
        LoyaltyEntry(id=f"l{n:02d}", customer_id=f"k{n % 4}", kind="earn", points=n + 1,
                     at=T0 + timedelta(hours=(n * 7) % 3))
        for n in range(13)
    )  # fmt: skip
    store.merge("k0", "k3", at=T0 + timedelta(days=2))


def test_consents_and_loyalty_are_read_in_slices(
    open_pg: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_pg()
    _ledgers(store)
    reference = MemoryStore()
    _ledgers(reference)
    monkeypatch.setattr(columnar, "CHUNK_ROWS", 3)
    with store.bulk_load(), tempfile.TemporaryFile("w+") as trace:
        conn = store._db._local.home
        conn.pgconn.trace(trace.fileno())  # libpq's log of what the client sends
        try:
            consents, loyalty = store.consent_facts(), store.loyalty_facts()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        sent = trace.read()
    # 14 decisions and 13 entries, 3 keys per statement: 5 slices each
    assert sent.count("FROM consents o") == 5 and sent.count("FROM loyalty o") == 5
    expected = reference.consent_facts()
    for name in ("customer_id", "channel", "purpose", "granted", "at"):
        assert np.array_equal(getattr(consents, name), getattr(expected, name)), name
    expected_loyalty = reference.loyalty_facts()
    for name in ("customer_id", "points", "at"):
        assert np.array_equal(getattr(loyalty, name), getattr(expected_loyalty, name)), name
    assert set(consents.customer_id.tolist()) == {"k0", "k1", "k2"}  # k3 counts for k0
