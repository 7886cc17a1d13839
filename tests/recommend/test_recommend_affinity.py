import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ValidationError
from ecomcrm.recommend import (
    Catalog,
    Interactions,
    category_affinity,
    co_purchase,
    convert_amounts,
    encode_skus,
    frequently_bought_together,
    item_similarity,
    popularity,
)

# Baskets: B0 {0,1,2}, B1 {0,1}, B2 {1,2}, B3 {0}, B4 {3}; customers c0: B0,B3  c1: B1  c2: B2,B4
BASKET = [0, 0, 0, 1, 1, 2, 2, 3, 4]
CUSTOMER = [0, 0, 0, 1, 1, 2, 2, 0, 2]
PRODUCT = [0, 1, 2, 0, 1, 1, 2, 0, 3]


def small() -> Interactions:
    return Interactions.from_arrays(basket=BASKET, customer=CUSTOMER, product=PRODUCT, n_products=4)


def at(m, a: int, b: int) -> float:
    return float(m.toarray()[a, b])


def test_co_purchase_hand_computed() -> None:
    aff = co_purchase(small())
    assert aff.n_baskets == 5
    assert aff.item_count.tolist() == [3, 3, 2, 1]
    assert at(aff.count, 0, 1) == 2 and at(aff.count, 0, 2) == 1 and at(aff.count, 1, 2) == 2
    assert at(aff.count, 0, 0) == 0 and at(aff.count, 3, 0) == 0
    assert at(aff.support, 0, 1) == pytest.approx(0.4)
    assert at(aff.confidence, 0, 1) == pytest.approx(2 / 3)
    assert at(aff.confidence, 2, 1) == pytest.approx(1.0)
    assert at(aff.confidence, 1, 2) == pytest.approx(2 / 3)
    assert at(aff.lift, 0, 1) == pytest.approx(10 / 9)
    assert at(aff.lift, 0, 2) == pytest.approx(5 / 6)
    assert at(aff.lift, 2, 1) == pytest.approx(5 / 3)
    pairs = aff.pairs()
    assert pairs["a"].tolist() == [0, 0, 1, 1, 2, 2]
    assert pairs["b"].tolist() == [1, 2, 0, 2, 0, 1]


def test_co_purchase_min_count_and_top_k() -> None:
    aff = co_purchase(small(), min_count=2)
    assert aff.count.nnz == 4 and at(aff.count, 0, 2) == 0
    aff = co_purchase(small(), min_support=0.3)  # ceil(0.3 * 5) = 2 baskets
    assert aff.count.nnz == 4
    top = co_purchase(small(), top_k=1, rank_by="lift")
    assert top.lift.toarray().argmax(axis=1)[:3].tolist() == [1, 2, 1]
    assert np.diff(top.lift.indptr).tolist() == [1, 1, 1, 0]
    assert at(top.count, 1, 2) == 2 and at(top.confidence, 1, 2) == pytest.approx(2 / 3)
    top = co_purchase(small(), top_k=1, rank_by="count")  # ties -> lower product code
    assert top.count.toarray().argmax(axis=1)[:3].tolist() == [1, 0, 1]


def test_co_purchase_bad_options() -> None:
    with pytest.raises(ValidationError, match="rank_by"):
        co_purchase(small(), rank_by="nope")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="min_count"):
        co_purchase(small(), min_count=0)
    with pytest.raises(ValidationError, match="min_support"):
        co_purchase(small(), min_support=2.0)


def test_item_similarity_matches_dense_cosine() -> None:
    sim = item_similarity(small(), top_k=None).toarray()
    assert sim[0, 1] == pytest.approx(2 / math.sqrt(6))
    assert sim[0, 2] == pytest.approx(0.5)
    assert sim[1, 3] == pytest.approx(1 / math.sqrt(3))
    assert sim[2, 3] == pytest.approx(1 / math.sqrt(2))
    assert sim[0, 3] == 0 and np.all(np.diag(sim) == 0)
    np.testing.assert_allclose(sim, sim.T)
    top = item_similarity(small(), top_k=1).toarray()
    assert (top > 0).sum(axis=1).tolist() == [1, 1, 1, 1]
    assert top.argmax(axis=1).tolist() == [1, 0, 1, 2]
    common = item_similarity(small(), top_k=None, min_common=2).toarray()
    assert (common > 0).sum() == 4  # pairs (0,1) and (1,2) only


def test_item_similarity_weights() -> None:
    it = Interactions.from_arrays(
        basket=[0, 0, 1], customer=[0, 0, 1], product=[0, 1, 0], n_products=2, quantity=[3, 4, 1]
    )
    sim = item_similarity(it, weight="quantity", top_k=None).toarray()
    assert sim[0, 1] == pytest.approx(3 / math.sqrt(10))


def test_frequently_bought_together() -> None:
    aff = co_purchase(small())
    items, scores = frequently_bought_together(aff, [0], n=5)
    assert items.tolist() == [1, 2]
    assert scores.tolist() == pytest.approx([2 / 3, 1 / 3])
    items, scores = frequently_bought_together(aff, [0, 1], n=5)
    assert items.tolist() == [2] and scores.tolist() == pytest.approx([1.0])
    stock = Catalog.from_arrays(in_stock=[True, False, True, True])
    items, _ = frequently_bought_together(aff, [0], catalog=stock)
    assert items.tolist() == [2]
    items, _ = frequently_bought_together(aff, [3])  # never bought with anything
    assert items.size == 0
    with pytest.raises(ValidationError, match="unknown codes 9"):
        frequently_bought_together(aff, [0, 9])


def test_popularity_and_category_affinity() -> None:
    pop = popularity(small()).toarray()
    assert pop.tolist() == [[2.0, 3.0, 2.0, 1.0]]
    seg = popularity(small(), segment=[0, 1, 1]).toarray()
    assert seg.tolist() == [[1.0, 1.0, 1.0, 0.0], [1.0, 2.0, 1.0, 1.0]]
    cat = Catalog.from_arrays(category=[0, 0, 1, -1])
    ca = category_affinity(small(), cat)
    # c0 units: cat0 = 3 (0,1,0), cat1 = 1; c1: cat0 = 2; c2: cat0 = 1, cat1 = 1 (3 unknown)
    np.testing.assert_allclose(ca.share.toarray(), [[0.75, 0.25], [1.0, 0.0], [0.5, 0.5]])
    glob = np.array([6 / 8, 2 / 8])
    np.testing.assert_allclose(ca.index.toarray()[0], [0.75 / glob[0], 0.25 / glob[1]])
    assert ca.top.tolist() == [0, 0, 0]
    empty = Interactions.from_arrays(
        basket=[0], customer=[1], product=[2], n_products=4, n_customers=3
    )
    assert category_affinity(empty, cat).top.tolist() == [-1, 1, -1]


def test_unknown_codes_and_skus() -> None:
    with pytest.raises(ValidationError) as exc:
        Interactions.from_arrays(basket=[0, 1], customer=[0, 0], product=[1, 7], n_products=4)
    assert "unknown codes 7" in str(exc.value) and exc.value.row == 1
    assert exc.value.field == "product"
    with pytest.raises(ValidationError, match="must not be negative"):
        Interactions.from_arrays(basket=[0], customer=[-1], product=[0], n_products=4)
    with pytest.raises(ValidationError, match="'ZZ'") as exc2:
        encode_skus(["A", "ZZ", "B"], ["A", "B"])
    assert exc2.value.row == 1
    cat = Catalog.from_arrays(sku=["A", "B", "C"])
    assert cat.encode(["C", "A"]).tolist() == [2, 0]
    with pytest.raises(ValidationError, match="duplicate SKU"):
        encode_skus(["A"], ["A", "A"])
    with pytest.raises(ValidationError, match="positive"):
        Interactions.from_arrays(basket=[0], customer=[0], product=[0], n_products=1, quantity=[0])


def test_currency_mixture() -> None:
    with pytest.raises(ValidationError, match="mix currencies EUR, USD") as exc:
        Interactions.from_arrays(
            basket=[0, 1],
            customer=[0, 1],
            product=[0, 0],
            n_products=1,
            amount=[10.0, 20.0],
            currency=["EUR", "USD"],
        )
    assert exc.value.row == 1
    it = Interactions.from_arrays(
        basket=[0, 1],
        customer=[0, 1],
        product=[0, 0],
        n_products=1,
        amount=[10.0, 20.0],
        currency=["EUR", "USD"],
        conversion={"EUR": 1.0, "USD": 0.5},
    )
    assert it.amount is not None and it.amount.tolist() == [10.0, 10.0]
    assert it.customer_matrix("revenue").toarray().tolist() == [[10.0], [10.0]]
    with pytest.raises(ValidationError, match="GBP missing"):
        convert_amounts([1.0, 2.0], ["EUR", "GBP"], conversion={"EUR": 1.0})
    assert convert_amounts([1.0], ["EUR"]).tolist() == [1.0]


def test_products_without_sales() -> None:
    it = Interactions.from_arrays(basket=[0, 0], customer=[0, 0], product=[0, 1], n_products=10)
    aff = co_purchase(it)
    assert aff.count.shape == (10, 10) and aff.item_count[5] == 0
    assert item_similarity(it).shape == (10, 10)


baskets = st.lists(st.lists(st.integers(0, 7), min_size=1, max_size=5), min_size=1, max_size=25)


def from_baskets(bs: list[list[int]]) -> Interactions:
    b = [i for i, items in enumerate(bs) for _ in items]
    p = [x for items in bs for x in items]
    return Interactions.from_arrays(basket=b, customer=[i % 4 for i in b], product=p, n_products=8)


@settings(max_examples=60, deadline=None)
@given(baskets)
def test_lift_symmetric_and_counts_match_naive(bs: list[list[int]]) -> None:
    aff = co_purchase(from_baskets(bs))
    lift = aff.lift.toarray()
    np.testing.assert_allclose(lift, lift.T)
    naive = np.zeros((8, 8))
    for items in bs:
        s = sorted(set(items))
        for a in s:
            for b in s:
                if a != b:
                    naive[a, b] += 1
    np.testing.assert_array_equal(aff.count.toarray(), naive)
    conf = aff.confidence.toarray()
    assert np.all((conf >= 0) & (conf <= 1 + 1e-12))
