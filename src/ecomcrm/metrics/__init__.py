"""Vectorized customer metrics: arrays in, arrays out.

Transaction summaries with lifetimes' conventions, RFM scores and segments, value, retention
and cohorts, conversion funnels and cart abandonment, NPS, attribution windows (orders to
the messages before them, goals after entries) and lift statistics (Wilson/Newcombe and
Welch intervals, the posterior probability that a variant is best). Every function takes
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

from ecomcrm.metrics._attribution import (
    first_conversion,
    last_touch,
    window_totals,
)
from ecomcrm.metrics._funnel import (
    DEFAULT_FUNNEL_STEPS,
    CartAbandonment,
    Funnel,
    cart_abandonment,
    conversion_funnel,
)
from ecomcrm.metrics._lift import (
    Difference,
    newcombe_interval,
    prob_best,
    welch_interval,
    wilson_interval,
)
from ecomcrm.metrics._nan_policy import (
    NAN_POLICY_DOC,
    NanPolicy,
)
from ecomcrm.metrics._nps import (
    NPSResult,
    nps,
    nps_labels,
)
from ecomcrm.metrics._retention import (
    CohortTable,
    InterPurchaseTimes,
    NextPurchase,
    RetentionTable,
    churn_rate,
    cohort_retention,
    expected_next_purchase,
    inter_purchase_times,
    repeat_purchase_rate,
    retention_rate,
    retention_table,
)
from ecomcrm.metrics._rfm import (
    DEFAULT_SEGMENT_RULES,
    RFMScores,
    SegmentRule,
    rfm_scores,
    rfm_segments,
)
from ecomcrm.metrics._summary import (
    CalibrationHoldout,
    CustomerSummary,
    calibration_and_holdout,
    customer_summary,
)
from ecomcrm.metrics._value import (
    CustomerValue,
    SimpleCLV,
    average_order_value,
    historical_clv,
    purchase_frequency,
    simple_clv,
)

__all__ = [
    "DEFAULT_FUNNEL_STEPS",
    "DEFAULT_SEGMENT_RULES",
    "NAN_POLICY_DOC",
    "CalibrationHoldout",
    "CartAbandonment",
    "CohortTable",
    "CustomerSummary",
    "CustomerValue",
    "Difference",
    "Funnel",
    "InterPurchaseTimes",
    "NPSResult",
    "NanPolicy",
    "NextPurchase",
    "RFMScores",
    "RetentionTable",
    "SegmentRule",
    "SimpleCLV",
    "average_order_value",
    "calibration_and_holdout",
    "cart_abandonment",
    "churn_rate",
    "cohort_retention",
    "conversion_funnel",
    "customer_summary",
    "expected_next_purchase",
    "first_conversion",
    "historical_clv",
    "inter_purchase_times",
    "last_touch",
    "newcombe_interval",
    "nps",
    "nps_labels",
    "prob_best",
    "purchase_frequency",
    "repeat_purchase_rate",
    "retention_rate",
    "retention_table",
    "rfm_scores",
    "rfm_segments",
    "simple_clv",
    "welch_interval",
    "wilson_interval",
    "window_totals",
]
