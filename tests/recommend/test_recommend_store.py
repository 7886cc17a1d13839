"""interactions_from_store: a store's line facts as the recommenders' inputs."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from ecomcrm.domain import Customer, Order, OrderLine, Product, Refund, ReturnLine
from ecomcrm.errors import ValidationError
from ecomcrm.io import SyntheticShop
from ecomcrm.recommend import _store, exclusion_matrix, interactions_from_store
from ecomcrm.storage import MemoryStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CAP, MUG, SOCKS, TEE = 0, 1, 2, 3


def _line(sku: str, quantity: int, price: str, category: str = "") -> OrderLine:
    return OrderLine(sku=sku, quantity=quantity, unit_price=price, category=category)


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    s.customers.put_many(Customer(id=c, created_at=T0) for c in "abcd")

    def order(oid: str, cid: str, day: int, *lines: OrderLine, **kw: object) -> Order:
        return Order(
            id=oid,
            customer_id=cid,
            placed_at=T0 + timedelta(days=day),
            currency="EUR",
            lines=lines,
            **kw,  # type: ignore[arg-type]
        )

    s.orders.put_many(
        [
            order(
                "o1",
                "a",
                0,
                _line("TEE", 1, "20", "Apparel > Tops"),
                _line("SOCKS", 2, "5", "Apparel > Socks"),
            ),
            order("o2", "b", 1, _line("TEE", 1, "20"), _line("CAP", 1, "15")),
            order(
                "o3",
                "c",
                2,
                _line("SOCKS", 1, "5", "Apparel > Socks"),
                _line("CAP", 1, "15", "Apparel > Hats"),
            ),
            order("o4", "a", 3, _line("MUG", 1, "8", "Home"), status="cancelled"),
        ]
    )
    s.orders.add_refund(
        Refund(
            id="r1",
            order_id="o2",
            customer_id="b",
            at=T0 + timedelta(days=5),
            amount="15",
            currency="EUR",
            returned=True,
            lines=[ReturnLine(sku="CAP", quantity=1)],
        )
    )
    return s


def test_hand_computed_inputs(store: MemoryStore) -> None:
    data = interactions_from_store(store)
    it = data.interactions
    assert data.currency == "EUR"
    assert data.customer_ids.tolist() == ["a", "b", "c", "d"]
    assert data.skus == ("CAP", "MUG", "SOCKS", "TEE")
    # the cancelled order's mug is not an interaction
    assert it.basket.tolist() == [0, 0, 1, 1, 2, 2]
    assert it.customer.tolist() == [0, 0, 1, 1, 2, 2]
    assert it.product.tolist() == [TEE, SOCKS, TEE, CAP, SOCKS, CAP]
    assert it.quantity.tolist() == [1, 2, 1, 1, 1, 1]
    assert it.amount is not None and it.amount.tolist() == [20, 10, 20, 15, 5, 15]
    assert it.n_customers == 4 and it.n_products == 4
    assert data.categories == ("Apparel > Hats", "Apparel > Socks", "Apparel > Tops", "Home")
    # CAP takes the category of its latest line that has one (o3's)
    assert data.catalog.category.tolist() == [0, 3, 1, 2]
    assert data.catalog.in_stock.all() and not data.catalog.consumable.any()
    assert data.returned_customer.tolist() == [1] and data.returned_product.tolist() == [CAP]
    assert data.sku_of([TEE, -1]).tolist() == ["TEE", None]
    assert data.customer_codes(["c", "a"]).tolist() == [2, 0]
    with pytest.raises(ValidationError, match="ghost"):
        data.customer_codes(["ghost"])


def test_recommendations_exclude_bought_and_returned(store: MemoryStore) -> None:
    data = interactions_from_store(store)
    recs = data.recommend(n=2)
    b = recs.for_customer(1).tolist()
    assert b[0] == SOCKS  # co-bought with both of b's products
    assert TEE not in b and CAP not in b
    assert recs.fallback[3].all()  # d has no history: popularity


def test_products_fill_the_catalog(store: MemoryStore) -> None:
    products = [
        Product(sku="TEE", category="Apparel > Tops", price="20", currency="EUR"),
        Product(sku="SOCKS", category="Apparel", price="5", currency="EUR", consumable=True),
        Product(sku="HAT", category="Apparel > Hats", price="9", currency="EUR", in_stock=False),
    ]
    data = interactions_from_store(store, products=products)
    assert data.skus == ("CAP", "HAT", "MUG", "SOCKS", "TEE")
    assert data.interactions.product.tolist() == [4, 3, 4, 0, 3, 0]
    assert data.catalog.in_stock.tolist() == [True, False, True, True, True]
    assert data.catalog.consumable.tolist() == [False, False, False, True, False]
    names = [data.categories[c] if c >= 0 else None for c in data.catalog.category.tolist()]
    assert names == ["Apparel > Hats", "Apparel > Hats", "Home", "Apparel", "Apparel > Tops"]
    assert data.returned_product.tolist() == [0]
    recs = data.recommend(n=3)
    assert 1 not in recs.items  # out of stock
    with pytest.raises(ValidationError, match="duplicate SKU"):
        interactions_from_store(store, products=products + products[:1])


def test_currency_mixture_needs_rates(store: MemoryStore) -> None:
    store.orders.upsert(
        Order(
            id="o9",
            customer_id="d",
            placed_at=T0,
            currency="JPY",
            lines=[_line("TEE", 1, "2000")],
        )
    )
    with pytest.raises(ValidationError, match="JPY"):
        interactions_from_store(store)
    data = interactions_from_store(store, currency="EUR", rates={"JPY": 0.01})
    assert data.interactions.amount is not None
    assert data.interactions.amount[data.interactions.customer == 3].tolist() == [20.0]


def test_synthetic_shop_never_recommends_excluded_products() -> None:
    store = MemoryStore()
    shop = SyntheticShop(customers=300, seed=1)
    shop.to_store(store)
    data = interactions_from_store(store, products=shop.products())
    assert data.interactions.n_customers == store.customers.count()
    facts = store.order_facts()
    assert data.interactions.n_baskets == int((~facts.cancelled & (facts.units > 0)).sum())
    recs = data.recommend(n=5)
    excluded = exclusion_matrix(
        data.interactions,
        data.catalog,
        returned_customer=data.returned_customer,
        returned_product=data.returned_product,
    ).toarray()
    rows = np.repeat(recs.customers, recs.items.shape[1])
    items = recs.items.ravel()
    filled = items >= 0
    assert filled.any()
    assert not excluded[rows[filled], items[filled]].any()
    assert data.catalog.in_stock[items[filled]].all()


def test_doctests() -> None:
    assert doctest.testmod(_store, optionflags=doctest.ELLIPSIS).failed == 0
