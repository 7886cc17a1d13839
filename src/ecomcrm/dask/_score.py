"""Scores (P(alive), expected purchases, CLV, churn risk) and segment masks per partition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ecomcrm.errors import ValidationError
from ecomcrm.predict import churn_risk_labels, period_days
from ecomcrm.segments import FeatureTable, compile_expression

SCORE_COLUMNS = ("customer_id", "p_alive", "predicted_purchases", "predicted_clv", "churn_risk")
"""Columns of :func:`score_partition`'s frames (the feature table's model columns)."""


def score_partition(
    frame: Any,
    purchase: Any,
    spend: Any = None,
    *,
    model_period: str | float = "D",
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    churn_thresholds: Sequence[float] = (0.3, 0.7),
    churn_labels: Sequence[str] = ("high", "medium", "low"),
) -> Any:
    """Score one partition of summaries with fitted models, as the feature table does.

    ``p_alive`` is ``purchase.conditional_probability_alive``; ``predicted_purchases`` the
    expected purchases over ``horizon_months`` months (30.4375 days each, in model
    periods); ``predicted_clv`` ``spend.customer_lifetime_value`` over the horizon with a
    monthly ``discount_rate`` (NaN without ``spend``, and for repeat buyers outside the
    Gamma-Gamma support); ``churn_risk`` :func:`ecomcrm.predict.churn_risk_labels` of
    ``p_alive``. ``model_period`` is the period of the summaries' ``freq`` ("D", "W",
    "M" or days).

    Example:
        >>> import pandas as pd
        >>> from ecomcrm.dask import score_partition
        >>> from ecomcrm.predict import BetaGeo
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> part = pd.DataFrame({"customer_id": [1], "frequency": [2.0], "recency": [30.43],
        ...                      "T": [38.86], "monetary_value": [22.35]})
        >>> score_partition(part, bg, model_period="W")["churn_risk"].tolist()
        ['low']
    """
    x = frame["frequency"].to_numpy(dtype=np.float64)
    tx = frame["recency"].to_numpy(dtype=np.float64)
    t = frame["T"].to_numpy(dtype=np.float64)
    n = len(x)
    horizon = horizon_months * 30.4375 / period_days(model_period, field="model_period")
    if n:
        p_alive = purchase.conditional_probability_alive(x, tx, t)
        purchases = purchase.conditional_expected_purchases(horizon, x, tx, t)
        labels = churn_risk_labels(p_alive, thresholds=churn_thresholds, labels=churn_labels)
    else:
        p_alive, purchases, labels = np.empty(0), np.empty(0), np.empty(0, dtype=object)
    clv = np.full(n, np.nan)
    if spend is not None and n:
        mv = frame["monetary_value"].to_numpy(dtype=np.float64)
        clv = spend.customer_lifetime_value(
            purchase,
            x,
            tx,
            t,
            np.where(x > 0, mv, 0.0),
            model_period=model_period,
            horizon=horizon_months,
            horizon_period="month",
            discount_rate=discount_rate,
            zero_spend="nan",
        )
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "p_alive": np.asarray(p_alive, dtype=np.float64),
            "predicted_purchases": np.asarray(purchases, dtype=np.float64),
            "predicted_clv": np.asarray(clv, dtype=np.float64),
            "churn_risk": pd.Series(np.asarray(labels, dtype=object), dtype="string"),
        }
    ).astype({"customer_id": frame["customer_id"].dtype})


def score_customers(
    summary: Any,
    purchase: Any,
    spend: Any = None,
    *,
    model_period: str | float = "D",
    horizon_months: int = 12,
    discount_rate: float = 0.01,
    churn_thresholds: Sequence[float] = (0.3, 0.7),
    churn_labels: Sequence[str] = ("high", "medium", "low"),
) -> Any:
    """:func:`score_partition` of every partition of ``summary`` (lazy dask DataFrame).

    The fitted models travel to the workers once per task (a few parameters each).

    Example:
        >>> import dask, dask.dataframe as dd, pandas as pd
        >>> from ecomcrm.dask import score_customers
        >>> from ecomcrm.predict import BetaGeo
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> s = dd.from_pandas(pd.DataFrame({"customer_id": [1, 2], "frequency": [2.0, 0.0],
        ...     "recency": [30.43, 0.0], "T": [38.86, 38.86], "monetary_value": [22.35, 0.0]}), npartitions=2)
        >>> with dask.config.set(scheduler="synchronous"):
        ...     score_customers(s, bg, model_period="W").compute()["p_alive"].round(3).tolist()
        [0.727, 1.0]
    """
    options: dict[str, Any] = {
        "model_period": model_period,
        "horizon_months": horizon_months,
        "discount_rate": discount_rate,
        "churn_thresholds": tuple(churn_thresholds),
        "churn_labels": tuple(churn_labels),
    }
    meta = score_partition(summary._meta, purchase, spend, **options)
    return summary.map_partitions(
        score_partition, purchase, spend, meta=meta, clear_divisions=True, **options
    )


def _field_type(dtype: Any) -> str | None:
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "duration"
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        return "string"
    return None


def infer_schema(frame: Any) -> dict[str, str]:
    """The condition-language schema of a frame's columns, from their dtypes."""
    schema: dict[str, str] = {}
    for name, dtype in frame.dtypes.items():
        kind = _field_type(dtype)
        if kind is not None and name != "customer_id":
            schema[str(name)] = kind
    return schema


def _table(frame: Any, fields: Sequence[str], schema: Mapping[str, str]) -> FeatureTable:
    columns: dict[str, Any] = {}
    for name in fields:
        values = frame[name]
        if schema[name] in ("string", "category"):
            columns[name] = values.astype(object).where(values.notna(), None).to_numpy()
        elif schema[name] == "datetime":
            columns[name] = values.to_numpy(dtype="datetime64[us]")
        else:
            columns[name] = values.to_numpy()
    return FeatureTable(frame["customer_id"].to_numpy(), columns, {f: schema[f] for f in fields})


def segment_partition(
    frame: Any,
    expressions: Mapping[str, str],
    schema: Mapping[str, str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> Any:
    """Evaluate condition-language expressions over one partition of per-customer rows.

    Returns ``customer_id`` and one boolean column per expression name, what
    ``compile_expression(text, schema).mask(table)`` gives over a
    :class:`~ecomcrm.segments.FeatureTable` of the frame's columns. ``schema`` maps
    column names to field types (default: from the dtypes: float "number", int
    "integer", bool "bool", datetime "datetime", text "string").

    Example:
        >>> import pandas as pd
        >>> from ecomcrm.dask import segment_partition
        >>> part = pd.DataFrame({"customer_id": [1, 2], "p_alive": [0.9, 0.2], "rfm_segment": ["Lost", None]})
        >>> segment_partition(part, {"keep": "p_alive > 0.5", "lost": "rfm_segment == 'Lost'"}).values.tolist()
        [[1, True, True], [2, False, False]]
    """
    full = dict(schema) if schema is not None else infer_schema(frame)
    masks: dict[str, Any] = {"customer_id": frame["customer_id"].to_numpy()}
    compiled = {name: compile_expression(text, full) for name, text in expressions.items()}
    fields = sorted({f for expr in compiled.values() for f in expr.fields})
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise ValidationError("column not in the frame", entity="segment_masks", field=missing[0])
    table = _table(frame, fields, full)
    for name, expr in compiled.items():
        masks[name] = expr.mask(table, now)
    out = pd.DataFrame(masks, columns=["customer_id", *compiled])
    return out.astype({"customer_id": frame["customer_id"].dtype, **dict.fromkeys(compiled, bool)})


def segment_masks(
    frame: Any,
    expressions: Mapping[str, str],
    schema: Mapping[str, str] | None = None,
    *,
    now: dt.datetime | None = None,
) -> Any:
    """:func:`segment_partition` of every partition (lazy dask DataFrame of booleans).

    The expressions are compiled on the client first, so a syntax or type error is raised
    at once (an ``ExpressionError`` with its position), not inside a task.

    Example:
        >>> import dask, dask.dataframe as dd, pandas as pd
        >>> from ecomcrm.dask import segment_masks
        >>> f = dd.from_pandas(pd.DataFrame({"customer_id": [1, 2], "total_spent": [5.0, 500.0]}), npartitions=2)
        >>> with dask.config.set(scheduler="synchronous"):
        ...     segment_masks(f, {"big": "total_spent >= 100"}).compute()["big"].tolist()
        [False, True]
    """
    full = dict(schema) if schema is not None else infer_schema(frame._meta)
    for text in expressions.values():
        compile_expression(text, full)
    exprs = dict(expressions)
    meta = segment_partition(frame._meta, exprs, full, now=now)
    return frame.map_partitions(
        segment_partition, exprs, full, now=now, meta=meta, clear_divisions=True
    )
