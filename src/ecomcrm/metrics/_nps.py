from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.metrics._nan_policy import NanPolicy, nan_policy
from ecomcrm.metrics._validate import as_1d, first_true

_LABELS = np.array(["detractor", "passive", "promoter"])


@attrs.frozen
class NPSResult:
    """Net Promoter Score and its parts.

    Attributes:
        score: ``100 * (promoters - detractors) / n``, from -100 to 100 (NaN when n = 0).
        promoters: Responses of 9 or 10.
        passives: Responses of 7 or 8.
        detractors: Responses of 0 to 6.
        n: Responses counted.

    Example:
        >>> from ecomcrm.metrics import nps
        >>> nps([10, 9, 8, 3]).score
        25.0
    """

    score: float
    promoters: int
    passives: int
    detractors: int
    n: int


def _scores(x: ArrayLike, entity: str) -> NDArray[np.int64]:
    arr = as_1d(x, entity=entity, field="scores")
    if arr.dtype.kind not in "iuf" and len(arr):
        raise ValidationError(
            "must be numbers from 0 to 10", entity=entity, field="scores", value=str(arr.dtype)
        )
    as_float = arr.astype(np.float64)
    bad = ~np.isin(as_float, np.arange(11.0))
    if bad.any():
        row = first_true(bad)
        raise ValidationError(
            "must be an integer from 0 to 10",
            entity=entity,
            field="scores",
            value=arr[row].item(),
            row=row,
        )
    return as_float.astype(np.int64)


def nps_category(s: NDArray[Any]) -> NDArray[np.int64]:
    """Each 0-10 answer's category: 0 detractor (0-6), 1 passive (7-8), 2 promoter (9-10)."""
    return np.asarray((s >= 7).astype(np.int64) + (s >= 9).astype(np.int64), dtype=np.int64)


@nan_policy("scores")
def nps(scores: ArrayLike, *, nan_policy: NanPolicy = "raise") -> NPSResult:
    """Net Promoter Score from 0-10 "how likely are you to recommend us" answers.

    Promoters answer 9-10, passives 7-8, detractors 0-6;
    ``NPS = 100 * (promoters - detractors) / responses``.

    Args:
        scores: Integer answers from 0 to 10 (floats with integral values are accepted).
        nan_policy: {nan_policy}

    Returns:
        An :class:`NPSResult`.

    Raises:
        ValidationError: An answer that is not an integer from 0 to 10 (naming its row).

    Example:
        >>> from ecomcrm.metrics import nps
        >>> r = nps([10, 10, 9, 7, 6, 0])
        >>> r.promoters, r.passives, r.detractors, round(r.score, 2)
        (3, 1, 2, 16.67)
    """
    s = _scores(scores, "nps")
    counts = np.bincount(nps_category(s), minlength=3)
    n = len(s)
    d, p, pr = (int(v) for v in counts)
    return NPSResult(
        score=100.0 * (pr - d) / n if n else float("nan"),
        promoters=pr,
        passives=p,
        detractors=d,
        n=n,
    )


@nan_policy("scores")
def nps_labels(scores: ArrayLike, *, nan_policy: NanPolicy = "raise") -> NDArray[np.str_]:
    """Label each 0-10 answer ``"promoter"`` (9-10), ``"passive"`` (7-8) or ``"detractor"``.

    Args:
        scores: Integer answers from 0 to 10.
        nan_policy: {nan_policy}

    Returns:
        One label per answer.

    Example:
        >>> from ecomcrm.metrics import nps_labels
        >>> nps_labels([10, 8, 2]).tolist()
        ['promoter', 'passive', 'detractor']
    """
    out: NDArray[np.str_] = _LABELS[nps_category(_scores(scores, "nps_labels"))]
    return out
