"""Co-purchase affinity, item-to-item similarity, popularity and category affinity."""

from __future__ import annotations

import math
from typing import Any, Literal

import attrs
import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.recommend._data import (
    Catalog,
    Interactions,
    Weight,
    as_codes,
    as_sequence_of_codes,
    check_catalog,
)
from ecomcrm.recommend._sparse import row_ids, topk_csr, topk_keep, topn_rows

Metric = Literal["lift", "confidence", "count", "support"]
_METRICS = ("lift", "confidence", "count", "support")


@attrs.frozen(kw_only=True, eq=False)
class Affinity:
    """Pairwise co-purchase statistics as sparse product x product matrices.

    Entry ``[a, b]`` describes the rule "baskets with ``a`` also hold ``b``". All four
    matrices share one sparsity pattern (pairs seen together at least ``min_count``
    times, then the ``top_k`` best per row); the diagonal is empty.

    Attributes:
        count: Baskets holding both ``a`` and ``b`` (float64).
        support: ``count / n_baskets``.
        confidence: ``count / item_count[a]`` = P(b | a).
        lift: ``confidence / (item_count[b] / n_baskets)``; symmetric in ``a`` and ``b``.
        item_count: Baskets holding each product.
        n_baskets: Number of baskets.

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 0, 1, 1, 2], customer=[0, 0, 1, 1, 2],
        ...                               product=[0, 1, 0, 1, 0], n_products=2)
        >>> aff = co_purchase(it)
        >>> float(aff.confidence[[1], [0]][0]), float(aff.lift[[0], [1]][0])
        (1.0, 1.0)
    """

    count: Any
    support: Any
    confidence: Any
    lift: Any
    item_count: NDArray[np.int64]
    n_baskets: int

    @property
    def n_products(self) -> int:
        """Number of products."""
        return int(self.item_count.size)

    def matrix(self, metric: Metric) -> Any:
        """The CSR matrix of one metric (``"lift"``, ``"confidence"``, ``"count"``, ``"support"``).

        Example:
            >>> it = Interactions.from_arrays(basket=[0, 0], customer=[0, 0], product=[0, 1], n_products=2)
            >>> co_purchase(it).matrix("count").toarray().tolist()
            [[0.0, 1.0], [1.0, 0.0]]
        """
        if metric not in _METRICS:
            raise ValidationError(
                f"must be one of {', '.join(_METRICS)}",
                entity="Affinity",
                field="metric",
                value=metric,
            )
        return getattr(self, metric)

    def pairs(self) -> dict[str, NDArray[Any]]:
        """All stored pairs as flat arrays: ``a``, ``b``, ``count``, ``support``, ``confidence``, ``lift``.

        Example:
            >>> it = Interactions.from_arrays(basket=[0, 0], customer=[0, 0], product=[0, 1], n_products=2)
            >>> co_purchase(it).pairs()["b"].tolist()
            [1, 0]
        """
        c = self.count
        return {
            "a": row_ids(c.indptr),
            "b": c.indices.astype(np.int64),
            "count": c.data.copy(),
            "support": self.support.data.copy(),
            "confidence": self.confidence.data.copy(),
            "lift": self.lift.data.copy(),
        }


def co_purchase(
    interactions: Interactions,
    *,
    min_count: int = 1,
    min_support: float = 0.0,
    top_k: int | None = None,
    rank_by: Metric = "lift",
) -> Affinity:
    """Support, confidence and lift of every product pair bought in the same basket.

    Builds the binary basket x product CSR matrix ``B`` and the co-occurrence counts
    ``B.T @ B`` (sparse; no dense product x product matrix is ever formed), drops the
    diagonal and the pairs seen fewer than ``max(min_count, ceil(min_support * n_baskets))``
    times, then keeps the ``top_k`` pairs per product ranked by ``rank_by``.

    Args:
        interactions: Purchase lines.
        min_count: Least number of shared baskets for a pair to be kept.
        min_support: Least support (share of baskets) for a pair to be kept.
        top_k: Pairs kept per product (all when None).
        rank_by: Metric used for ``top_k``.

    Returns:
        An :class:`Affinity`.

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 0, 1, 1, 2], customer=[0, 0, 0, 0, 1],
        ...                               product=[0, 1, 0, 2, 1], n_products=3)
        >>> aff = co_purchase(it)
        >>> aff.count.toarray().tolist()
        [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
        >>> round(float(aff.lift[[0], [1]][0]), 4)  # 1 * 3 / (2 * 2)
        0.75
    """
    if rank_by not in _METRICS:
        raise ValidationError(
            f"must be one of {', '.join(_METRICS)}",
            entity="co_purchase",
            field="rank_by",
            value=rank_by,
        )
    if min_count < 1:
        raise ValidationError(
            "must be >= 1", entity="co_purchase", field="min_count", value=min_count
        )
    if not 0.0 <= min_support <= 1.0:
        raise ValidationError(
            "must be within [0, 1]", entity="co_purchase", field="min_support", value=min_support
        )
    if top_k is not None and top_k < 1:
        raise ValidationError("must be >= 1", entity="co_purchase", field="top_k", value=top_k)
    b = interactions.basket_matrix()
    n_b = interactions.n_baskets
    item_count = np.asarray(b.sum(axis=0)).astype(np.int64).ravel()
    bt = sp.csr_array(b.T)
    co = sp.csr_array(bt @ b)
    co.sort_indices()
    threshold = max(int(min_count), math.ceil(min_support * n_b - 1e-12))
    rows = row_ids(co.indptr)
    keep = (rows != co.indices) & (co.data >= threshold)
    counts = co.data[keep].astype(np.float64)
    r, c = rows[keep], co.indices[keep].astype(np.int64)
    new_ptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=co.shape[0]))])
    shape = co.shape
    if top_k is not None:
        metric = _metric_values(rank_by, counts, r, c, item_count, n_b)
        kept = topk_keep(new_ptr, c, metric, top_k)
        counts, r, c = counts[kept], r[kept], c[kept]
        new_ptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=co.shape[0]))])

    def build(vals: NDArray[np.float64]) -> Any:
        m = sp.csr_array((vals, c, new_ptr), shape=shape)
        m.has_sorted_indices = True
        return m

    return Affinity(
        count=build(counts),
        support=build(_metric_values("support", counts, r, c, item_count, n_b)),
        confidence=build(_metric_values("confidence", counts, r, c, item_count, n_b)),
        lift=build(_metric_values("lift", counts, r, c, item_count, n_b)),
        item_count=item_count,
        n_baskets=n_b,
    )


def _metric_values(
    metric: str,
    counts: NDArray[np.float64],
    r: NDArray[np.int64],
    c: NDArray[np.int64],
    item_count: NDArray[np.int64],
    n_baskets: int,
) -> NDArray[np.float64]:
    if metric == "count":
        return counts
    if metric == "support":
        return counts / max(n_baskets, 1)
    if metric == "confidence":
        return counts / item_count[r]
    return counts * float(n_baskets) / (item_count[r].astype(np.float64) * item_count[c])


def item_similarity(
    interactions: Interactions,
    *,
    top_k: int | None = 50,
    weight: Weight = "binary",
    min_common: int = 1,
) -> Any:
    """Item-to-item cosine similarity on the customer x product matrix, top-k per item.

    ``sim(a, b) = <u_a, u_b> / (|u_a| |u_b|)`` where ``u_a`` is product ``a``'s column of
    the customer x product matrix. Computed as ``X.T @ X`` on the column-normalised sparse
    matrix; the diagonal is dropped.

    Args:
        interactions: Purchase lines.
        top_k: Neighbours kept per product (all when None).
        weight: Cell value of the customer x product matrix (see
            :meth:`Interactions.customer_matrix`).
        min_common: Least number of customers who bought both.

    Returns:
        A product x product ``scipy.sparse.csr_array`` (float64).

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 0, 1, 2], customer=[0, 0, 1, 2],
        ...                               product=[0, 1, 0, 1], n_products=2)
        >>> round(float(item_similarity(it)[[0], [1]][0]), 4)  # 1 / (sqrt 2 * sqrt 2)
        0.5
    """
    if top_k is not None and top_k < 1:
        raise ValidationError("must be >= 1", entity="item_similarity", field="top_k", value=top_k)
    u = interactions.customer_matrix(weight)
    norms = np.sqrt(np.asarray(u.multiply(u).sum(axis=0)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    x = sp.csr_array(u)
    x.data = x.data * inv[x.indices]
    xt = sp.csr_array(x.T)
    sim = sp.csr_array(xt @ x)
    sim.sort_indices()
    rows = row_ids(sim.indptr)
    keep = rows != sim.indices
    if min_common > 1:
        ub = sp.csr_array(u, copy=True)
        ub.data[:] = 1.0
        common = sp.csr_array(sp.csr_array(ub.T) @ ub)
        common.sort_indices()
        keep &= common.data >= min_common
    lens = np.bincount(rows[keep], minlength=sim.shape[0])
    sim = sp.csr_array(
        (sim.data[keep], sim.indices[keep], np.concatenate([[0], np.cumsum(lens)])), shape=sim.shape
    )
    return topk_csr(sim, top_k)


def frequently_bought_together(
    affinity: Affinity,
    basket: ArrayLike,
    *,
    n: int = 5,
    by: Metric = "confidence",
    catalog: Catalog | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Products to suggest with a basket, best first.

    A candidate's score is the sum, over the basket's products ``a``, of
    ``metric(a -> candidate)``. Products in the basket and (with a catalog) products out
    of stock are never suggested.

    Args:
        affinity: From :func:`co_purchase`.
        basket: Product codes in the basket; unknown codes raise ValidationError.
        n: Number of suggestions.
        by: ``"confidence"`` (default), ``"lift"``, ``"count"`` or ``"support"``.
        catalog: For stock flags.

    Returns:
        ``(items, scores)``; fewer than ``n`` when fewer candidates exist.

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 0, 1, 1, 2, 2], customer=[0] * 6,
        ...                               product=[0, 1, 0, 1, 0, 2], n_products=3)
        >>> items, scores = frequently_bought_together(co_purchase(it), [0], n=2)
        >>> items.tolist(), [round(s, 3) for s in scores.tolist()]
        ([1, 2], [0.667, 0.333])
    """
    codes = as_sequence_of_codes(basket, field="basket", n=affinity.n_products)
    cat = check_catalog(catalog, affinity.n_products)
    if n < 1:
        raise ValidationError(
            "must be >= 1", entity="frequently_bought_together", field="n", value=n
        )
    m = affinity.matrix(by)
    sel = sp.csr_array(m[np.unique(codes)])
    total = np.asarray(sel.sum(axis=0)).ravel()
    present = np.bincount(sel.indices, minlength=affinity.n_products) > 0
    ok = present & cat.in_stock
    ok[codes] = False
    cand = np.flatnonzero(ok)
    order = np.lexsort((cand, -total[cand]))[:n]
    return cand[order].astype(np.int64), total[cand][order].astype(np.float64)


def popularity(
    interactions: Interactions,
    *,
    segment: ArrayLike | None = None,
    n_segments: int | None = None,
    weight: Weight = "binary",
) -> Any:
    """Popularity of each product within each customer segment.

    Args:
        interactions: Purchase lines.
        segment: Segment code per customer (length ``n_customers``); one segment when None.
        n_segments: Number of segments (default: largest code + 1).
        weight: ``"binary"`` counts distinct buyers; ``"quantity"`` units; ``"revenue"`` value.

    Returns:
        A segment x product ``scipy.sparse.csr_array`` (float64).

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 1, 2], customer=[0, 1, 1], product=[0, 0, 1], n_products=2)
        >>> popularity(it, segment=[0, 1]).toarray().tolist()
        [[1.0, 0.0], [1.0, 1.0]]
    """
    seg, n_seg = segment_codes(segment, interactions.n_customers, n_segments)
    u = interactions.customer_matrix(weight)
    onehot = sp.csr_array(
        (np.ones(seg.size), (seg, np.arange(seg.size))), shape=(n_seg, interactions.n_customers)
    )
    return sp.csr_array(onehot @ u)


def segment_codes(
    segment: ArrayLike | None, n_customers: int, n_segments: int | None = None
) -> tuple[NDArray[np.int64], int]:
    """Validated segment code per customer and the number of segments."""
    if segment is None:
        return np.zeros(n_customers, dtype=np.int64), 1
    seg = as_codes(segment, entity="recommend", field="segment", n=n_segments)
    if seg.size != n_customers:
        raise ValidationError(
            f"must have one code per customer ({n_customers})",
            entity="recommend",
            field="segment",
            value=seg.size,
        )
    n_seg = int(n_segments) if n_segments is not None else (int(seg.max()) + 1 if seg.size else 1)
    return seg, max(n_seg, 1)


@attrs.frozen(kw_only=True, eq=False)
class CategoryAffinity:
    """How much of each customer's buying falls in each category.

    Attributes:
        share: Customer x category CSR: the customer's share of weight in the category.
        index: Customer x category CSR: ``share`` divided by the category's share of all
            buying (> 1 means the customer over-indexes on the category).
        top: The customer's top category (``-1`` without history).

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 0, 1], customer=[0, 0, 1], product=[0, 1, 1], n_products=2)
        >>> ca = category_affinity(it, Catalog.from_arrays(category=[0, 1]))
        >>> ca.share.toarray().tolist(), ca.top.tolist()
        ([[0.5, 0.5], [0.0, 1.0]], [0, 1])
    """

    share: Any
    index: Any
    top: NDArray[np.int64]


def category_affinity(
    interactions: Interactions, catalog: Catalog, *, weight: Weight = "quantity"
) -> CategoryAffinity:
    """Category affinity per customer (share, over-index and top category).

    Args:
        interactions: Purchase lines.
        catalog: Gives the category of each product; products with category ``-1`` are ignored.
        weight: ``"quantity"`` (default), ``"binary"``, ``"log1p"`` or ``"revenue"``.

    Example:
        >>> it = Interactions.from_arrays(basket=[0, 1, 2], customer=[0, 0, 1], product=[0, 1, 1],
        ...                               n_products=2, quantity=[3, 1, 1])
        >>> ca = category_affinity(it, Catalog.from_arrays(category=[0, 1]))
        >>> ca.share.toarray().tolist()
        [[0.75, 0.25], [0.0, 1.0]]
        >>> [round(v, 3) for v in ca.index.toarray()[0].tolist()]  # 0.75 / 0.6, 0.25 / 0.4
        [1.25, 0.625]
    """
    cat = check_catalog(catalog, interactions.n_products)
    n_cat = cat.n_categories
    u = interactions.customer_matrix(weight)
    known = cat.category >= 0
    items = np.flatnonzero(known)
    onehot = sp.csr_array(
        (np.ones(items.size), (items, cat.category[known])), shape=(cat.n_products, n_cat)
    )
    m = sp.csr_array(u @ onehot)
    m.sort_indices()
    totals = np.asarray(m.sum(axis=1)).ravel()
    rows = row_ids(m.indptr)
    share = sp.csr_array((m.data / totals[rows], m.indices, m.indptr), shape=m.shape)
    col_tot = np.asarray(m.sum(axis=0)).ravel()
    grand = col_tot.sum()
    glob = np.divide(col_tot, grand, out=np.zeros_like(col_tot), where=grand > 0)
    index = sp.csr_array((share.data / glob[share.indices], m.indices, m.indptr), shape=m.shape)
    top, _ = topn_rows(share.indptr, share.indices, share.data, 1)
    return CategoryAffinity(share=share, index=index, top=top[:, 0].copy())
