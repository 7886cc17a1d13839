"""Per-customer summaries over all partitions, as lazy dask DataFrames."""

from __future__ import annotations

from typing import Any

from ecomcrm.dask._partitions import CustomerPartitions
from ecomcrm.dask._per_partition import calibration_partition, summary_partition
from ecomcrm.metrics._nan_policy import NanPolicy
from ecomcrm.metrics._summary import AfterEnd, Refunds, SummaryFreq


def _per_partition(parts: CustomerPartitions, func: Any, options: dict[str, Any]) -> Any:
    meta = func(parts.frame._meta, **options)
    return parts.frame.map_partitions(func, meta=meta, clear_divisions=True, **options)


def summaries(
    parts: CustomerPartitions,
    *,
    observation_end: Any,
    freq: SummaryFreq = "D",
    freq_multiplier: float = 1.0,
    include_first_transaction: bool = False,
    tz: str | None = None,
    after_end: AfterEnd = "raise",
    refunds: Refunds = "net",
    nan_policy: NanPolicy = "raise",
) -> Any:
    """:func:`ecomcrm.metrics.customer_summary` of every customer, partition by partition.

    Returns a lazy dask DataFrame with one row per customer (the columns of
    :func:`summary_partition`); partition ``i`` holds the customers of hash bucket ``i``,
    sorted by id. Each row equals the single-machine summary's row exactly.

    Example:
        >>> import dask, pandas as pd
        >>> from ecomcrm.dask import partition_transactions, summaries
        >>> tx = pd.DataFrame({"customer_id": ["x", "x"], "amount": [5.0, 7.0],
        ...                    "timestamp": pd.to_datetime(["2024-01-01", "2024-01-04"])})
        >>> with dask.config.set(scheduler="synchronous"):
        ...     s = summaries(partition_transactions(tx, npartitions=2), observation_end="2024-01-04")
        ...     s.compute()["monetary_value"].tolist()
        [7.0]
    """
    options = {
        "observation_end": observation_end,
        "freq": freq,
        "freq_multiplier": freq_multiplier,
        "include_first_transaction": include_first_transaction,
        "tz": tz,
        "after_end": after_end,
        "refunds": refunds,
        "nan_policy": nan_policy,
    }
    return _per_partition(parts, summary_partition, options)


def calibration_holdout(
    parts: CustomerPartitions,
    *,
    calibration_end: Any,
    observation_end: Any,
    freq: SummaryFreq = "D",
    freq_multiplier: float = 1.0,
    include_first_transaction: bool = False,
    tz: str | None = None,
    after_end: AfterEnd = "raise",
    refunds: Refunds = "net",
    nan_policy: NanPolicy = "raise",
) -> Any:
    """:func:`ecomcrm.metrics.calibration_and_holdout` of every customer, per partition.

    Example:
        >>> import dask, pandas as pd
        >>> from ecomcrm.dask import calibration_holdout, partition_transactions
        >>> tx = pd.DataFrame({"customer_id": [1, 1], "amount": [5.0, 7.0],
        ...                    "timestamp": pd.to_datetime(["2024-01-01", "2024-02-04"])})
        >>> with dask.config.set(scheduler="synchronous"):
        ...     ch = calibration_holdout(partition_transactions(tx), calibration_end="2024-01-31",
        ...                              observation_end="2024-02-29").compute()
        >>> ch["frequency_holdout"].tolist()
        [1.0]
    """
    options = {
        "calibration_end": calibration_end,
        "observation_end": observation_end,
        "freq": freq,
        "freq_multiplier": freq_multiplier,
        "include_first_transaction": include_first_transaction,
        "tz": tz,
        "after_end": after_end,
        "refunds": refunds,
        "nan_policy": nan_policy,
    }
    return _per_partition(parts, calibration_partition, options)
