from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ecomcrm.errors import ValidationError
from ecomcrm.predict._base import FloatArray, as_float_array


@dataclass(frozen=True)
class HoldoutComparison:
    """Predicted vs actual purchases in a holdout period.

    Attributes:
        bucket: Calibration frequency bucket (the last one is "max_bucket or more").
        customers: Customers per bucket.
        actual: Mean actual holdout purchases per bucket.
        predicted: Mean predicted holdout purchases per bucket.
        predicted_per_customer: The per-customer predictions.
        mae: Mean absolute error per customer.
        rmse: Root mean squared error per customer.
        total_actual: Sum of actual holdout purchases.
        total_predicted: Sum of predicted holdout purchases.
        correlation: Pearson correlation of predicted and actual per customer.
    """

    bucket: FloatArray
    customers: FloatArray
    actual: FloatArray
    predicted: FloatArray
    predicted_per_customer: FloatArray
    mae: float
    rmse: float
    total_actual: float
    total_predicted: float
    correlation: float

    @property
    def total_error(self) -> float:
        """(total predicted − total actual) / total actual."""
        return (
            (self.total_predicted - self.total_actual) / self.total_actual
            if self.total_actual
            else float("nan")
        )

    def table(self) -> str:
        """A plain-text table of the buckets.

        Example:
            >>> import numpy as np
            >>> from ecomcrm.predict import BetaGeo, holdout_comparison
            >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> c = holdout_comparison(bg, [0, 1, 2], [0, 5.0, 30.0], [38.86] * 3, [0, 1, 3], 39, max_bucket=2)
            >>> print(c.table().splitlines()[0])
            frequency  customers    actual  predicted
        """
        lines = [f"{'frequency':>9}  {'customers':>9}  {'actual':>8}  {'predicted':>9}"]
        last = len(self.bucket) - 1
        for i, b in enumerate(self.bucket):
            label = f"{int(b)}+" if i == last else f"{int(b)}"
            lines.append(
                f"{label:>9}  {int(self.customers[i]):>9}  {self.actual[i]:>8.3f}  {self.predicted[i]:>9.3f}"
            )
        return "\n".join(lines)


def holdout_comparison(
    model: Any,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    holdout_frequency: ArrayLike,
    holdout_length: ArrayLike,
    *,
    max_bucket: int = 7,
) -> HoldoutComparison:
    """Compare a fitted model's holdout predictions with what customers actually did.

    Args:
        model: A fitted transaction model (BetaGeo, ModifiedBetaGeo, ParetoNBD or
            BetaGeoBetaBinom, whose time argument is then the number of holdout periods).
        frequency: Calibration-period repeat purchases.
        recency: Calibration-period recency.
        T: Calibration-period age (or opportunities for BG/BB).
        holdout_frequency: Purchases each customer made in the holdout period.
        holdout_length: Length of the holdout period (scalar or per customer), model units.
        max_bucket: Calibration frequencies at or above this are pooled in the last bucket.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.predict import BetaGeo, holdout_comparison
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> c = holdout_comparison(bg, [0, 1, 2], [0, 5.0, 30.0], [38.86] * 3, [0, 1, 3], 39)
        >>> c.customers.tolist(), round(c.total_actual, 1)
        ([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0], 4.0)
    """
    entity = "holdout_comparison"
    actual = as_float_array(holdout_frequency, entity=entity, field="holdout_frequency")
    bad = actual < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            "must not be negative",
            entity=entity,
            field="holdout_frequency",
            value=float(actual[i]),
            row=i,
        )
    if int(max_bucket) < 1:
        raise ValidationError("must be >= 1", entity=entity, field="max_bucket", value=max_bucket)
    predicted = np.asarray(
        model.conditional_expected_purchases(holdout_length, frequency, recency, T),
        dtype=np.float64,
    )
    x = np.asarray(frequency, dtype=np.float64)
    if len(actual) != len(predicted):
        raise ValidationError(
            f"has length {len(actual)} but frequency has length {len(predicted)}",
            entity=entity,
            field="holdout_frequency",
        )
    bucket_of = np.minimum(x, max_bucket).astype(np.intp)
    nb = int(max_bucket) + 1
    counts = np.bincount(bucket_of, minlength=nb).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        act = np.bincount(bucket_of, weights=actual, minlength=nb) / counts
        pred = np.bincount(bucket_of, weights=predicted, minlength=nb) / counts
    err = predicted - actual
    corr = (
        float(np.corrcoef(predicted, actual)[0, 1])
        if len(actual) > 1 and actual.std() > 0
        else float("nan")
    )
    return HoldoutComparison(
        bucket=np.arange(nb, dtype=np.float64),
        customers=counts,
        actual=act,
        predicted=pred,
        predicted_per_customer=predicted,
        mae=float(np.mean(np.abs(err))),
        rmse=float(np.sqrt(np.mean(err**2))),
        total_actual=float(actual.sum()),
        total_predicted=float(predicted.sum()),
        correlation=corr,
    )
