import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ValidationError
from ecomcrm.recommend import (
    Catalog,
    Interactions,
    evaluate,
    exclusion_matrix,
    item_similarity,
    recommend,
)

# customers: c0 {0,1,2}, c1 {0,1}, c2 {1,2,3}; c3 and c4 have no history
BASKET = [0, 0, 0, 1, 1, 2, 2, 3, 4]
CUSTOMER = [0, 0, 0, 1, 1, 2, 2, 0, 2]
PRODUCT = [0, 1, 2, 0, 1, 1, 2, 0, 3]


def small(n_products: int = 5) -> Interactions:
    return Interactions.from_arrays(
        basket=BASKET, customer=CUSTOMER, product=PRODUCT, n_products=n_products, n_customers=5
    )


def test_recommend_hand_computed() -> None:
    # product 3 out of stock, product 2 consumable, product 4 never sold
    cat = Catalog.from_arrays(
        in_stock=[True, True, True, False, True], consumable=[False, False, True, False, False]
    )
    recs = recommend(small(), cat, n=2, segment=[0, 0, 1, 1, 0])
    s02, s12 = 0.5, 2 / math.sqrt(6)
    # c0 bought the consumable 2 -> it may come back; 0 and 1 are excluded; 3 out of stock
    assert recs.items[0].tolist() == [2, -1]
    assert recs.scores[0, 0] == pytest.approx(s02 + s12)
    # c1: 2 scores s02 + s12; nothing left for the fallback
    assert recs.items[1].tolist() == [2, -1]
    # c2 bought 1, 2 (consumable), 3: 2 scores sim(1,2) + sim(3,2), 0 scores sim(1,0) + sim(2,0)
    assert recs.items[2].tolist() == [2, 0]
    assert recs.scores[2].tolist() == pytest.approx([s12 + 1 / math.sqrt(2), s12 + s02])
    # c3: cold start in segment 1 (only c2 bought there: 1, 2, 3 -> 3 out of stock)
    assert recs.items[3].tolist() == [1, 2]
    assert recs.fallback[3].tolist() == [True, True]
    assert recs.scores[3].tolist() == pytest.approx([1 / 3, 1 / 3])
    # c4: cold start in segment 0 (c0 and c1: 0 x2, 1 x2, 2 x1)
    assert recs.items[4].tolist() == [0, 1]
    assert recs.scores[4].tolist() == pytest.approx([0.4, 0.4])
    assert not recs.fallback[:3].any()
    assert recs.for_customer(3).tolist() == [1, 2]
    with pytest.raises(ValidationError):
        recs.for_customer(99)
    with pytest.raises(ValidationError, match="unknown codes 9"):
        recommend(small(), cat, customers=[9])


def test_recommend_returns_are_excluded_and_fill_continues() -> None:
    cat = Catalog.from_arrays(consumable=[True] * 5)
    recs = recommend(small(), cat, n=4, returned_customer=[1], returned_product=[2])
    # c1 bought 0, 1 (consumable, allowed) but returned 2
    row = recs.items[1].tolist()
    assert 2 not in row
    assert row[:3] == [3, 0, 1] or set(row[:3]) == {0, 1, 3}
    assert recs.for_customer(1).size == 3  # 4 is never sold, so no popularity either


def test_recommend_subset_and_chunks_agree() -> None:
    full = recommend(small(), n=3, chunk_size=2)
    one = recommend(small(), n=3, chunk_size=100)
    np.testing.assert_array_equal(full.items, one.items)
    sub = recommend(small(), n=3, customers=[2, 0])
    np.testing.assert_array_equal(sub.items, full.items[[2, 0]])
    assert sub.customers.tolist() == [2, 0]


def test_recommend_bad_input() -> None:
    with pytest.raises(ValidationError, match="n_products"):
        recommend(small(), Catalog.from_arrays(n_products=3))
    with pytest.raises(ValidationError, match="similarity"):
        recommend(small(), similarity=sp.eye(3, format="csr"))
    with pytest.raises(ValidationError, match="returned_product"):
        recommend(small(), returned_customer=[0])
    with pytest.raises(ValidationError, match="unknown codes 8"):
        recommend(small(), returned_customer=[0], returned_product=[8])
    with pytest.raises(ValidationError, match="segment"):
        recommend(small(), segment=[0, 1])


def test_exclusion_matrix() -> None:
    cat = Catalog.from_arrays(consumable=[False, True, False, False, False])
    ex = exclusion_matrix(small(), cat, returned_customer=[1], returned_product=[4]).toarray()
    assert ex.tolist() == [
        [1, 0, 1, 0, 0],
        [1, 0, 0, 0, 1],
        [0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]


def test_evaluate_hand_computed() -> None:
    ts = np.array(["2024-01-01"] * 5 + ["2024-02-01"] * 3, dtype="datetime64[us]")
    it = Interactions.from_arrays(
        basket=[0, 0, 1, 2, 3, 4, 5, 5],
        customer=[0, 0, 1, 3, 4, 1, 2, 2],
        product=[0, 1, 0, 2, 2, 1, 0, 2],
        n_products=3,
        timestamp=ts,
    )
    ev = evaluate(it, split_at="2024-01-15", n=1)
    # model: c1 -> 1 (hit), c2 cold -> popular 0 (hit); baseline: c1 -> 2 (miss), c2 -> 0 (hit)
    assert ev.n_customers == 2
    assert (ev.hit_rate, ev.precision) == (1.0, 1.0)
    assert ev.recall == pytest.approx((1 / 1 + 1 / 2) / 2)
    assert (ev.baseline_hit_rate, ev.baseline_precision) == (0.5, 0.5)
    assert ev.baseline_recall == pytest.approx(0.25)
    warm = evaluate(it, split_at="2024-01-15", n=2, include_cold_start=False)
    assert warm.n_customers == 1 and warm.precision == 0.5
    with pytest.raises(ValidationError, match="timestamp"):
        evaluate(small(), split_at="2024-01-01")


def dense_oracle(it: Interactions, cat: Catalog, sim: np.ndarray) -> np.ndarray:
    u = it.customer_matrix().toarray()
    scores = u @ sim
    bought = u > 0
    scores[bought & ~cat.consumable[None, :]] = 0
    scores[:, ~cat.in_stock] = 0
    return scores


lines = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 9), st.integers(0, 11)), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None)
@given(
    lines,
    st.lists(st.booleans(), min_size=10, max_size=10),
    st.lists(st.booleans(), min_size=10, max_size=10),
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9)), max_size=6),
    st.integers(1, 6),
)
def test_recommendations_never_include_excluded(
    rows: list[tuple[int, int, int]],
    stock: list[bool],
    consumable: list[bool],
    returns: list[tuple[int, int]],
    n: int,
) -> None:
    cust = [r[0] for r in rows]
    prod = [r[1] for r in rows]
    it = Interactions.from_arrays(
        basket=[r[2] for r in rows], customer=cust, product=prod, n_products=10, n_customers=6
    )
    cat = Catalog.from_arrays(in_stock=stock, consumable=consumable)
    rc = [r[0] for r in returns]
    rp = [r[1] for r in returns]
    recs = recommend(
        it,
        cat,
        n=n,
        returned_customer=rc,
        returned_product=rp,
        segment=[0, 1, 0, 1, 0, 1],
        chunk_size=4,
    )
    ex = exclusion_matrix(it, cat, returned_customer=rc, returned_product=rp).toarray() > 0
    sim = item_similarity(it).toarray()
    oracle = dense_oracle(it, cat, sim)
    for c in range(6):
        got = recs.items[c][recs.items[c] >= 0]
        assert len(set(got.tolist())) == got.size  # no duplicates
        assert not ex[c, got].any()
        assert cat.in_stock[got].all()
        pers = ~recs.fallback[c] & (recs.items[c] >= 0)
        # personalised slots come first and carry the oracle's best scores
        assert not (recs.fallback[c][:-1] & pers[1:]).any()
        o = oracle[c].copy()
        o[ex[c]] = 0
        best = np.sort(o[o > 1e-12])[::-1][:n]
        np.testing.assert_allclose(recs.scores[c][pers], best, rtol=1e-9)
