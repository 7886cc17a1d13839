"""Personalised top-N recommendations for many customers at once, and their offline evaluation."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.recommend._affinity import item_similarity, popularity, segment_codes
from ecomcrm.recommend._data import Catalog, Interactions, Weight, as_codes, check_catalog
from ecomcrm.recommend._sparse import row_ids, topn_rows

_SMALL_EXCLUSION = 256
_BIG = 1e300


@attrs.frozen(kw_only=True, eq=False)
class Recommendations:
    """Top-N products for a set of customers.

    Attributes:
        customers: Customer code of each row.
        items: ``(len(customers), n)`` product codes, best first, ``-1`` where none is left.
        scores: Same shape. Personalised slots hold ``sum(weight * similarity)``; popularity
            slots hold the product's share of all (distinct-buyer) purchases in the customer's
            segment; ``NaN`` pads.
        fallback: Same shape; True where the slot came from segment popularity (cold start
            or too few personalised candidates).

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 0, 1], customer=[0, 0, 1], product=[0, 1, 0], n_products=2)
        >>> recommend(it, n=1).items.tolist()
        [[-1], [1]]
    """

    customers: NDArray[np.int64]
    items: NDArray[np.int64]
    scores: NDArray[np.float64]
    fallback: NDArray[np.bool_]

    def for_customer(self, customer: int) -> NDArray[np.int64]:
        """The recommended products of one customer (padding removed).

        Example:
            >>> it = Interactions.from_arrays(basket=[0, 0, 1], customer=[0, 0, 1], product=[0, 1, 0], n_products=2)
            >>> recommend(it, n=2).for_customer(1).tolist()
            [1]
        """
        rows = np.flatnonzero(self.customers == customer)
        if rows.size == 0:
            raise ValidationError(
                "not among the recommended customers",
                entity="Recommendations",
                field="customer",
                value=customer,
            )
        row: NDArray[np.int64] = self.items[rows[0]]
        return np.asarray(row[row >= 0], dtype=np.int64)


def exclusion_matrix(
    interactions: Interactions,
    catalog: Catalog | None = None,
    *,
    returned_customer: ArrayLike | None = None,
    returned_product: ArrayLike | None = None,
) -> Any:
    """Binary customer x product CSR of what must not be recommended to whom.

    Holds every non-consumable product the customer bought and every product they
    returned (consumable or not).

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 0], customer=[0, 0], product=[0, 1], n_products=3)
        >>> cat = Catalog.from_arrays(consumable=[False, True, False])
        >>> exclusion_matrix(it, cat, returned_customer=[0], returned_product=[2]).toarray().tolist()
        [[1, 0, 1]]
    """
    cat = check_catalog(catalog, interactions.n_products)
    durable = ~cat.consumable[interactions.product]
    rows = [interactions.customer[durable]]
    cols = [interactions.product[durable]]
    if (returned_customer is None) != (returned_product is None):
        raise ValidationError(
            "give both returned_customer and returned_product",
            entity="recommend",
            field="returned_customer" if returned_customer is None else "returned_product",
        )
    if returned_customer is not None and returned_product is not None:
        rc = as_codes(
            returned_customer, entity="Return", field="customer", n=interactions.n_customers
        )
        rp = as_codes(returned_product, entity="Return", field="product", n=interactions.n_products)
        if rc.size != rp.size:
            raise ValidationError(
                f"must have one value per returned line ({rc.size})",
                entity="Return",
                field="product",
                value=rp.size,
            )
        rows.append(rc)
        cols.append(rp)
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    m = sp.csr_array(
        (np.ones(r.size, dtype=np.int32), (r, c)),
        shape=(interactions.n_customers, interactions.n_products),
        dtype=np.int32,
    )
    m.sum_duplicates()
    m.data[:] = 1
    return m


def _isin_sorted(keys: NDArray[np.int64], sorted_ref: NDArray[np.int64]) -> NDArray[np.bool_]:
    if sorted_ref.size == 0:
        return np.zeros(keys.shape, dtype=np.bool_)
    pos = np.searchsorted(sorted_ref, keys)
    pos = np.minimum(pos, sorted_ref.size - 1)
    return np.asarray(sorted_ref[pos] == keys)


def _segment_candidates(
    pop: Any, in_stock: NDArray[np.bool_], width: int
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Per segment, the ``width`` most popular in-stock products (padded with -1)."""
    n_seg = pop.shape[0]
    items = np.full((n_seg, max(width, 1)), -1, dtype=np.int64)
    share = np.full((n_seg, max(width, 1)), np.nan)
    pop = sp.csr_array(pop)
    pop.sort_indices()
    for s in range(n_seg):  # a handful of segments
        lo, hi = pop.indptr[s], pop.indptr[s + 1]
        idx = pop.indices[lo:hi].astype(np.int64)
        val = pop.data[lo:hi]
        total = val.sum()
        ok = in_stock[idx] & (val > 0)
        idx, val = idx[ok], val[ok]
        order = np.lexsort((idx, -val))[:width]
        items[s, : order.size] = idx[order]
        share[s, : order.size] = val[order] / total if total > 0 else 0.0
    return items, share


def recommend(
    interactions: Interactions,
    catalog: Catalog | None = None,
    *,
    n: int = 10,
    customers: ArrayLike | None = None,
    similarity: Any | None = None,
    top_k: int = 50,
    weight: Weight = "binary",
    segment: ArrayLike | None = None,
    n_segments: int | None = None,
    returned_customer: ArrayLike | None = None,
    returned_product: ArrayLike | None = None,
    chunk_size: int = 20_000,
) -> Recommendations:
    """Personalised top-N products for many customers at once.

    Scores are ``user_item @ item_sim_topk`` (both sparse), computed ``chunk_size``
    customers at a time. Then products the customer must not get are masked out:
    non-consumables they already bought, anything they returned, anything out of stock.
    The top N per row are taken with one ``argpartition`` per chunk. Customers with no
    history (cold start), or with fewer than N candidates, are filled from the most
    popular products in their segment, under the same exclusions.

    Args:
        interactions: Purchase history.
        catalog: Stock and consumable flags (default: all in stock, none consumable).
        n: Products per customer.
        customers: Customer codes to recommend for (default: all).
        similarity: Product x product sparse similarity (default:
            ``item_similarity(interactions, top_k=top_k, weight=weight)``).
        top_k: Neighbours per product when ``similarity`` is computed here.
        weight: Customer x product cell value (see :meth:`Interactions.customer_matrix`).
        segment: Segment code per customer for the popularity fallback.
        n_segments: Number of segments (default: largest code + 1).
        returned_customer: Customer code of each returned line.
        returned_product: Product code of each returned line.
        chunk_size: Customers scored at once (bounds memory).

    Returns:
        :class:`Recommendations`.

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 0, 1, 1, 2], customer=[0, 0, 1, 1, 2],
        ...                               product=[0, 1, 0, 2, 0], n_products=3)
        >>> recs = recommend(it, n=2)
        >>> recs.items.tolist()
        [[2, -1], [1, -1], [1, 2]]
        >>> recs.fallback.tolist()
        [[False, False], [False, False], [False, False]]
    """
    cat = check_catalog(catalog, interactions.n_products)
    if n < 1:
        raise ValidationError("must be >= 1", entity="recommend", field="n", value=n)
    if chunk_size < 1:
        raise ValidationError(
            "must be >= 1", entity="recommend", field="chunk_size", value=chunk_size
        )
    n_items = interactions.n_products
    if customers is None:
        cust = np.arange(interactions.n_customers, dtype=np.int64)
    else:
        cust = as_codes(
            customers, entity="recommend", field="customers", n=interactions.n_customers
        )
    seg, _ = segment_codes(segment, interactions.n_customers, n_segments)
    if similarity is None:
        sim = item_similarity(interactions, top_k=top_k, weight=weight)
    else:
        sim = sp.csr_array(similarity)
        if sim.shape != (n_items, n_items):
            raise ValidationError(
                f"must be {n_items} x {n_items}",
                entity="recommend",
                field="similarity",
                value=sim.shape,
            )
    u = interactions.customer_matrix(weight)
    excl = exclusion_matrix(
        interactions, cat, returned_customer=returned_customer, returned_product=returned_product
    )
    excl_len = np.diff(excl.indptr)
    max_excl = int(excl_len[cust].max(initial=0))
    pop = popularity(interactions, segment=seg, n_segments=int(seg.max(initial=0)) + 1)
    cand_items, cand_share = _segment_candidates(pop, cat.in_stock, 2 * n + max_excl)

    m = cust.size
    items = np.full((m, n), -1, dtype=np.int64)
    scores = np.full((m, n), np.nan)
    fallback = np.zeros((m, n), dtype=np.bool_)
    for start in range(0, m, chunk_size):  # chunks of customers, not one customer at a time
        idx = cust[start : start + chunk_size]
        k = idx.size
        ec = sp.csr_array(excl[idx])
        key_e = row_ids(ec.indptr) * n_items + ec.indices
        # excluded cells turn negative in one sparse subtraction, then drop with the rest
        sc = sp.csr_array(u[idx] @ sim) - ec.astype(np.float64) * _BIG
        good = (sc.data > 0) & cat.in_stock[sc.indices]
        rs = row_ids(sc.indptr)
        ptr = np.concatenate([[0], np.cumsum(np.bincount(rs[good], minlength=k))])
        it_c, sc_c = topn_rows(ptr, sc.indices[good], sc.data[good], n)
        fb_c = np.zeros((k, n), dtype=np.bool_)
        _fill_popular(
            it_c, sc_c, fb_c, seg[idx], cand_items, cand_share, key_e, excl_len[idx], n_items
        )
        items[start : start + k] = it_c
        scores[start : start + k] = sc_c
        fallback[start : start + k] = fb_c
    return Recommendations(customers=cust, items=items, scores=scores, fallback=fallback)


def _fill_popular(
    items: NDArray[np.int64],
    scores: NDArray[np.float64],
    fallback: NDArray[np.bool_],
    seg: NDArray[np.int64],
    cand_items: NDArray[np.int64],
    cand_share: NDArray[np.float64],
    excl_keys: NDArray[np.int64],
    excl_len: NDArray[np.int64],
    n_items: int,
) -> None:
    """Fill the empty slots of each row from its segment's popular products, in place."""
    n = items.shape[1]
    have = (items >= 0).sum(axis=1)
    need_rows = np.flatnonzero(have < n)
    if need_rows.size == 0:
        return
    small = excl_len[need_rows] <= _SMALL_EXCLUSION
    for group in (need_rows[small], need_rows[~small]):  # two groups bound the padding
        if group.size == 0:
            continue
        width = min(cand_items.shape[1], 2 * n + int(excl_len[group].max(initial=0)))
        cand = cand_items[seg[group], :width]
        share = cand_share[seg[group], :width]
        ok = cand >= 0
        ok &= ~_isin_sorted(group[:, None] * n_items + cand, excl_keys)
        ok &= ~(cand[:, :, None] == items[group][:, None, :]).any(axis=2)
        rank = np.cumsum(ok, axis=1)
        take = ok & (rank <= (n - have[group])[:, None])
        r, c = np.nonzero(take)
        rows = group[r]
        slot = have[rows] + rank[r, c] - 1
        items[rows, slot] = cand[r, c]
        scores[rows, slot] = share[r, c]
        fallback[rows, slot] = True


@attrs.frozen(kw_only=True)
class Evaluation:
    """Offline evaluation of top-N recommendations on a time split.

    Attributes:
        n: List length N.
        n_customers: Customers evaluated (those buying after the split).
        hit_rate: Share of them with at least one recommended product bought after the split.
        precision: Mean of (recommended products bought) / N.
        recall: Mean of (recommended products bought) / (distinct products bought).
        baseline_hit_rate: ``hit_rate`` of segment popularity under the same exclusions.
        baseline_precision: ``precision`` of the baseline.
        baseline_recall: ``recall`` of the baseline.

    Example:
        >>> Evaluation(n=1, n_customers=2, hit_rate=0.5, precision=0.5, recall=0.5,
        ...            baseline_hit_rate=0.0, baseline_precision=0.0, baseline_recall=0.0).hit_rate
        0.5
    """

    n: int
    n_customers: int
    hit_rate: float
    precision: float
    recall: float
    baseline_hit_rate: float
    baseline_precision: float
    baseline_recall: float


def _hit_stats(
    recs: Recommendations,
    truth_keys: NDArray[np.int64],
    truth_size: NDArray[np.int64],
    n_items: int,
) -> tuple[float, float, float]:
    keys = recs.customers[:, None] * n_items + recs.items
    hits = (_isin_sorted(keys, truth_keys) & (recs.items >= 0)).sum(axis=1)
    if hits.size == 0:
        return float("nan"), float("nan"), float("nan")
    size = truth_size[recs.customers]
    n = recs.items.shape[1]
    return float((hits > 0).mean()), float((hits / n).mean()), float((hits / size).mean())


def evaluate(
    interactions: Interactions,
    catalog: Catalog | None = None,
    *,
    split_at: Any,
    n: int = 10,
    top_k: int = 50,
    weight: Weight = "binary",
    segment: ArrayLike | None = None,
    n_segments: int | None = None,
    include_cold_start: bool = True,
) -> Evaluation:
    """Hit rate and precision@N of item-similarity recommendations vs segment popularity.

    Lines before ``split_at`` train both recommenders; the customers who buy at or after
    ``split_at`` are evaluated against the distinct products they then buy. The baseline
    recommends the most popular products of the customer's segment (in the training
    period) under the same exclusions (bought non-consumables, out of stock).

    Args:
        interactions: Purchase lines with timestamps.
        catalog: Stock and consumable flags.
        split_at: The split time (anything ``numpy.datetime64`` accepts).
        n: List length N.
        top_k: Neighbours per product in the similarity.
        weight: Customer x product cell value.
        segment: Segment code per customer.
        n_segments: Number of segments.
        include_cold_start: Also evaluate customers without training history.

    Example:
        >>> import numpy as np
        >>> ts = np.array(["2024-01-01"] * 5 + ["2024-02-01"] * 2, dtype="datetime64[us]")
        >>> it = Interactions.from_arrays(basket=[0, 0, 1, 2, 3, 4, 5], customer=[0, 0, 1, 3, 4, 1, 2],
        ...                               product=[0, 1, 0, 2, 2, 1, 0], n_products=3, timestamp=ts)
        >>> ev = evaluate(it, split_at="2024-01-15", n=1)
        >>> ev.n_customers, ev.hit_rate, ev.baseline_hit_rate
        (2, 1.0, 0.5)
    """
    if interactions.timestamp is None:
        raise ValidationError(
            "evaluation needs timestamps", entity="Interactions", field="timestamp"
        )
    split = np.datetime64(split_at, "us")
    before = interactions.timestamp < split
    train = interactions.subset(before)
    test = interactions.subset(~before)
    n_items = interactions.n_products
    truth = np.unique(test.customer * n_items + test.product)
    truth_cust = truth // n_items
    truth_size = np.bincount(truth_cust, minlength=interactions.n_customers)
    cust = np.unique(truth_cust)
    if not include_cold_start:
        seen = np.bincount(train.customer, minlength=interactions.n_customers) > 0
        cust = cust[seen[cust]]
    common: dict[str, Any] = {
        "n": n,
        "customers": cust,
        "weight": weight,
        "segment": segment,
        "n_segments": n_segments,
    }
    model = recommend(train, catalog, top_k=top_k, **common)
    empty = sp.csr_array((n_items, n_items), dtype=np.float64)
    base = recommend(train, catalog, similarity=empty, **common)
    h, p, r = _hit_stats(model, truth, truth_size, n_items)
    bh, bp, br = _hit_stats(base, truth, truth_size, n_items)
    return Evaluation(
        n=n,
        n_customers=int(cust.size),
        hit_rate=h,
        precision=p,
        recall=r,
        baseline_hit_rate=bh,
        baseline_precision=bp,
        baseline_recall=br,
    )
