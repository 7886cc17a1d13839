"""DataFrame interop at the edge: pandas, polars and Arrow in and out, none of them required.

ecomcrm computes on numpy arrays. This thin layer turns its results (customer summaries,
RFM scores, predictions, feature tables, or any mapping of arrays) into a frame, and reads
columns out of a frame, converting dates to ``datetime64[us]`` in UTC. Output columns use
the names lifetimes and pymc-marketing use (``customer_id``, ``frequency``, ``recency``,
``T``, ``monetary_value``) and come first. The frame libraries are imported only when
asked for; a missing one raises :class:`~ecomcrm.errors.ConfigurationError` with the
install command. Arrow input also works through the Arrow PyCapsule interface
(``__arrow_c_stream__``), so any Arrow-compatible frame is accepted when pyarrow is present.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.errors import ConfigurationError, ValidationError

Backend = Literal["pandas", "polars", "pyarrow"]

LIFETIMES_COLUMNS: tuple[str, ...] = ("customer_id", "frequency", "recency", "T", "monetary_value")
"""The summary columns in lifetimes' and pymc-marketing's names, in their order."""

_EXTRAS = {"pandas": "ecomcrm[pandas]", "polars": "ecomcrm[polars]", "pyarrow": "pyarrow"}


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigurationError(
            f"needs {module}, which is not installed: pip install '{_EXTRAS[module]}'",
            field="backend",
            value=module,
        ) from None


def _decode_strings(column: Any) -> NDArray[np.object_]:
    vocab = np.asarray([*column.vocabulary, None], dtype=object)
    codes = np.asarray(column.codes)
    out: NDArray[np.object_] = vocab[np.where(codes < 0, len(vocab) - 1, codes)]
    return out


def _decode_tags(column: Any) -> NDArray[np.object_]:
    vocab = np.asarray(column.vocabulary, dtype=object)
    values = vocab[np.asarray(column.codes)] if len(vocab) else np.empty(0, dtype=object)
    parts = np.split(values, np.asarray(column.indptr)[1:-1])
    out = np.empty(len(parts), dtype=object)
    out[:] = [list(p) for p in parts]
    return out


def _column_array(value: Any) -> NDArray[Any] | None:
    if hasattr(value, "vocabulary") and hasattr(value, "indptr"):
        return _decode_tags(value)
    if hasattr(value, "vocabulary") and hasattr(value, "codes"):
        return _decode_strings(value)
    if isinstance(value, np.ndarray):
        return value
    return None


def to_columns(result: Any) -> dict[str, NDArray[Any]]:
    """The 1-D columns of a result, lifetimes' names first.

    Accepts a mapping of array-likes, an attrs result whose fields include equal-length
    1-D arrays (scalar fields such as ``observation_end`` are left out), or a feature
    table (``ids``, ``names``, ``column(name)``; string and tag columns are decoded).

    Example:
        >>> import numpy as np
        >>> cols = to_columns({"T": [3.0], "customer_id": ["a"], "frequency": [1.0]})
        >>> list(cols)
        ['customer_id', 'frequency', 'T']
    """
    columns: dict[str, NDArray[Any]] = {}
    if isinstance(result, Mapping):
        for name, values in result.items():
            array = _column_array(values)
            columns[str(name)] = array if array is not None else np.asarray(values)
    elif hasattr(result, "ids") and hasattr(result, "names") and hasattr(result, "column"):
        columns["customer_id"] = np.asarray(result.ids)
        for name in result.names:
            array = _column_array(result.column(name))
            if array is None:  # pragma: no cover - every feature column kind is handled above
                raise ValidationError("has an unknown column type", field=name)
            columns[name] = array
    elif attrs.has(type(result)):
        for field in attrs.fields(type(result)):
            value = getattr(result, field.name)
            if isinstance(value, np.ndarray) and value.ndim == 1:
                columns[field.name] = value
        if not columns:
            raise ValidationError(
                "has no array fields to make columns of", entity=type(result).__name__
            )
        n = max(len(v) for v in columns.values())
        columns = {k: v for k, v in columns.items() if len(v) == n}
    else:
        raise ValidationError(
            "must be a mapping of arrays, a result object or a feature table",
            field="result",
            value=type(result).__name__,
        )
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValidationError("columns must all have the same length", field="result",
                              value={k: len(v) for k, v in columns.items()})  # fmt: skip
    first = [c for c in LIFETIMES_COLUMNS if c in columns]
    return {
        **{c: columns[c] for c in first},
        **{k: v for k, v in columns.items() if k not in first},
    }


def to_frame(result: Any, *, backend: Backend = "pandas") -> Any:
    """A pandas, polars or pyarrow frame of a result (see :func:`to_columns`).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import customer_summary
        >>> s = customer_summary([1, 1, 2], np.array(["2024-01-01", "2024-01-08", "2024-01-02"], "M8[us]"),
        ...                      [5.0, 7.0, 3.0], observation_end=np.datetime64("2024-01-31"))
        >>> frame = to_frame(s)
        >>> list(frame.columns[:5])
        ['customer_id', 'frequency', 'recency', 'T', 'monetary_value']
        >>> frame["frequency"].tolist()
        [1.0, 0.0]
    """
    columns = to_columns(result)
    if backend == "pandas":
        pd = _require("pandas")
        return pd.DataFrame(columns)
    if backend == "polars":
        pl = _require("polars")
        return pl.DataFrame(
            {k: (v.tolist() if v.dtype == object else v) for k, v in columns.items()}
        )
    if backend == "pyarrow":
        pa = _require("pyarrow")
        return pa.table({k: (v.tolist() if v.dtype == object else v) for k, v in columns.items()})
    raise ValidationError("must be pandas, polars or pyarrow", field="backend", value=backend)


def _normalise(values: Any) -> NDArray[Any]:
    array = np.asarray(values)
    if np.issubdtype(array.dtype, np.datetime64):
        return array.astype("datetime64[us]")
    if array.dtype == object and len(array) and isinstance(array[0], datetime):
        return np.asarray(
            [None if v is None else _utc_naive(v) for v in array], dtype="datetime64[us]"
        )
    return array


def _utc_naive(value: datetime) -> np.datetime64:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(value, "us")


def _pandas_column(series: Any) -> NDArray[Any]:
    dtype = series.dtype
    if getattr(dtype, "tz", None) is not None:  # tz-aware datetimes: to UTC, drop the zone
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    values = series.to_numpy()
    return _normalise(values)


def from_frame(frame: Any, columns: Sequence[str] | None = None) -> dict[str, NDArray[Any]]:
    """Columns of a pandas/polars/pyarrow frame (or a mapping) as numpy arrays.

    Dates become ``datetime64[us]`` in UTC (aware ones are converted, naive ones are taken
    as UTC). ``columns`` selects and orders the columns; a missing one raises
    ValidationError naming it and the frame's columns. Objects exposing the Arrow
    PyCapsule stream interface are read through pyarrow.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"id": [1, 2], "when": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True)})
        >>> cols = from_frame(df, ["id", "when"])
        >>> cols["when"].dtype, cols["id"].tolist()
        (dtype('<M8[us]'), [1, 2])
    """
    module = type(frame).__module__.split(".")[0]
    names: list[str]
    if isinstance(frame, Mapping):
        names = [str(n) for n in frame]

        def get(name: str) -> NDArray[Any]:
            return _normalise(frame[name])

    elif module == "pandas":
        names = [str(c) for c in frame.columns]

        def get(name: str) -> NDArray[Any]:
            return _pandas_column(frame[name])

    elif module == "polars":
        names = list(frame.columns)

        def get(name: str) -> NDArray[Any]:
            return _normalise(frame.get_column(name).to_numpy())

    elif module == "pyarrow" or hasattr(frame, "__arrow_c_stream__"):
        pa = _require("pyarrow")
        table = frame if module == "pyarrow" else pa.table(frame)
        names = list(table.column_names)

        def get(name: str) -> NDArray[Any]:
            column = table.column(name)
            if pa.types.is_timestamp(column.type) and column.type.tz is not None:
                column = column.cast(pa.timestamp("us"))
            return _normalise(column.to_numpy(zero_copy_only=False))

    else:
        raise ValidationError(
            "must be a pandas, polars or pyarrow frame, an Arrow stream, or a mapping",
            field="frame",
            value=type(frame).__name__,
        )
    wanted = list(columns) if columns is not None else names
    missing = [c for c in wanted if c not in names]
    if missing:
        raise ValidationError(
            f"not in the frame (it has: {', '.join(names)})", field="columns", value=missing
        )
    return {name: get(name) for name in wanted}


def _backend_of(frame: Any) -> Backend:
    module = type(frame).__module__.split(".")[0]
    if module in ("polars", "pyarrow"):
        return module  # type: ignore[return-value]
    return "pandas"


def summary_frame(
    transactions: Any,
    *,
    customer_id_col: str = "customer_id",
    datetime_col: str = "date",
    monetary_value_col: str | None = None,
    observation_end: Any,
    freq: str = "D",
    backend: Backend | None = None,
    **options: Any,
) -> Any:
    """Lifetimes' ``summary_data_from_transaction_data`` on a frame, returning a frame.

    Reads the id, date and (optional) amount columns, runs
    :func:`ecomcrm.metrics.customer_summary` and returns a frame (of the input's kind
    unless ``backend`` says otherwise) with ``customer_id, frequency, recency, T`` and,
    with amounts, ``monetary_value`` first. Extra keyword arguments go to
    ``customer_summary`` (``freq_multiplier``, ``include_first_transaction``...).

    Example:
        >>> import pandas as pd, numpy as np
        >>> tx = pd.DataFrame({"customer_id": ["a", "a", "b"],
        ...                    "date": pd.to_datetime(["2024-01-01", "2024-01-11", "2024-01-05"]),
        ...                    "amount": [10.0, 30.0, 5.0]})
        >>> out = summary_frame(tx, monetary_value_col="amount", observation_end=np.datetime64("2024-01-31"))
        >>> out[["customer_id", "frequency", "recency", "T", "monetary_value"]].values.tolist()
        [['a', 1.0, 10.0, 30.0, 30.0], ['b', 0.0, 0.0, 26.0, 0.0]]
    """
    from ecomcrm.metrics import customer_summary

    wanted = [customer_id_col, datetime_col] + ([monetary_value_col] if monetary_value_col else [])
    cols = from_frame(transactions, wanted)
    amount = cols[monetary_value_col] if monetary_value_col else None
    summary = customer_summary(
        cols[customer_id_col],
        cols[datetime_col],
        None if amount is None else amount.astype(np.float64),
        observation_end=observation_end,
        freq=freq,  # type: ignore[arg-type]
        **options,
    )
    columns = to_columns(summary)
    if monetary_value_col is None:
        columns.pop("monetary_value", None)
    return to_frame(columns, backend=backend or _backend_of(transactions))


def frame_to_feature_table(
    frame: Any,
    schema: Mapping[str, Any] | Any,
    *,
    id_column: str = "customer_id",
    columns: Iterable[str] | None = None,
) -> Any:
    """A :class:`ecomcrm.segments.FeatureTable` from a frame's columns.

    ``schema`` gives each feature's type (``"number"``, ``"category"``, ``"datetime"``...);
    the features are the schema's names (or ``columns``) and the row ids come from
    ``id_column``. Nulls (NaN, None, NaT) stay null.

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"customer_id": ["a", "b"], "spend": [120.0, None]})
        >>> table = frame_to_feature_table(df, {"spend": "number"})
        >>> table.ids.tolist(), table.to_record(1)["spend"]
        (['a', 'b'], None)
    """
    from ecomcrm.segments import FeatureTable, Schema

    full = schema if isinstance(schema, Schema) else Schema(schema)
    names = list(columns) if columns is not None else list(full)
    cols = from_frame(frame, [id_column, *names])
    values: dict[str, Any] = {}
    for name in names:
        array = cols[name]
        if array.dtype == object:
            values[name] = [None if _is_null(v) else v for v in array]
        else:
            values[name] = array
    return FeatureTable(cols[id_column], values, full)


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and NaT
    except (TypeError, ValueError):
        return False
