"""The per-partition functions: one pandas partition of transactions in, a pandas frame out.

They only wrap ``ecomcrm.metrics``' array functions, so any engine that can hand a function
one partition of whole customers (Dask here, Spark's ``mapInPandas``, Ray, a loop over
files) gets the single-machine numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from ecomcrm.dask._partitions import ROW_BITS
from ecomcrm.errors import ValidationError
from ecomcrm.metrics import calibration_and_holdout, customer_summary
from ecomcrm.metrics._nan_policy import NanPolicy
from ecomcrm.metrics._summary import AfterEnd, Refunds, SummaryFreq

SUMMARY_COLUMNS = (
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "first_purchase",
    "last_purchase",
    "n_orders",
    "total_spent",
)
"""Columns of :func:`summary_partition`'s frames (the arrays of ``CustomerSummary``)."""


@contextmanager
def located(frame: Any, nan_policy: str) -> Iterator[None]:
    """Re-raise a ValidationError with the input partition and row of the offending row."""
    try:
        yield
    except ValidationError as exc:
        row = exc.row
        if row is None or nan_policy != "raise" or "_row" not in frame or row >= len(frame):
            raise
        raw = int(frame["_row"].iat[row])
        part, within = raw >> ROW_BITS, raw & ((1 << ROW_BITS) - 1)
        kwargs: dict[str, Any] = {"entity": exc.entity, "field": exc.field, "row": within}
        if exc.has_value:
            kwargs["value"] = exc.value
        raise ValidationError(f"{exc.message} (input partition {part})", **kwargs) from exc


def _inputs(frame: Any) -> tuple[Any, Any, Any]:
    return (
        frame["customer_id"].to_numpy(),
        frame["timestamp"].to_numpy(dtype="datetime64[us]"),
        frame["amount"].to_numpy(dtype=np.float64),
    )


def _frame(arrays: dict[str, Any], id_dtype: Any) -> Any:
    out = pd.DataFrame(arrays)
    return out.astype({"customer_id": id_dtype})


def summary_partition(
    frame: Any,
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
    """:func:`ecomcrm.metrics.customer_summary` of one partition, as a pandas DataFrame.

    ``frame`` has the columns ``customer_id``, ``timestamp`` and ``amount`` and holds every
    transaction of its customers. The result has the :data:`SUMMARY_COLUMNS`, one row per
    customer sorted by id; the options mean what they mean for ``customer_summary``.

    Example:
        >>> import pandas as pd
        >>> from ecomcrm.dask import summary_partition
        >>> part = pd.DataFrame({"customer_id": [3, 3], "amount": [1.0, 2.0],
        ...                      "timestamp": pd.to_datetime(["2024-01-01", "2024-01-05"])})
        >>> summary_partition(part, observation_end="2024-01-10")[["frequency", "T"]].values.tolist()
        [[1.0, 9.0]]
    """
    ids, ts, amt = _inputs(frame)
    with located(frame, nan_policy):
        s = customer_summary(
            ids,
            ts,
            amt,
            observation_end=observation_end,
            freq=freq,
            freq_multiplier=freq_multiplier,
            include_first_transaction=include_first_transaction,
            tz=tz,
            after_end=after_end,
            refunds=refunds,
            nan_policy=nan_policy,
        )
    return _frame(s.to_dict(), frame["customer_id"].dtype)[list(SUMMARY_COLUMNS)]


CALIBRATION_COLUMNS = (
    "customer_id",
    "frequency_cal",
    "recency_cal",
    "T_cal",
    "monetary_value_cal",
    "frequency_holdout",
    "monetary_value_holdout",
    "duration_holdout",
)
"""Columns of :func:`calibration_partition`'s frames."""


def calibration_partition(
    frame: Any,
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
    """:func:`ecomcrm.metrics.calibration_and_holdout` of one partition, as a DataFrame.

    Example:
        >>> import pandas as pd
        >>> from ecomcrm.dask import calibration_partition
        >>> part = pd.DataFrame({"customer_id": [3, 3], "amount": [1.0, 2.0],
        ...                      "timestamp": pd.to_datetime(["2024-01-01", "2024-01-15"])})
        >>> ch = calibration_partition(part, calibration_end="2024-01-10", observation_end="2024-01-31")
        >>> ch[["frequency_cal", "frequency_holdout", "duration_holdout"]].values.tolist()
        [[0.0, 1.0, 21.0]]
    """
    ids, ts, amt = _inputs(frame)
    with located(frame, nan_policy):
        ch = calibration_and_holdout(
            ids,
            ts,
            amt,
            calibration_end=calibration_end,
            observation_end=observation_end,
            freq=freq,
            freq_multiplier=freq_multiplier,
            include_first_transaction=include_first_transaction,
            tz=tz,
            after_end=after_end,
            refunds=refunds,
            nan_policy=nan_policy,
        )
    return _frame(ch.to_dict(), frame["customer_id"].dtype)[list(CALIBRATION_COLUMNS)]
