"""Large synthetic transaction sets written to Parquet in parts (never held in memory)."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np
import pandas as pd

from ecomcrm.errors import ConfigurationError

_US_PER_DAY = 86_400_000_000
#: about this many transactions per customer with the default shop
TRANSACTIONS_PER_CUSTOMER = 15.0


def _positive(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError("must be a positive integer", field=field, value=value)
    return value


def synthetic_chunk(customers: int, first_id: int, *, seed: int, days: int) -> pd.DataFrame:
    """The transactions of customers ``first_id`` .. ``first_id + customers - 1``.

    A BG/NBD shop with Gamma-Gamma spend: each customer's first purchase is uniform over
    ``days``; while alive they buy as a Poisson process with a Gamma-distributed rate and
    drop out after each purchase with a Beta-distributed probability; each amount is
    Gamma-distributed around the customer's own mean. Rows are shuffled; timestamps are
    days since the start as ``timedelta64[us]`` added by the caller. A chunk depends only on
    ``(seed, first_id, customers)``, so chunks can be made in any order or in parallel.

    Example:
        >>> frame = synthetic_chunk(100, 0, seed=1, days=365)
        >>> sorted(frame.columns), frame["customer_id"].nunique()
        (['amount', 'customer_id', 'day'], 100)
    """
    rng = np.random.default_rng([seed, first_id])
    first = rng.uniform(0, days, customers)
    lam = rng.gamma(0.7, 1 / 12.0, customers)  # purchases per day while alive
    p = rng.beta(0.4, 4.0, customers)
    repeats = np.minimum(rng.geometric(p) - 1, 400)
    owner = np.repeat(np.arange(customers), repeats)
    gaps = rng.exponential(1.0, len(owner)) / lam[owner]
    starts = np.cumsum(repeats) - repeats
    csum = np.cumsum(gaps)
    # cumulative gaps restarting at each customer
    offset = np.repeat(np.where(starts > 0, csum[np.maximum(starts - 1, 0)], 0.0), repeats)
    t = first[owner] + (csum - offset)
    keep = t < days
    owner = np.concatenate([np.arange(customers), owner[keep]])
    t = np.concatenate([first, t[keep]])
    nu = rng.gamma(3.7, 1 / 15.4, customers)
    amount = np.round(rng.gamma(6.25, 1.0, len(owner)) / nu[owner], 2)
    order = rng.permutation(len(owner))
    return pd.DataFrame(
        {
            "customer_id": (first_id + owner[order]).astype(np.int64),
            "day": t[order],
            "amount": amount[order],
        }
    )


def write_synthetic_transactions(
    path: str | os.PathLike[str],
    *,
    transactions: int,
    chunk_customers: int = 100_000,
    seed: int = 0,
    start: str = "2021-01-01",
    days: int = 3 * 365,
) -> int:
    """Write about ``transactions`` synthetic transactions to a Parquet dataset at ``path``.

    The data set for trying :mod:`ecomcrm.dask` at sizes one machine cannot hold: one chunk
    of ``chunk_customers`` customers is made (:func:`synthetic_chunk`) and written at a
    time, each chunk's rows split into one file per calendar year (``tx-{chunk}-{year}
    .parquet``), so a customer's rows span several files and memory stays that of one
    chunk (about 1.5 million rows by default) whatever the total. Columns:
    ``customer_id`` (int64), ``timestamp`` (``datetime64[us]``, UTC, from ``start``
    over ``days``) and ``amount`` (float64). Returns the number of rows written (about
    ``transactions``: the number of customers is ``transactions / 15``).

    Raises:
        ConfigurationError: a size that is not a positive integer.

    Example:
        >>> import pathlib, tempfile, pandas as pd
        >>> from ecomcrm.dask import write_synthetic_transactions
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "tx"
        >>> rows = write_synthetic_transactions(out, transactions=3_000, chunk_customers=50)
        >>> len(pd.read_parquet(out)) == rows, len(list(out.glob("*.parquet"))) > 4
        (True, True)
    """
    _positive(transactions, "transactions")
    _positive(chunk_customers, "chunk_customers")
    _positive(days, "days")
    root = pathlib.Path(path)
    root.mkdir(parents=True, exist_ok=True)
    origin = np.datetime64(start, "us")
    customers = max(1, int(transactions / TRANSACTIONS_PER_CUSTOMER))
    written = 0
    for k, first_id in enumerate(range(0, customers, chunk_customers)):
        frame = synthetic_chunk(
            min(chunk_customers, customers - first_id), first_id, seed=seed, days=days
        )
        when = origin + (frame.pop("day").to_numpy() * _US_PER_DAY).astype("timedelta64[us]")
        frame.insert(1, "timestamp", when)
        year = when.astype("datetime64[Y]").astype(np.int64) + 1970
        for y in np.unique(year):
            frame[year == y].to_parquet(root / f"tx-{k:05d}-{y}.parquet", index=False)
        written += len(frame)
    return written
