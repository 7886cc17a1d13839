"""Transactions in, one shuffle out: every customer's rows in the partition of their hash."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import dask.dataframe as dd
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ConfigurationError, ValidationError

ROW_BITS = 40
"""Bits of the ``_row`` column that hold the row within its input partition."""

_ENTITY = "partition_transactions"
_COLUMNS = ("customer_id", "timestamp", "amount")


def customer_bucket(customer_id: ArrayLike, npartitions: int) -> NDArray[np.int64]:
    """The partition (0..``npartitions`` - 1) of each customer id: a stable hash, modulo.

    The hash is pandas' ``hash_array`` (SipHash with a fixed key for strings, a fixed mix for
    integers): the same id gives the same bucket in every process, on every machine and in
    every run, so a customer's rows meet in one partition whatever file they came from.
    Integer ids hash as int64 and other ids as Python objects (``"7"`` and ``7`` differ).

    Example:
        >>> from ecomcrm.dask import customer_bucket
        >>> b = customer_bucket(["alice", "bob", "alice"], 4)
        >>> bool(b[0] == b[2]), bool(((b >= 0) & (b < 4)).all())
        (True, True)
    """
    if isinstance(npartitions, bool) or not isinstance(npartitions, int) or npartitions < 1:
        raise ConfigurationError(
            "must be a positive integer", field="npartitions", value=npartitions
        )
    arr = np.asarray(customer_id)
    if arr.dtype.kind in "iub":
        hashed = pd.util.hash_array(arr.astype(np.int64, copy=False))
    elif arr.dtype.kind == "f":
        hashed = pd.util.hash_array(arr)
    else:
        hashed = pd.util.hash_array(arr.astype(object, copy=False))
    return (np.asarray(hashed, dtype=np.uint64) % np.uint64(npartitions)).astype(np.int64)


@attrs.frozen
class CustomerPartitions:
    """Transactions partitioned by customer: partition ``i`` holds the customers of bucket ``i``.

    ``frame`` is a dask DataFrame with the columns ``customer_id``, ``timestamp``
    (``datetime64[us]``, UTC), ``amount`` (float64, in one currency) and ``_row`` (the input
    position: input partition ``_row >> 40``, row ``_row & (2**40 - 1)``), indexed by the
    bucket ``_bucket`` (:func:`customer_bucket`). Within a partition, rows keep their input
    order, which makes per-customer sums bit-for-bit those of the single-machine functions.
    Make one with :func:`partition_transactions`.

    Attributes:
        frame: The partitioned transactions.
        npartitions: The number of partitions (and of hash buckets).

    Example:
        >>> import pandas as pd
        >>> from ecomcrm.dask import partition_transactions
        >>> tx = pd.DataFrame({"customer_id": ["a"], "timestamp": pd.to_datetime(["2024-01-01"]),
        ...                    "amount": [1.0]})
        >>> partition_transactions(tx, npartitions=3).npartitions
        3
    """

    frame: Any
    npartitions: int


def _read(source: Any, read_options: Mapping[str, Any]) -> Any:
    if isinstance(source, dd.DataFrame):
        return source
    if isinstance(source, pd.DataFrame):
        return dd.from_pandas(source, npartitions=1, sort=False)  # type: ignore[no-untyped-call]
    if isinstance(source, str | os.PathLike):
        paths = [os.fspath(source)]
    elif isinstance(source, Sequence) and all(isinstance(p, str | os.PathLike) for p in source):
        paths = [os.fspath(p) for p in source]
    else:
        raise ValidationError(
            "must be a dask or pandas DataFrame, or a Parquet/CSV path, glob or list of them",
            entity=_ENTITY,
            field="source",
            value=type(source).__name__,
        )
    if paths and all(p.lower().endswith((".csv", ".csv.gz", ".tsv")) for p in paths):
        return dd.read_csv(paths, **read_options)
    return dd.read_parquet(paths, **read_options)


def _timestamps(values: Any, field: str) -> Any:
    series = pd.Series(values)
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        try:
            series = pd.to_datetime(series, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                f"is not an ISO 8601 timestamp ({exc})", entity=_ENTITY, field=field
            ) from exc
    if getattr(series.dtype, "tz", None) is not None:
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    return series.astype("datetime64[us]")


def _converted(
    amount: Any,
    codes: Any,
    rates: Mapping[str, float],
    field: str,
    rows: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Amounts times the rate of their currency; a row without a code gets a missing amount."""
    amt = np.asarray(amount, dtype=np.float64)
    code = pd.Series(codes, dtype=object)
    missing = code.isna().to_numpy()
    upper = code.where(missing, code.astype(str).str.strip().str.upper())
    rate = upper.map(rates).to_numpy(dtype=np.float64, na_value=np.nan)
    unknown = np.isnan(rate) & ~missing
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raw = int(rows[i])
        raise ValidationError(
            f"has no exchange rate (input partition {raw >> ROW_BITS}, "
            f"row {raw & ((1 << ROW_BITS) - 1)})",
            entity=_ENTITY,
            field=field,
            value=str(upper.iat[i]),
        )
    out: NDArray[np.float64] = amt * rate
    return out


def _normalize(
    part: Any,
    *,
    names: tuple[str, str, str],
    currency: str | None,
    rates: Mapping[str, float] | None,
    npartitions: int,
    partition_info: Mapping[str, Any] | None = None,
) -> Any:
    number = int(partition_info["number"]) if partition_info else 0
    rows = (np.int64(number) << np.int64(ROW_BITS)) + np.arange(len(part), dtype=np.int64)
    cid, ts, amt = names
    amount = np.asarray(part[amt], dtype=np.float64)
    if currency is not None:
        assert rates is not None
        amount = _converted(amount, part[currency].to_numpy(), rates, currency, rows)
    ids = part[cid].to_numpy()
    return pd.DataFrame(
        {
            "customer_id": part[cid].to_numpy(),
            "timestamp": _timestamps(part[ts].to_numpy(), ts).to_numpy(),
            "amount": amount,
            "_row": rows,
            "_bucket": customer_bucket(ids, npartitions),
        }
    ).astype({"customer_id": part[cid].dtype})


def _rate_table(to_currency: str | None, rates: Mapping[str, float] | None) -> dict[str, float]:
    if to_currency is None:
        raise ConfigurationError(
            "is needed with a currency column: the currency the amounts are converted to",
            field="to_currency",
        )
    target = to_currency.strip().upper()
    table = {target: 1.0}
    for code, rate in (rates or {}).items():
        value = float(rate)
        if not np.isfinite(value) or value <= 0:
            raise ConfigurationError(
                "exchange rates must be finite and positive", field="rates", value={code: rate}
            )
        table.setdefault(code.strip().upper(), value)
    return table


def _sorted_by_row(part: Any) -> Any:
    return part.sort_values("_row", kind="stable")


def partition_transactions(
    source: Any,
    *,
    npartitions: int | None = None,
    customer_id: str = "customer_id",
    timestamp: str = "timestamp",
    amount: str = "amount",
    currency: str | None = None,
    to_currency: str | None = None,
    rates: Mapping[str, float] | None = None,
    read_options: Mapping[str, Any] | None = None,
) -> CustomerPartitions:
    """Read transactions and shuffle them once so that each customer sits in one partition.

    Partition ``i`` of the result holds exactly the customers whose
    :func:`customer_bucket` is ``i`` (possibly none: an empty partition is fine), with their
    rows in input order (input partitions in order, rows in order within each). Nothing is
    computed yet: the result is lazy, like every dask collection.

    Args:
        source: A dask DataFrame, a pandas DataFrame, or a path, glob or list of paths of a
            Parquet dataset or of CSV files (``*.csv``); files are read in the order given
            (a glob: sorted), and one customer's rows may be spread over several files.
        npartitions: Partitions (= hash buckets) of the result; default the input's.
        customer_id: Column of customer ids.
        timestamp: Column of transaction times (datetimes, naive = UTC, or ISO 8601 text).
        amount: Column of amounts (float; NaN is a missing amount, see ``nan_policy``).
        currency: Column of ISO currency codes; amounts are then multiplied by
            ``rates[code]`` (units of ``to_currency`` per unit of ``code``), as
            ``Store.order_facts(currency=, rates=)`` converts. A row without a code gets
            a missing amount.
        to_currency: The currency amounts are converted to (needed with ``currency``).
        rates: Exchange rates into ``to_currency``.
        read_options: Passed to ``dask.dataframe.read_parquet`` / ``read_csv``.

    Returns:
        :class:`CustomerPartitions`.

    Raises:
        ValidationError: A source of another kind; when computed, a currency without a rate
            or a timestamp that is not ISO 8601, naming the column, value and input row.
        ConfigurationError: Bad ``npartitions``, rates, or a currency column without
            ``to_currency``.

    Example:
        >>> import dask, pandas as pd
        >>> from ecomcrm.dask import partition_transactions
        >>> tx = pd.DataFrame({"cid": ["a", "b", "a"], "at": ["2024-01-01", "2024-01-02", "2024-01-03"],
        ...                    "usd": [10.0, 2.0, 4.0], "cur": ["USD", "EUR", "USD"]})
        >>> parts = partition_transactions(tx, npartitions=2, customer_id="cid", timestamp="at",
        ...     amount="usd", currency="cur", to_currency="EUR", rates={"USD": 0.5})
        >>> with dask.config.set(scheduler="synchronous"):
        ...     df = parts.frame.compute()
        >>> sorted(df["amount"].tolist())
        [2.0, 2.0, 5.0]
    """
    frame = _read(source, dict(read_options or {}))
    n = frame.npartitions if npartitions is None else npartitions
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigurationError("must be a positive integer", field="npartitions", value=n)
    names = (customer_id, timestamp, amount)
    needed = [*names, *([currency] if currency is not None else [])]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise ValidationError(
            "column not in the transactions",
            entity=_ENTITY,
            field=absent[0],
            value=list(frame.columns),
        )
    table = _rate_table(to_currency, rates) if currency is not None else None
    options: dict[str, Any] = {
        "names": names,
        "currency": currency,
        "rates": table,
        "npartitions": n,
    }
    meta = _normalize(frame._meta, **options)
    tagged = frame[needed].map_partitions(_normalize, meta=meta, **options)
    shuffled = tagged.set_index("_bucket", divisions=list(range(n + 1)), sorted=False)
    ordered = shuffled.map_partitions(_sorted_by_row, meta=shuffled._meta)
    return CustomerPartitions(frame=ordered, npartitions=n)
