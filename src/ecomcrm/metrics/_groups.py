"""Grouping kernels: distinct (customer, period) pairs with one sort of an int64 key.

A pair is encoded as ``code * P + (period - pmin)`` where ``P`` is the number of periods
spanned, so one ``ndarray.sort`` (numpy's SIMD sort for int64) replaces a two-key lexsort.
If the key could overflow, a lexsort fallback is used.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

_KEY_LIMIT = 1 << 62


def _combined_key(
    codes: NDArray[np.int64], periods: NDArray[np.int64], n_codes: int
) -> tuple[NDArray[np.int64], int, int] | None:
    if len(codes) == 0:
        return np.empty(0, dtype=np.int64), 1, 0
    pmin = int(periods.min())
    span = int(periods.max()) - pmin + 1
    if n_codes * span >= _KEY_LIMIT:
        return None
    key = codes * np.int64(span)
    key += periods
    if pmin:
        key -= pmin
    return key, span, pmin


def distinct_pairs(
    codes: NDArray[np.int64], periods: NDArray[np.int64], n_codes: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct ``(code, period)`` pairs, sorted by code then period."""
    packed = _combined_key(codes, periods, n_codes)
    if packed is None:
        order = np.lexsort((periods, codes))
        c = codes[order]
        p = periods[order]
        if len(c) == 0:
            return c, p
        keep = np.empty(len(c), dtype=bool)
        keep[0] = True
        np.not_equal(c[1:], c[:-1], out=keep[1:])
        keep[1:] |= p[1:] != p[:-1]
        return c[keep], p[keep]
    key, span, pmin = packed
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        key.sort()
    if len(key) == 0:
        return key, key.copy()
    keep = np.empty(len(key), dtype=bool)
    keep[0] = True
    np.not_equal(key[1:], key[:-1], out=keep[1:])
    uk = key[keep]
    del key, keep
    ucodes = uk // span
    uk -= ucodes * span
    if pmin:
        uk += pmin
    return ucodes, uk


def distinct_count(
    codes: NDArray[np.int64],
    periods: NDArray[np.int64],
    n_codes: int,
    row_counts: NDArray[np.int64] | None = None,
) -> NDArray[np.int64]:
    """Number of distinct periods per code (length ``n_codes``).

    ``row_counts`` (``np.bincount(codes, minlength=n_codes)``) is reused when given.
    """
    packed = _combined_key(codes, periods, n_codes)
    if packed is None:
        ucodes, _ = distinct_pairs(codes, periods, n_codes)
        return np.bincount(ucodes, minlength=n_codes).astype(np.int64, copy=False)
    key, span, _ = packed
    if len(key) == 0:
        return np.zeros(n_codes, dtype=np.int64)
    if len(key) > 1 and not bool(np.all(key[1:] >= key[:-1])):
        key.sort()
    # duplicates are the positions equal to their predecessor: count them per code and
    # subtract from the row counts (duplicates are usually far fewer than rows)
    dup = np.flatnonzero(key[1:] == key[:-1])
    dup_codes = key[dup + 1] // span
    del key, dup
    rows = np.bincount(codes, minlength=n_codes) if row_counts is None else row_counts.copy()
    rows -= np.bincount(dup_codes, minlength=n_codes)
    return rows.astype(np.int64, copy=False)


def wsum(
    codes: NDArray[np.int64], weights: NDArray[np.float64], n_codes: int
) -> NDArray[np.float64]:
    """Sum of ``weights`` per code (length ``n_codes``)."""
    return np.asarray(np.bincount(codes, weights=weights, minlength=n_codes), dtype=np.float64)
