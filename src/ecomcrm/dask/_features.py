"""The per-customer feature rows in one pass: summary, RFM and model columns side by side."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ecomcrm.dask._rfm import RFMBoundaries, rfm_boundaries, rfm_partition
from ecomcrm.dask._score import score_partition


def features_partition(
    frame: Any,
    boundaries: RFMBoundaries,
    purchase: Any,
    spend: Any = None,
    *,
    monetary: str = "monetary_value",
    model_period: str | float = "D",
    horizon_months: int = 12,
    discount_rate: float = 0.01,
) -> Any:
    """One partition of summaries with its RFM and model columns appended (same rows).

    The columns of ``frame``, then those of :func:`rfm_partition` and
    :func:`score_partition` (without repeating ``customer_id``).

    Example:
        >>> import numpy as np, pandas as pd
        >>> from ecomcrm.dask import RFMBoundaries, features_partition
        >>> from ecomcrm.predict import BetaGeo
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> h = {d: (np.array([0.0, 4.0]), np.array([1, 1])) for d in ("recency", "frequency", "monetary")}
        >>> part = pd.DataFrame({"customer_id": [7], "T": [6.0], "recency": [4.0],
        ...                      "frequency": [4.0], "monetary_value": [4.0]})
        >>> row = features_partition(part, RFMBoundaries.from_histogram(h, bins=2), bg, model_period="W")
        >>> row[["rfm_code", "churn_risk"]].values.tolist()
        [[222, 'low']]
    """
    rfm = rfm_partition(frame, boundaries, monetary=monetary)
    scores = score_partition(
        frame,
        purchase,
        spend,
        model_period=model_period,
        horizon_months=horizon_months,
        discount_rate=discount_rate,
    )
    base = frame.reset_index(drop=True)
    return pd.concat(
        [base, rfm.drop(columns="customer_id"), scores.drop(columns="customer_id")], axis=1
    )


def customer_features(
    summary: Any,
    purchase: Any,
    spend: Any = None,
    *,
    boundaries: RFMBoundaries | None = None,
    bins: int = 5,
    monetary: str = "monetary_value",
    model_period: str | float = "D",
    horizon_months: int = 12,
    discount_rate: float = 0.01,
) -> Any:
    """Summaries with RFM scores and model scores, per partition, without a join.

    ``boundaries`` default to :func:`rfm_boundaries` of ``summary`` (computed now). The
    result (lazy) is ready for :func:`segment_masks` and :func:`write_parquet`; merging
    :func:`rfm_scores` and :func:`score_customers` on ``customer_id`` gives the same rows
    but shuffles both again.

    Example:
        >>> import dask, dask.dataframe as dd, pandas as pd
        >>> from ecomcrm.dask import customer_features
        >>> from ecomcrm.predict import BetaGeo
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> s = dd.from_pandas(pd.DataFrame({"customer_id": [1, 2], "frequency": [2.0, 0.0],
        ...     "recency": [30.43, 0.0], "T": [38.86, 38.86], "monetary_value": [22.35, 0.0]}), npartitions=2)
        >>> with dask.config.set(scheduler="synchronous"):
        ...     f = customer_features(s, bg, model_period="W").compute()
        >>> f[["customer_id", "rfm_code", "churn_risk"]].values.tolist()
        [[1, 333, 'low'], [2, 111, 'low']]
    """
    if boundaries is None:
        boundaries = rfm_boundaries(summary, bins=bins, monetary=monetary)
    options: dict[str, Any] = {
        "monetary": monetary,
        "model_period": model_period,
        "horizon_months": horizon_months,
        "discount_rate": discount_rate,
    }
    meta = features_partition(summary._meta, boundaries, purchase, spend, **options)
    return summary.map_partitions(
        features_partition,
        boundaries,
        purchase,
        spend,
        meta=meta,
        clear_divisions=True,
        **options,
    )
