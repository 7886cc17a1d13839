from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.metrics._nan_policy import NanPolicy, nan_policy
from ecomcrm.metrics._validate import as_1d, as_amounts, first_true

_DIMENSIONS = ("recency", "frequency", "monetary")


@attrs.frozen(eq=False)
class RFMScores:
    """Recency, frequency and monetary scores, one entry per input row.

    Attributes:
        recency: 1..bins, higher for *more recent* customers (smaller time since last purchase).
        frequency: 1..bins, higher for more frequent customers.
        monetary: 1..bins, higher for bigger spenders.
        bins: The number of score levels.

    Example:
        >>> from ecomcrm.metrics import rfm_scores
        >>> s = rfm_scores([1, 5, 9], [3, 1, 0], [50.0, 20.0, 10.0], bins=3)
        >>> s.recency.tolist(), s.frequency.tolist(), s.monetary.tolist(), s.code.tolist()
        ([3, 2, 1], [3, 2, 1], [3, 2, 1], [333, 222, 111])
    """

    recency: NDArray[np.int8]
    frequency: NDArray[np.int8]
    monetary: NDArray[np.int8]
    bins: int

    def __len__(self) -> int:
        """Number of rows scored."""
        return len(self.recency)

    @property
    def code(self) -> NDArray[np.int64]:
        """The usual three-digit RFM cell, ``100 * R + 10 * F + M`` (for ``bins <= 9``).

        Example:
            >>> from ecomcrm.metrics import rfm_scores
            >>> rfm_scores([2, 1], [0, 1], [1.0, 2.0], bins=2).code.tolist()
            [111, 222]
        """
        return (
            self.recency.astype(np.int64) * 100
            + self.frequency.astype(np.int64) * 10
            + self.monetary.astype(np.int64)
        )


def _quantile_scores(x: NDArray[np.float64], bins: int, higher_is_better: bool) -> NDArray[np.int8]:
    """Score = 1 + floor(bins * (number of values strictly worse) / n); ties share a score."""
    n = len(x)
    if n == 0:
        return np.empty(0, dtype=np.int8)
    ordered = np.sort(x)
    if higher_is_better:
        worse = np.searchsorted(ordered, x, side="left")
    else:
        worse = n - np.searchsorted(ordered, x, side="right")
    return (1 + (worse * bins) // n).astype(np.int8)


def _edge_scores(
    x: NDArray[np.float64], edges: NDArray[np.float64], higher_is_better: bool
) -> NDArray[np.int8]:
    bins = len(edges) + 1
    if higher_is_better:
        return (1 + np.searchsorted(edges, x, side="right")).astype(np.int8)
    return (bins - np.searchsorted(edges, x, side="left")).astype(np.int8)


def _check_edges(
    edges: Mapping[str, Sequence[float]] | None, bins: int
) -> dict[str, NDArray[np.float64]]:
    out: dict[str, NDArray[np.float64]] = {}
    if edges is None:
        return out
    for name, values in edges.items():
        if name not in _DIMENSIONS:
            raise ConfigurationError(
                "keys must be 'recency', 'frequency' or 'monetary'", field="edges", value=name
            )
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim != 1 or len(arr) != bins - 1:
            raise ConfigurationError(
                f"needs bins - 1 = {bins - 1} thresholds",
                field=f"edges[{name!r}]",
                value=list(values),
            )
        if not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
            raise ConfigurationError(
                "thresholds must be finite and strictly increasing",
                field=f"edges[{name!r}]",
                value=list(values),
            )
        out[name] = arr
    return out


@nan_policy("recency", "frequency", "monetary")
def rfm_scores(
    recency: ArrayLike,
    frequency: ArrayLike,
    monetary: ArrayLike,
    *,
    bins: int = 5,
    edges: Mapping[str, Sequence[float]] | None = None,
    nan_policy: NanPolicy = "raise",
) -> RFMScores:
    """Score customers 1..``bins`` on recency, frequency and monetary value by quantile.

    ``recency`` here is the RFM one: the time *since the last purchase* (smaller is better).
    From a :class:`CustomerSummary` ``s`` pass ``s.T - s.recency``, ``s.frequency`` and
    ``s.monetary_value`` (or ``s.total_spent``).

    Quantile rule: with ``n`` customers, a value's score is
    ``1 + floor(bins * w / n)`` where ``w`` is the number of customers strictly worse
    (smaller frequency or monetary, larger recency). Ties therefore always share a score (the
    lowest their group reaches) and the best score is at most ``bins``; with heavy ties some
    scores may be unused (e.g. when 60% of customers have frequency 0 they all score 1 and
    the next value scores 4). The result does not depend on row order.

    Fixed thresholds instead of quantiles: ``edges={"monetary": [50, 100, 200, 500]}`` gives
    ``bins - 1`` increasing cut points per dimension. For frequency and monetary a value
    ``>= edges[k]`` scores at least ``k + 2``; for recency the thresholds are inclusive upper
    bounds of the better scores (``recency <= edges[0]`` scores ``bins``).

    Args:
        recency: Time since last purchase per customer (any unit).
        frequency: Purchase frequency per customer.
        monetary: Monetary value per customer.
        bins: Number of score levels (2..9 for three-digit codes; default 5).
        edges: Optional fixed thresholds per dimension (the others stay quantile based).
        nan_policy: {nan_policy}

    Returns:
        :class:`RFMScores` of int8 arrays.

    Raises:
        ValidationError: Arrays of different lengths, missing or infinite values.
        ConfigurationError: Bad ``bins`` or ``edges``.

    Example:
        >>> from ecomcrm.metrics import rfm_scores
        >>> s = rfm_scores([10, 20, 30, 40], [4, 3, 3, 0], [400.0, 300.0, 200.0, 100.0], bins=4)
        >>> s.recency.tolist(), s.frequency.tolist(), s.monetary.tolist()
        ([4, 3, 2, 1], [4, 2, 2, 1], [4, 3, 2, 1])
    """
    entity = "rfm_scores"
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or not 2 <= bins <= 100:
        raise ConfigurationError("must be an integer from 2 to 100", field="bins", value=bins)
    bins = int(bins)
    fixed = _check_edges(edges, bins)
    values = {
        "recency": as_amounts(recency, entity=entity, field="recency"),
        "frequency": as_amounts(frequency, entity=entity, field="frequency"),
        "monetary": as_amounts(monetary, entity=entity, field="monetary"),
    }
    scores: dict[str, NDArray[np.int8]] = {}
    for name, x in values.items():
        better_high = name != "recency"
        if name in fixed:
            scores[name] = _edge_scores(x, fixed[name], better_high)
        else:
            scores[name] = _quantile_scores(x, bins, better_high)
    return RFMScores(scores["recency"], scores["frequency"], scores["monetary"], bins)


@attrs.frozen
class SegmentRule:
    """One named cell of an RFM segment map: inclusive score ranges per dimension.

    Attributes:
        name: The segment name.
        recency: ``(low, high)`` inclusive range of the recency score.
        frequency: ``(low, high)`` inclusive range of the frequency score.
        monetary: ``(low, high)`` inclusive range of the monetary score.

    Example:
        >>> from ecomcrm.metrics import SegmentRule
        >>> SegmentRule("VIP", recency=(5, 5), frequency=(5, 5), monetary=(5, 5)).name
        'VIP'
    """

    name: str
    recency: tuple[int, int] = attrs.field(default=(1, 9))
    frequency: tuple[int, int] = attrs.field(default=(1, 9))
    monetary: tuple[int, int] = attrs.field(default=(1, 9))

    def __attrs_post_init__(self) -> None:
        for dim in _DIMENSIONS:
            lo, hi = getattr(self, dim)
            if lo > hi:
                raise ConfigurationError(
                    "range low must not exceed high",
                    entity="SegmentRule",
                    field=dim,
                    value=(lo, hi),
                )


#: The default segment map for 5-level scores, on recency (R) and frequency (F) scores
#: (monetary is free), first matching rule wins. It is the widely used R x F grid with "Lost"
#: carved out of "Hibernating" at R = F = 1:
#:
#: ====  ============  ==============  ==============  ================  ================
#: R\\F   1             2               3               4                 5
#: ====  ============  ==============  ==============  ================  ================
#: 5     New           Potential Loy.  Potential Loy.  Champions         Champions
#: 4     Promising     Potential Loy.  Potential Loy.  Loyal             Loyal
#: 3     About to Sl.  About to Sleep  Need Attention  Loyal             Loyal
#: 2     Hibernating   Hibernating     At Risk         At Risk           Cannot Lose Them
#: 1     Lost          Hibernating     At Risk         At Risk           Cannot Lose Them
#: ====  ============  ==============  ==============  ================  ================
DEFAULT_SEGMENT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("Champions", recency=(5, 5), frequency=(4, 5)),
    SegmentRule("Loyal", recency=(3, 4), frequency=(4, 5)),
    SegmentRule("Potential Loyalist", recency=(4, 5), frequency=(2, 3)),
    SegmentRule("New", recency=(5, 5), frequency=(1, 1)),
    SegmentRule("Promising", recency=(4, 4), frequency=(1, 1)),
    SegmentRule("Need Attention", recency=(3, 3), frequency=(3, 3)),
    SegmentRule("About to Sleep", recency=(3, 3), frequency=(1, 2)),
    SegmentRule("Cannot Lose Them", recency=(1, 2), frequency=(5, 5)),
    SegmentRule("At Risk", recency=(1, 2), frequency=(3, 4)),
    SegmentRule("Lost", recency=(1, 1), frequency=(1, 1)),
    SegmentRule("Hibernating", recency=(1, 2), frequency=(1, 2)),
)


def _as_scores(x: ArrayLike, field: str) -> NDArray[np.int64]:
    arr = as_1d(x, entity="rfm_segments", field=field)
    if arr.dtype.kind not in "iuf" and len(arr):
        raise ValidationError(
            "must be integer scores", entity="rfm_segments", field=field, value=str(arr.dtype)
        )
    as_float = arr.astype(np.float64)
    bad = (as_float != np.round(as_float)) | (as_float < 1) | ~np.isfinite(as_float)
    if bad.any():
        row = first_true(bad)
        raise ValidationError(
            "must be an integer score >= 1",
            entity="rfm_segments",
            field=field,
            value=arr[row].item(),
            row=row,
        )
    return as_float.astype(np.int64)


@nan_policy("recency", "frequency", "monetary")
def rfm_segments(
    recency: ArrayLike,
    frequency: ArrayLike,
    monetary: ArrayLike,
    *,
    rules: Sequence[SegmentRule] = DEFAULT_SEGMENT_RULES,
    default: str = "Other",
    nan_policy: NanPolicy = "raise",
) -> NDArray[np.str_]:
    """Name the RFM segment of each customer from its scores; the first matching rule wins.

    The default map (:data:`DEFAULT_SEGMENT_RULES`, for ``bins=5``) assigns Champions, Loyal,
    Potential Loyalist, New, Promising, Need Attention, About to Sleep, Cannot Lose Them,
    At Risk, Lost and Hibernating on the recency x frequency score grid and covers every
    cell. Pass your own ``rules`` (a sequence of :class:`SegmentRule`) to override it; rows no
    rule matches get ``default``.

    Args:
        recency: Recency scores (as :attr:`RFMScores.recency`).
        frequency: Frequency scores.
        monetary: Monetary scores.
        rules: Ordered segment rules.
        default: Name for rows that match no rule.
        nan_policy: {nan_policy}

    Returns:
        An array of segment names, one per row.

    Raises:
        ValidationError: Scores that are not integers >= 1, different lengths.

    Example:
        >>> from ecomcrm.metrics import rfm_segments
        >>> rfm_segments([5, 1, 3, 1], [5, 1, 3, 5], [5, 1, 3, 4]).tolist()
        ['Champions', 'Lost', 'Need Attention', 'Cannot Lose Them']
    """
    r = _as_scores(recency, "recency")
    f = _as_scores(frequency, "frequency")
    m = _as_scores(monetary, "monetary")
    rules = tuple(rules)
    for rule in rules:
        if not isinstance(rule, SegmentRule):
            raise ConfigurationError("must be SegmentRule objects", field="rules", value=rule)
    names = np.array([rule.name for rule in rules] + [str(default)])
    code = np.full(len(r), len(rules), dtype=np.int64)
    open_rows = np.ones(len(r), dtype=bool)
    for i, rule in enumerate(rules):  # a handful of rules, each vectorized over all rows
        hit = open_rows.copy()
        for arr, (lo, hi) in ((r, rule.recency), (f, rule.frequency), (m, rule.monetary)):
            hit &= (arr >= lo) & (arr <= hi)
        code[hit] = i
        open_rows &= ~hit
    out: NDArray[np.str_] = names[code]
    return out
