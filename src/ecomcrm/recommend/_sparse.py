"""Vectorized row-wise top-k helpers for CSR matrices (no Python loop per row)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

_PAD_LIMIT = 512


def row_ids(indptr: NDArray[np.integer[Any]]) -> NDArray[np.int64]:
    """Row index of every stored entry of a CSR structure."""
    n = indptr.size - 1
    return np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))


def topk_keep(
    indptr: NDArray[np.integer[Any]],
    indices: NDArray[np.integer[Any]],
    data: NDArray[np.float64],
    k: int,
) -> NDArray[np.bool_]:
    """Mask of the entries that are among the ``k`` largest of their row (ties: lower column)."""
    lens = np.diff(indptr)
    keep = np.ones(indices.size, dtype=np.bool_)
    if lens.size == 0 or lens.max(initial=0) <= k:
        return keep
    rows = row_ids(indptr)
    sel_long = (lens > k)[rows]
    keep = ~sel_long
    pos = np.flatnonzero(sel_long)
    r = rows[pos]
    order = np.lexsort((indices[pos], -data[pos], r))
    ranked = pos[order]
    ro = r[order]
    rank = np.arange(ranked.size) - np.searchsorted(ro, ro, side="left")
    keep[ranked[rank < k]] = True
    return keep


def topk_csr(m: Any, k: int | None) -> Any:
    """Keep the ``k`` largest entries of every row of CSR ``m`` (ties: lower column first)."""
    m = sp.csr_array(m)
    m.sort_indices()
    if k is None:
        return m
    keep = topk_keep(m.indptr, m.indices, m.data, k)
    if keep.all():
        return m
    lens = np.bincount(row_ids(m.indptr)[keep], minlength=m.shape[0])
    out = sp.csr_array(
        (m.data[keep], m.indices[keep], np.concatenate([[0], np.cumsum(lens)])), shape=m.shape
    )
    out.has_sorted_indices = True
    return out


def topn_rows(
    indptr: NDArray[np.integer[Any]],
    indices: NDArray[np.integer[Any]],
    data: NDArray[np.float64],
    n: int,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Top ``n`` (column, value) of every CSR row, best first, padded with -1 / NaN.

    Short rows go through one padded ``argpartition``; the few long rows through one
    ``lexsort``. Ties are broken by the lower column.
    """
    n_rows = indptr.size - 1
    items = np.full((n_rows, n), -1, dtype=np.int64)
    scores = np.full((n_rows, n), np.nan, dtype=np.float64)
    if n_rows == 0 or n == 0 or indices.size == 0:
        return items, scores
    lens = np.diff(indptr).astype(np.int64)
    rows = row_ids(indptr)
    short = lens <= _PAD_LIMIT
    # --- short rows: padded matrix + argpartition ------------------------------------
    sr = np.flatnonzero(short & (lens > 0))
    if sr.size:
        width = int(lens[sr].max())
        local = np.full(n_rows, -1, dtype=np.int64)
        local[sr] = np.arange(sr.size)
        ent = np.flatnonzero(short[rows])
        er = local[rows[ent]]
        ec = ent - indptr[rows[ent]]
        pad_v = np.full((sr.size, width), -np.inf)
        pad_i = np.full((sr.size, width), np.iinfo(np.int64).max, dtype=np.int64)
        pad_v[er, ec] = data[ent]
        pad_i[er, ec] = indices[ent]
        if width > n:
            part = np.argpartition(-pad_v, n - 1, axis=1)[:, :n]
            pv = np.take_along_axis(pad_v, part, axis=1)
            pi = np.take_along_axis(pad_i, part, axis=1)
        else:
            pv, pi = pad_v, pad_i
        # order within the kept n: score desc, column asc
        o = np.lexsort((pi, -pv), axis=1) if pv.shape[1] > 1 else np.zeros(pv.shape, np.int64)
        pv = np.take_along_axis(pv, o, axis=1)
        pi = np.take_along_axis(pi, o, axis=1)
        w = pv.shape[1]
        valid = np.isfinite(pv)
        items[sr, :w] = np.where(valid, pi, -1)
        scores[sr, :w] = np.where(valid, pv, np.nan)
    # --- long rows: one lexsort -------------------------------------------------------
    lr = np.flatnonzero(~short)
    if lr.size:
        ent = np.flatnonzero(~short[rows])
        r = rows[ent]
        order = np.lexsort((indices[ent], -data[ent], r))
        ent, r = ent[order], r[order]
        rank = np.arange(ent.size) - np.searchsorted(r, r, side="left")
        keep = rank < n
        items[r[keep], rank[keep]] = indices[ent[keep]]
        scores[r[keep], rank[keep]] = data[ent[keep]]
    return items, scores
