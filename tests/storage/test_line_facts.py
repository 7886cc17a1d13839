"""The shared line-facts builder against a plain Python reference, and adapters agreeing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import Customer, Order, OrderLine, Refund, ReturnLine
from ecomcrm.errors import ValidationError
from ecomcrm.storage import LineFacts, MemoryStore, SqliteStore, Store

SKUS = ("S0", "S1", "S2", "S3")
CATEGORIES = ("Home", "Apparel > Tops", "Apparel")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


@st.composite
def _columns(draw: st.DrawFn) -> dict[str, Any]:
    n_orders = draw(st.integers(0, 6))
    customers = ["a", "b", "c"]
    orders = {
        "order_id": [f"o{draw(st.integers(0, 99))}-{j}" for j in range(n_orders)],
        "order_customer_index": draw(
            st.lists(st.integers(-1, 2), min_size=n_orders, max_size=n_orders)
        ),
        "placed_at_us": draw(st.lists(st.integers(0, 3), min_size=n_orders, max_size=n_orders)),
        "order_currency": draw(
            st.lists(st.sampled_from(["EUR", "USD"]), min_size=n_orders, max_size=n_orders)
        ),
        "cancelled": draw(st.lists(st.booleans(), min_size=n_orders, max_size=n_orders)),
    }
    lines: list[tuple[int, int, int, int, float, float]] = []
    for j in range(n_orders):
        for _ in range(draw(st.integers(0, 4))):
            lines.append(
                (
                    j,
                    draw(st.integers(0, len(SKUS) - 1)),
                    draw(st.integers(-1, len(CATEGORIES) - 1)),
                    draw(st.integers(0, 4)),
                    draw(st.sampled_from([0.0, 1.5, 10.0])),
                    draw(st.sampled_from([0.0, 0.5])),
                )
            )
    returns = (
        draw(
            st.lists(
                st.tuples(
                    st.integers(0, n_orders - 1),
                    st.integers(-1, len(SKUS) - 1),
                    st.integers(1, 5),
                ),
                max_size=5,
            )
        )
        if n_orders
        else []
    )
    return {
        "customer_ids": customers,
        **orders,
        "line_order": [x[0] for x in lines],
        "sku_code": [x[1] for x in lines],
        "skus": SKUS,
        "category_code": [x[2] for x in lines],
        "categories": CATEGORIES,
        "quantity": [x[3] for x in lines],
        "unit_price": [x[4] for x in lines],
        "line_discount": [x[5] for x in lines],
        "return_order": [r[0] for r in returns],
        "return_sku": [r[1] for r in returns],
        "return_quantity": [r[2] for r in returns],
    }


def _reference(c: dict[str, Any], rate: float) -> list[tuple[Any, ...]]:
    """Plain Python: sort orders, walk lines, allocate returns greedily per (order, SKU)."""
    n = len(c["order_id"])
    live = [j for j in range(n) if c["order_customer_index"][j] >= 0]
    live.sort(key=lambda j: (c["placed_at_us"][j], c["order_id"][j]))
    left: dict[tuple[int, int], int] = {}
    for o, s, q in zip(c["return_order"], c["return_sku"], c["return_quantity"], strict=True):
        if s >= 0:
            left[(o, s)] = left.get((o, s), 0) + q
    rows = []
    for rank, j in enumerate(live):
        for i, o in enumerate(c["line_order"]):
            if o != j:
                continue
            s, q = c["sku_code"][i], c["quantity"][i]
            taken = min(q, left.get((j, s), 0))
            left[(j, s)] = left.get((j, s), 0) - taken
            factor = rate if c["order_currency"][j] == "USD" else 1.0
            amount = (c["unit_price"][i] * q - c["line_discount"][i]) * factor
            cat = c["category_code"][i]
            rows.append(
                (
                    c["order_customer_index"][j],
                    rank,
                    SKUS[s],
                    CATEGORIES[cat] if cat >= 0 else None,
                    q,
                    amount,
                    c["placed_at_us"][j],
                    c["cancelled"][j],
                    taken,
                )
            )
    return rows


def _rows(f: LineFacts) -> list[tuple[Any, ...]]:
    return list(
        zip(
            f.customer_index.tolist(),
            f.order_index.tolist(),
            f.sku.tolist(),
            [f.categories[k] if k >= 0 else None for k in f.category_code.tolist()],
            f.quantity.tolist(),
            f.amount.tolist(),
            f.placed_at.astype(np.int64).tolist(),
            f.cancelled.tolist(),
            f.returned_units.tolist(),
            strict=True,
        )
    )


@settings(max_examples=150, deadline=None)
@given(_columns())
def test_builder_matches_the_reference(columns: dict[str, Any]) -> None:
    facts = sh.line_facts_from_columns(**columns, currency="EUR", rates={"USD": 0.5})
    assert _rows(facts) == _reference(columns, 0.5)
    assert list(facts.skus) == sorted(set(facts.skus)) and list(facts.categories) == sorted(
        set(facts.categories)
    )
    assert set(np.unique(facts.sku_code).tolist()) == set(range(len(facts.skus)))
    assert (facts.returned_units <= facts.quantity).all() and (facts.returned_units >= 0).all()
    live = [j for j, k in enumerate(columns["order_customer_index"]) if k >= 0]
    assert sorted(facts.order_ids.tolist()) == sorted(columns["order_id"][j] for j in live)


def test_builder_refuses_a_currency_mixture_without_rates() -> None:
    with pytest.raises(ValidationError, match=r"line_facts\.currency"):
        sh.line_facts_from_columns(
            customer_ids=["a"],
            order_id=["o1", "o2"],
            order_customer_index=[0, 0],
            placed_at_us=[0, 1],
            order_currency=["EUR", "USD"],
            cancelled=[False, False],
            line_order=[],
            sku_code=[],
            skus=[],
            category_code=[],
            categories=[],
            quantity=[],
            unit_price=[],
            line_discount=[],
        )


def _fill(store: Store, seed: int) -> None:
    rng = np.random.default_rng(seed)
    store.customers.put_many(Customer(id=f"c{i}", created_at=T0) for i in range(6))
    orders = []
    for k in range(20):
        lines = [
            OrderLine(
                sku=f"SKU-{rng.integers(5)}",
                quantity=int(rng.integers(1, 4)),
                unit_price=f"{rng.integers(1, 3000) / 100:.2f}",
                category=["", "Home", "Apparel > Tops", ["Kids", "Toys > Games"]][rng.integers(4)],
            )
            for _ in range(int(rng.integers(0, 4)))
        ]
        orders.append(
            Order(
                id=f"o{k}",
                customer_id=f"c{rng.integers(6)}",
                placed_at=T0 + timedelta(hours=int(rng.integers(48))),
                currency="EUR",
                lines=lines,
                status="cancelled" if rng.random() < 0.2 else "paid",
            )
        )
    store.orders.put_many(orders)
    for k, o in enumerate(orders[:8]):
        if o.lines:
            store.orders.add_refund(
                Refund(
                    id=f"r{k}",
                    order_id=o.id,
                    customer_id=o.customer_id,
                    at=T0 + timedelta(days=3),
                    amount="1",
                    currency="EUR",
                    returned=True,
                    lines=[ReturnLine(sku=o.lines[0].sku, quantity=int(rng.integers(1, 6)))],
                )
            )
    store.merge("c0", "c1", at=T0 + timedelta(days=4))
    store.erase("c2", keep_order_facts=bool(seed % 2))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_sqlite_and_memory_agree(seed: int) -> None:
    memory, sqlite = MemoryStore(), SqliteStore(":memory:")
    for store in (memory, sqlite):
        _fill(store, seed)
    a, b = memory.line_facts(), sqlite.line_facts()
    assert a.skus == b.skus and a.categories == b.categories
    assert a.order_ids.tolist() == b.order_ids.tolist() == sqlite.order_facts().order_id.tolist()
    assert list(a.categories) == sorted(a.categories)
    assert _rows(a) == _rows(b)
    sqlite.close()
