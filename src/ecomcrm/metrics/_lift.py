"""Is it noise? Intervals for rate and mean differences, and the chance each variant is best.

- :func:`wilson_interval`: the Wilson score interval of a proportion (Wilson 1927);
- :func:`newcombe_interval`: a difference of two independent proportions with
  Newcombe's hybrid score interval (Newcombe 1998, method 10), built from the two
  Wilson intervals; good coverage even for small counts and rates near 0 or 1;
- :func:`welch_interval`: a difference of two means with unequal variances (Welch
  1947; the Welch-Satterthwaite degrees of freedom), from per-group summaries;
- :func:`prob_best`: per variant, the posterior probability that its conversion rate is
  the highest, under independent Beta priors and binomial data (Beta-Binomial).

All take counts or summaries (arrays in, arrays out) and raise ValidationError for
impossible input (a count above its trials, a confidence outside (0, 1)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

from ecomcrm.errors import ValidationError

#: Nodes of the midpoint rule over a variant's own posterior quantiles in :func:`prob_best`.
_NODES = 4096


@attrs.frozen(kw_only=True)
class Difference:
    """A difference between two groups with its confidence interval.

    ``difference`` is first minus second; ``low``/``high`` bound it at ``confidence``.
    Undefined parts (an empty group) are NaN.

    Example:
        >>> d = Difference(difference=0.1, low=0.02, high=0.18, confidence=0.95)
        >>> d.excludes_zero
        True
    """

    difference: float
    low: float
    high: float
    confidence: float

    @property
    def excludes_zero(self) -> bool:
        """True when the whole interval is on one side of zero (not noise at this level)."""
        return bool(self.low > 0.0 or self.high < 0.0)


def _z(confidence: float, entity: str) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValidationError(
            "must be between 0 and 1", entity=entity, field="confidence", value=confidence
        )
    return float(stats.norm.ppf(0.5 + confidence / 2.0))


def _counts(
    successes: ArrayLike, trials: ArrayLike, entity: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if x.shape != n.shape:
        raise ValidationError(
            f"has shape {x.shape} but trials {n.shape}", entity=entity, field="successes",
            value=x.shape,
        )  # fmt: skip
    bad = ~np.isfinite(x) | ~np.isfinite(n) | (x < 0) | (n < 0) | (x > n)
    if bad.any():
        row = int(np.argmax(bad.reshape(-1)))
        raise ValidationError(
            "must be counts with 0 <= successes <= trials",
            entity=entity, field="successes",
            value=(float(x.reshape(-1)[row]), float(n.reshape(-1)[row])), row=row,
        )  # fmt: skip
    return x, n


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, *, confidence: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The Wilson score interval of ``successes / trials`` (NaN where ``trials`` is 0).

    Args:
        successes: Counts, same shape.
        trials: The trials of each (same shape as ``successes``).
        confidence: The coverage, 0.95 by default.

    Returns:
        ``(low, high)``.

    Example:
        >>> low, high = wilson_interval([56], [70])
        >>> round(float(low[0]), 4), round(float(high[0]), 4)
        (0.6918, 0.877)
    """
    entity = "wilson_interval"
    z = _z(confidence, entity)
    x, n = _counts(successes, trials, entity)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = x / n
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2.0 * n)) / denom
        half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    return np.atleast_1d(centre - half), np.atleast_1d(centre + half)


def newcombe_interval(
    successes_1: int,
    trials_1: int,
    successes_2: int,
    trials_2: int,
    *,
    confidence: float = 0.95,
) -> Difference:
    """The difference of two independent rates with Newcombe's hybrid score interval.

    ``p1 - p2`` with ``low = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)`` and
    ``high = d + sqrt((u1 - p1)^2 + (p2 - l2)^2)``, where ``(l, u)`` are each rate's
    Wilson interval (Newcombe 1998, "Interval estimation for the difference between
    independent proportions", method 10).

    Args:
        successes_1: The first group (treated, say).
        trials_1: The first group's size.
        successes_2: The second group (holdout).
        trials_2: The second group's size.
        confidence: The coverage, 0.95 by default.

    Returns:
        NaN parts when a group is empty.

    Example:
        Newcombe's (1998) first example, 56/70 against 48/80:

        >>> d = newcombe_interval(56, 70, 48, 80)
        >>> round(d.difference, 4), round(d.low, 4), round(d.high, 4)
        (0.2, 0.0524, 0.3339)
    """
    low, high = wilson_interval(
        [successes_1, successes_2], [trials_1, trials_2], confidence=confidence
    )
    x = np.array([successes_1, successes_2], dtype=np.float64)
    n = np.array([trials_1, trials_2], dtype=np.float64)
    if (n == 0).any():
        return Difference(difference=math.nan, low=math.nan, high=math.nan, confidence=confidence)
    p = x / n
    d = float(p[0] - p[1])
    lo = d - math.sqrt((p[0] - low[0]) ** 2 + (high[1] - p[1]) ** 2)
    hi = d + math.sqrt((high[0] - p[0]) ** 2 + (p[1] - low[1]) ** 2)
    return Difference(difference=d, low=float(lo), high=float(hi), confidence=confidence)


def welch_interval(
    mean_1: float,
    variance_1: float,
    n_1: int,
    mean_2: float,
    variance_2: float,
    n_2: int,
    *,
    confidence: float = 0.95,
) -> Difference:
    """The difference of two means with Welch's interval (unequal variances).

    ``m1 - m2 +- t * sqrt(v1/n1 + v2/n2)`` with ``t`` the Student quantile at the
    Welch-Satterthwaite degrees of freedom. ``variance`` is the sample variance
    (``ddof=1``). NaN when a group has fewer than two members or both variances are 0.

    Args:
        mean_1: The first group's mean.
        variance_1: The first group's sample variance.
        n_1: The first group's size.
        mean_2: The second group's mean.
        variance_2: The second group's sample variance.
        n_2: The second group's size.
        confidence: The coverage, 0.95 by default.

    Returns:
        Difference

    Example:
        >>> d = welch_interval(10.0, 4.0, 50, 8.0, 9.0, 40)
        >>> round(d.difference, 2), round(d.low, 3), round(d.high, 3)
        (2.0, 0.897, 3.103)
    """
    entity = "welch_interval"
    _z(confidence, entity)
    for name, size in (("n_1", n_1), ("n_2", n_2)):
        if size < 0:
            raise ValidationError("must not be negative", entity=entity, field=name, value=size)
    diff = float(mean_1 - mean_2) if n_1 and n_2 else math.nan
    if n_1 < 2 or n_2 < 2:
        return Difference(difference=diff, low=math.nan, high=math.nan, confidence=confidence)
    a = variance_1 / n_1
    b = variance_2 / n_2
    se2 = a + b
    if se2 <= 0.0:
        return Difference(difference=diff, low=math.nan, high=math.nan, confidence=confidence)
    df = se2 * se2 / (a * a / (n_1 - 1) + b * b / (n_2 - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df)) * math.sqrt(se2)
    return Difference(difference=diff, low=diff - half, high=diff + half, confidence=confidence)


def prob_best(
    successes: Sequence[int] | ArrayLike,
    trials: Sequence[int] | ArrayLike,
    *,
    prior: tuple[float, float] = (1.0, 1.0),
) -> NDArray[np.float64]:
    """Per variant, the posterior probability that its conversion rate is the highest.

    Each variant's rate has the posterior ``Beta(a + successes, b + trials - successes)``
    from the prior ``Beta(a, b)`` (default ``(1, 1)``: uniform, every rate equally
    likely before data). The probability that variant ``k`` is best is
    ``E[prod_{j != k} F_j(p_k)]`` over ``p_k`` from its own posterior, computed by the
    midpoint rule over 4,096 of its quantiles (deterministic; no random draws). The
    results sum to 1 up to about 1e-4.

    Args:
        successes: Per variant (two or more), counts.
        trials: The trials of each (same shape as ``successes``).
        prior: The Beta prior's ``(a, b)``, both positive.

    Returns:
        float64, one per variant.

    Example:
        >>> [round(float(p), 3) for p in prob_best([50, 65], [1000, 1000])]
        [0.076, 0.924]
    """
    entity = "prob_best"
    x, n = _counts(successes, trials, entity)
    x = x.reshape(-1)
    n = n.reshape(-1)
    if len(x) < 2:
        raise ValidationError("needs two or more variants", entity=entity, field="successes",
                              value=len(x))  # fmt: skip
    a0, b0 = (float(v) for v in prior)
    if not (a0 > 0 and b0 > 0 and math.isfinite(a0) and math.isfinite(b0)):
        raise ValidationError("must be two positive numbers", entity=entity, field="prior",
                              value=prior)  # fmt: skip
    a = a0 + x
    b = b0 + n - x
    u = (np.arange(_NODES, dtype=np.float64) + 0.5) / _NODES
    out = np.empty(len(x), dtype=np.float64)
    for k in range(len(x)):
        points = special.betaincinv(a[k], b[k], u)  # variant k's quantiles
        log_others = np.zeros_like(points)
        for j in range(len(x)):
            if j != k:
                with np.errstate(divide="ignore"):
                    log_others += np.log(special.betainc(a[j], b[j], points))
        out[k] = float(np.exp(log_others).mean())
    return out
