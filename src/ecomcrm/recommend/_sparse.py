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

    Values must be positive. Rows are grouped by length into a few width classes; each
    class goes through one padded ``argpartition``; the few very long rows through one
    ``lexsort``. Ties are broken by the lower column.
    """
    n_rows = indptr.size - 1
    items = np.full((n_rows, n), -1, dtype=np.int64)
    scores = np.full((n_rows, n), np.nan, dtype=np.float64)
    if n_rows == 0 or n == 0 or indices.size == 0:
        return items, scores
    lens = np.diff(indptr).astype(np.int64)
    starts = np.asarray(indptr[:-1], dtype=np.int64)
    lo_w = 0
    redo: list[NDArray[np.int64]] = [np.flatnonzero(lens > _PAD_LIMIT)]
    for hi_w in (4 * n, 16 * n, 64 * n, _PAD_LIMIT):  # width classes bound the padding
        hi_w = max(hi_w, lo_w + 1)
        sr = np.flatnonzero((lens > lo_w) & (lens <= hi_w))
        lo_w = hi_w
        if sr.size == 0:
            continue
        width = int(lens[sr].max())
        rl = lens[sr]
        er = np.repeat(np.arange(sr.size), rl)
        ec = np.arange(er.size) - np.repeat(np.cumsum(rl) - rl, rl)
        ent = np.repeat(starts[sr], rl) + ec
        pad_v = np.zeros((sr.size, width))
        pad_i = np.zeros((sr.size, width), dtype=np.int64)
        pad_v[er, ec] = data[ent]
        pad_i[er, ec] = indices[ent]
        if width > n:
            part = np.argpartition(pad_v, width - n, axis=1)[:, width - n :]
            pv = np.take_along_axis(pad_v, part, axis=1)
            pi = np.take_along_axis(pad_i, part, axis=1)
            # a tie across the cut is settled by the exact path (lower column wins)
            cut = pv.min(axis=1)
            tied = ((pad_v == cut[:, None]).sum(axis=1) > (pv == cut[:, None]).sum(axis=1)) & (
                cut > 0
            )
            redo.append(sr[tied])
        else:
            pv, pi = pad_v, pad_i
        o = np.lexsort((pi, -pv), axis=1)
        pv = np.take_along_axis(pv, o, axis=1)
        pi = np.take_along_axis(pi, o, axis=1)
        w = pv.shape[1]
        valid = pv > 0
        items[sr, :w] = np.where(valid, pi, -1)
        scores[sr, :w] = np.where(valid, pv, np.nan)
    lr = np.concatenate(redo)
    if lr.size:
        rows = row_ids(indptr)
        exact = np.zeros(n_rows, dtype=np.bool_)
        exact[lr] = True
        items[lr] = -1
        scores[lr] = np.nan
        ent = np.flatnonzero(exact[rows])
        r = rows[ent]
        order = np.lexsort((indices[ent], -data[ent], r))
        ent, r = ent[order], r[order]
        rank = np.arange(ent.size) - np.searchsorted(r, r, side="left")
        keep = rank < n
        items[r[keep], rank[keep]] = indices[ent[keep]]
        scores[r[keep], rank[keep]] = data[ent[keep]]
    return items, scores
