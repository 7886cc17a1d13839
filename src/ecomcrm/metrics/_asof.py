"""The as-of join kernel: per left row, the nearest right row of the same key before or after it.

Both sides are put in key-major, time-minor order and compared through one int64
composite per row, ``key * (n_right + 1) + rank``, where ``rank`` is a right row's
position in time order (so ties between right rows at the same instant keep their
input order) and a left row's rank is how many right rows lie before its instant.
Then a single ``searchsorted`` of sorted queries answers every left row at once.

Why this shape (measured on this 2-core machine, 10,000,000 int64 rows, CPU time):
``np.lexsort`` of three keys over 20,000,000 rows took 11.6 s, ``np.argsort`` 1.9 s,
``np.sort`` of values 0.7 s, and ``searchsorted`` of 10,000,000 *unsorted* queries
14.6 s against 0.45 s for sorted ones. So the kernel sorts values, not indices: the
right side's composite is unique and decodes back to its row, and the left side is
ordered by key with its time-order position packed into the low bits of one int64
(``key << bits | position``), which one value sort orders stably. Inputs already in
time order (orders and messages read from a store are) skip the time sort.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Direction = Literal["backward", "forward"]


def _time_order(times: NDArray[np.int64]) -> NDArray[np.int64] | None:
    """The stable permutation putting ``times`` in order, or None when they already are."""
    if len(times) < 2 or bool(np.all(times[1:] >= times[:-1])):
        return None
    return np.argsort(times, kind="stable").astype(np.int64, copy=False)


def _by_key_stable(
    keys: NDArray[np.int64], n_keys: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The stable permutation putting ``keys`` in order, and the keys in that order.

    One value sort of ``key << bits | position`` (the caller checked that it fits).
    """
    n = len(keys)
    bits = max(1, int(n).bit_length())
    packed = keys << np.int64(bits)
    packed |= np.arange(n, dtype=np.int64)
    packed.sort()
    perm = packed & np.int64((1 << bits) - 1)
    packed >>= np.int64(bits)
    return perm, packed


class AsofIndex:
    """The right side of as-of joins, sorted once, for several left sides or directions.

    ``keys`` are integer codes in ``[0, n_keys)`` and ``times`` int64 instants. Rows of
    the same key and instant keep their input order (a later row counts as later).
    ``composite`` is ``key << bits | rank`` in ascending order (``rank`` the row's
    position in time order), ``rows`` the input row at each composite position and
    ``times`` its instant.
    """

    def __init__(self, keys: NDArray[np.int64], times: NDArray[np.int64], n_keys: int) -> None:
        n = len(keys)
        self.n = n
        self.n_keys = max(int(n_keys), 1)
        self.bits = max(1, int(n).bit_length())
        # the composites (and the queries' packed sort) must fit in an int64
        if self.n_keys.bit_length() + self.bits > 62:  # pragma: no cover - 2^62 rows
            raise ValueError("too many keys and rows for one int64 composite")
        perm = _time_order(times)
        self.sorted_times = times if perm is None else times[perm]
        key_in_time = keys if perm is None else keys[perm]
        composite = key_in_time << np.int64(self.bits)
        composite |= np.arange(n, dtype=np.int64)
        composite.sort()
        self.composite = composite
        rank = composite & np.int64((1 << self.bits) - 1)
        self.rows = rank if perm is None else perm[rank]
        self.times = self.sorted_times[rank]

    def query(
        self, keys: NDArray[np.int64], times: NDArray[np.int64], *, direction: Direction,
        inclusive: bool,
    ) -> AsofQuery:  # fmt: skip
        """Prepare left rows (their instants, keys and order) for :meth:`AsofQuery.positions`."""
        return AsofQuery(self, keys, times, direction=direction, inclusive=inclusive)


class AsofQuery:
    """Left rows in key-major, time-minor order, for lookups in an :class:`AsofIndex`.

    ``backward``: the last right row at or before (``inclusive``) or strictly before each
    left instant; ``forward``: the first at or after, or strictly after. Results come in
    this query's order (``rows`` maps them back to input rows), where lookups walk the
    index forwards: the gathers they need are sequential, not random.
    """

    def __init__(
        self, index: AsofIndex, keys: NDArray[np.int64], times: NDArray[np.int64], *,
        direction: Direction, inclusive: bool,
    ) -> None:  # fmt: skip
        self.index = index
        self.direction = direction
        self.n = len(keys)
        lperm = _time_order(times)
        lt = times if lperm is None else times[lperm]
        lk = keys if lperm is None else keys[lperm]
        # how many right rows lie before each left instant (the bound on their rank)
        side: Literal["left", "right"]
        if direction == "backward":
            side = "right" if inclusive else "left"
        else:
            side = "left" if inclusive else "right"
        bound = np.searchsorted(index.sorted_times, lt, side=side)
        by_key, self.keys = _by_key_stable(lk, index.n_keys)
        self.times = lt[by_key]
        self.composite = self.keys << np.int64(index.bits)
        self.composite |= bound[by_key]
        self.rows = by_key if lperm is None else lperm[by_key]

    def positions(self, among: NDArray[np.bool_] | None = None) -> NDArray[np.int64]:
        """Per left row (in this query's order), the composite position of its match.

        ``among`` limits the right rows considered (a mask over composite positions).
        -1 where there is none.
        """
        index = self.index
        if self.n == 0 or index.n == 0:
            return np.full(self.n, -1, dtype=np.int64)
        positions: NDArray[np.int64] | None = None
        composite = index.composite
        if among is not None:
            positions = np.flatnonzero(among)
            composite = composite[positions]
        if len(composite) == 0:
            return np.full(self.n, -1, dtype=np.int64)
        # backward: the last composite < query (same key, rank < bound);
        # forward: the first composite >= query (same key, rank >= bound)
        found = np.searchsorted(composite, self.composite, side="left")
        if self.direction == "backward":
            found -= 1
            ok = found >= 0
        else:
            ok = found < len(composite)
        np.maximum(found, 0, out=found)
        np.minimum(found, len(composite) - 1, out=found)
        ok &= (composite[found] >> np.int64(index.bits)) == self.keys
        chosen = found if positions is None else positions[found]
        chosen[~ok] = -1
        return chosen

    def scatter(self, values: NDArray[Any], fill: Any) -> NDArray[Any]:
        """Values given in this query's order, put back in input-row order."""
        out = np.full(self.n, fill, dtype=values.dtype)
        out[self.rows] = values
        return out
