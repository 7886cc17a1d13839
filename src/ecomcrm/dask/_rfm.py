"""RFM scores with exact global boundaries: one pass merges per-partition histograms.

``ecomcrm.metrics.rfm_scores`` gives a value the score ``1 + floor(bins * w / n)``, ``w`` the
number of customers strictly worse. That score reaches ``k + 1`` exactly when
``w >= m_k = ceil(k * n / bins)``; for "higher is better" that is ``x > s[m_k - 1]`` (``s`` the
sorted values) and for recency (lower is better) ``x < s[n - m_k]``. So ``bins - 1`` order
statistics per dimension, read off the merged histogram of distinct values, score every
partition on its own with the single-machine result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ecomcrm.dask._reduce import tree_reduce
from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.metrics import DEFAULT_SEGMENT_RULES, SegmentRule, rfm_segments

_DIMENSIONS = ("recency", "frequency", "monetary")
Histogram = dict[str, tuple[NDArray[np.float64], NDArray[np.int64]]]


@attrs.frozen(eq=False)
class RFMBoundaries:
    """The thresholds that score every customer as ``rfm_scores`` over all customers would.

    For each dimension, ``kind[dim]`` is ``"quantile"`` (thresholds are order statistics:
    frequency and monetary score ``1 + #(thresholds < x)``, recency
    ``1 + #(thresholds > x)``) or ``"edges"`` (fixed thresholds with ``rfm_scores``' rule).

    Attributes:
        bins: Score levels.
        thresholds: Per dimension, the ``bins - 1`` thresholds (non-decreasing).
        kind: Per dimension, ``"quantile"`` or ``"edges"``.
        n_customers: Customers scored.

    Example:
        >>> import numpy as np
        >>> b = RFMBoundaries.from_histogram({d: (np.array([1.0, 2.0]), np.array([1, 1]))
        ...                                   for d in ("recency", "frequency", "monetary")}, bins=2)
        >>> b.thresholds["frequency"].tolist(), b.n_customers
        ([1.0], 2)
    """

    bins: int
    thresholds: Mapping[str, NDArray[np.float64]]
    kind: Mapping[str, str]
    n_customers: int

    @classmethod
    def from_histogram(
        cls,
        histogram: Histogram,
        *,
        bins: int = 5,
        edges: Mapping[str, Sequence[float]] | None = None,
    ) -> RFMBoundaries:
        """Boundaries from merged (distinct values, counts) per dimension.

        Example:
            >>> import numpy as np
            >>> h = {d: (np.array([0.0, 5.0]), np.array([3, 1])) for d in ("recency", "frequency", "monetary")}
            >>> RFMBoundaries.from_histogram(h, bins=4).thresholds["recency"].tolist()
            [0.0, 0.0, 5.0]
        """
        fixed = _check_edges(edges, bins)
        thresholds: dict[str, NDArray[np.float64]] = {}
        kind: dict[str, str] = {}
        n = int(histogram["frequency"][1].sum())
        for dim in _DIMENSIONS:
            if dim in fixed:
                thresholds[dim], kind[dim] = fixed[dim], "edges"
                continue
            values, counts = histogram[dim]
            kind[dim] = "quantile"
            if n == 0:
                thresholds[dim] = np.empty(0)
                continue
            k = np.arange(1, bins, dtype=np.int64)
            m = -((-k * n) // bins)  # ceil(k n / bins), exact in integers
            position = m - 1 if dim != "recency" else n - m
            cum = np.cumsum(counts)
            thresholds[dim] = np.sort(values[np.searchsorted(cum, position, side="right")])
        return cls(bins, thresholds, kind, n)

    def score(self, dim: str, x: NDArray[np.float64]) -> NDArray[np.int8]:
        """Scores of the values ``x`` of dimension ``dim``.

        Example:
            >>> import numpy as np
            >>> h = {d: (np.array([1.0, 2.0]), np.array([1, 1])) for d in ("recency", "frequency", "monetary")}
            >>> RFMBoundaries.from_histogram(h, bins=2).score("recency", np.array([1.0, 2.0])).tolist()
            [2, 1]
        """
        t = self.thresholds[dim]
        if self.kind[dim] == "edges":
            if dim != "recency":
                return (1 + np.searchsorted(t, x, side="right")).astype(np.int8)
            return (self.bins - np.searchsorted(t, x, side="left")).astype(np.int8)
        if dim != "recency":
            return (1 + np.searchsorted(t, x, side="left")).astype(np.int8)
        return (1 + len(t) - np.searchsorted(t, x, side="right")).astype(np.int8)


def _check_edges(
    edges: Mapping[str, Sequence[float]] | None, bins: int
) -> dict[str, NDArray[np.float64]]:
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or not 2 <= bins <= 100:
        raise ConfigurationError("must be an integer from 2 to 100", field="bins", value=bins)
    out: dict[str, NDArray[np.float64]] = {}
    for name, values in (edges or {}).items():
        arr = np.asarray(values, dtype=np.float64)
        if name not in _DIMENSIONS:
            raise ConfigurationError(
                "keys must be 'recency', 'frequency' or 'monetary'", field="edges", value=name
            )
        if arr.ndim != 1 or len(arr) != bins - 1 or not np.all(np.isfinite(arr)):
            raise ConfigurationError(
                f"needs bins - 1 = {bins - 1} finite thresholds",
                field=f"edges[{name!r}]",
                value=list(values),
            )
        if np.any(np.diff(arr) <= 0):
            raise ConfigurationError(
                "thresholds must be strictly increasing",
                field=f"edges[{name!r}]",
                value=list(values),
            )
        out[name] = arr
    return out


def _values(frame: Any, monetary: str) -> dict[str, NDArray[np.float64]]:
    out = {
        "recency": frame["T"].to_numpy(dtype=np.float64)
        - frame["recency"].to_numpy(dtype=np.float64),
        "frequency": frame["frequency"].to_numpy(dtype=np.float64),
        "monetary": frame[monetary].to_numpy(dtype=np.float64),
    }
    for dim, x in out.items():
        bad = ~np.isfinite(x)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "must be finite", entity="rfm_scores", field=dim, value=float(x[row]), row=row
            )
    return out


def _histogram(frame: Any, monetary: str) -> Histogram:
    out: Histogram = {}
    for dim, x in _values(frame, monetary).items():
        values, counts = np.unique(x, return_counts=True)
        out[dim] = (values, counts.astype(np.int64))
    return out


def _merge(*parts: Histogram) -> Histogram:
    out: Histogram = {}
    for dim in _DIMENSIONS:
        values = np.concatenate([p[dim][0] for p in parts])
        counts = np.concatenate([p[dim][1] for p in parts])
        unique, inverse = np.unique(values, return_inverse=True)
        total = np.zeros(len(unique), dtype=np.int64)
        np.add.at(total, inverse, counts)
        out[dim] = (unique, total)
    return out


def rfm_boundaries(
    summary: Any,
    *,
    bins: int = 5,
    edges: Mapping[str, Sequence[float]] | None = None,
    monetary: str = "monetary_value",
) -> RFMBoundaries:
    """Compute the global RFM boundaries of a dask DataFrame of summaries (one pass).

    Each partition sends the distinct values of recency (``T - recency``), frequency and
    ``monetary`` with their counts; the histograms merge in a tree and the client reads the
    ``bins - 1`` order statistics per dimension off the merged one.

    Example:
        >>> import dask, dask.dataframe as dd, pandas as pd
        >>> from ecomcrm.dask import rfm_boundaries
        >>> s = dd.from_pandas(pd.DataFrame({"T": [9.0, 9.0], "recency": [0.0, 8.0],
        ...     "frequency": [0.0, 3.0], "monetary_value": [0.0, 9.5]}), npartitions=2)
        >>> with dask.config.set(scheduler="synchronous"):
        ...     rfm_boundaries(s, bins=2).thresholds["monetary"].tolist()
        [0.0]
    """
    _check_edges(edges, bins)
    histogram = tree_reduce(summary, lambda part: _histogram(part, monetary), _merge)
    return RFMBoundaries.from_histogram(histogram, bins=bins, edges=edges)


def rfm_partition(
    frame: Any,
    boundaries: RFMBoundaries,
    *,
    monetary: str = "monetary_value",
    rules: Sequence[SegmentRule] = DEFAULT_SEGMENT_RULES,
    default: str = "Other",
) -> Any:
    """Score one partition of summaries with global boundaries.

    The result has ``customer_id``, ``r_score``, ``f_score``, ``m_score``, ``rfm_code``
    and ``rfm_segment`` (:func:`ecomcrm.metrics.rfm_segments` of the scores).

    Example:
        >>> import numpy as np, pandas as pd
        >>> from ecomcrm.dask import RFMBoundaries, rfm_partition
        >>> h = {d: (np.array([0.0, 4.0]), np.array([1, 1])) for d in ("recency", "frequency", "monetary")}
        >>> part = pd.DataFrame({"customer_id": [7], "T": [4.0], "recency": [0.0],
        ...                      "frequency": [4.0], "monetary_value": [4.0]})
        >>> rfm_partition(part, RFMBoundaries.from_histogram(h, bins=2))["rfm_code"].tolist()
        [122]
    """
    values = _values(frame, monetary)
    r = boundaries.score("recency", values["recency"])
    f = boundaries.score("frequency", values["frequency"])
    m = boundaries.score("monetary", values["monetary"])
    code = r.astype(np.int64) * 100 + f.astype(np.int64) * 10 + m.astype(np.int64)
    segment = rfm_segments(r, f, m, rules=rules, default=default) if len(r) else np.empty(0, str)
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm_code": code,
            "rfm_segment": pd.Series(segment, dtype="string"),
        }
    ).astype({"customer_id": frame["customer_id"].dtype})


def rfm_scores(
    summary: Any,
    *,
    bins: int = 5,
    edges: Mapping[str, Sequence[float]] | None = None,
    monetary: str = "monetary_value",
    rules: Sequence[SegmentRule] = DEFAULT_SEGMENT_RULES,
    default: str = "Other",
) -> Any:
    """RFM scores of every customer, equal to ``ecomcrm.metrics.rfm_scores`` over all of them.

    ``summary`` is a dask DataFrame of :func:`summaries` (persist it first on a cluster: the
    boundaries pass and the scores both read it). Recency is ``T - recency`` (time since the
    last purchase), frequency ``frequency`` and monetary the ``monetary`` column. Computes
    :func:`rfm_boundaries` now and returns the scores lazily, partition by partition.

    Example:
        >>> import dask, dask.dataframe as dd, pandas as pd
        >>> from ecomcrm.dask import rfm_scores
        >>> s = dd.from_pandas(pd.DataFrame({"customer_id": [1, 2], "T": [9.0, 9.0],
        ...     "recency": [0.0, 8.0], "frequency": [0.0, 3.0], "monetary_value": [0.0, 9.5]}),
        ...     npartitions=2)
        >>> with dask.config.set(scheduler="synchronous"):
        ...     rfm_scores(s, bins=2).compute()["rfm_code"].tolist()
        [111, 222]
    """
    boundaries = rfm_boundaries(summary, bins=bins, edges=edges, monetary=monetary)
    options: dict[str, Any] = {"monetary": monetary, "rules": tuple(rules), "default": default}
    meta = rfm_partition(summary._meta, boundaries, **options)
    return summary.map_partitions(
        rfm_partition, boundaries, meta=meta, clear_divisions=True, **options
    )
