"""Vectorized customer metrics: arrays in, arrays out.

Transaction summaries with lifetimes' conventions, RFM scores and segments, value, retention
and cohorts, conversion funnels and cart abandonment, and NPS. Every function takes
row-aligned array-likes, never loops in Python per customer or per row, and shares one
keyword-only ``nan_policy`` ("raise" or "omit"). See ``docs/metrics.md``.

Example:
    >>> import numpy as np
    >>> from ecomcrm.metrics import customer_summary
    >>> ts = np.array(["2024-01-01", "2024-01-15", "2024-01-02"], dtype="datetime64[us]")
    >>> s = customer_summary([1, 1, 2], ts, [10.0, 20.0, 5.0],
    ...                      observation_end=np.datetime64("2024-01-31"))
    >>> s.frequency.tolist(), s.recency.tolist(), s.T.tolist()
    ([1.0, 0.0], [14.0, 0.0], [30.0, 29.0])
"""

from ecomcrm.metrics._summary import (
    CalibrationHoldout,
    CustomerSummary,
    calibration_and_holdout,
    customer_summary,
)

__all__ = [
    "CalibrationHoldout",
    "CustomerSummary",
    "calibration_and_holdout",
    "customer_summary",
]
