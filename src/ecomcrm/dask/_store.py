"""A store's orders read straight into customer-hash partitions (no shuffle)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dask.dataframe as dd
import numpy as np
import pandas as pd
from dask.delayed import delayed

from ecomcrm.dask._partitions import CustomerPartitions, customer_bucket
from ecomcrm.errors import ConfigurationError
from ecomcrm.storage import open_store


def store_partition(
    url: str,
    bucket: int,
    npartitions: int,
    *,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> Any:
    """The counted (not cancelled) orders of the customers of one hash bucket of a store.

    Opens the store at ``url``, reads ``order_facts(currency=, rates=)`` and keeps the rows
    whose customer's :func:`customer_bucket` is ``bucket``, in the facts' order (placed_at,
    then order id), as the columns ``customer_id``, ``timestamp``, ``amount`` and ``_row``
    (the row in the order facts), indexed by ``_bucket``.

    Example:
        >>> import ecomcrm, pathlib, tempfile
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.io import SyntheticShop
        >>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'crm.db'}"
        >>> _ = SyntheticShop(customers=40, seed=1, events=False).to_store(ecomcrm.open_store(url))
        >>> parts = [store_partition(url, b, 2) for b in range(2)]
        >>> sum(len(p) for p in parts) > 0, set(parts[1].index) <= {1}
        (True, True)
    """
    store = open_store(url)
    try:
        facts = store.order_facts(currency=currency, rates=rates)
    finally:
        store.close()
    keep = ~facts.cancelled
    ids = facts.customer_ids[facts.customer_index]
    rows = np.flatnonzero(keep & (customer_bucket(ids, npartitions) == bucket))
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(ids[rows].astype(object), dtype="string"),
            "timestamp": facts.placed_at[rows].astype("datetime64[us]"),
            "amount": facts.amount[rows].astype(np.float64),
            "_row": rows.astype(np.int64),
        },
        index=pd.Index(np.full(len(rows), bucket, dtype=np.int64), name="_bucket"),
    )
    return frame


def read_store(
    url: str,
    *,
    npartitions: int,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> CustomerPartitions:
    """A store's orders as :class:`CustomerPartitions`, read bucket by bucket (no shuffle).

    Each of the ``npartitions`` tasks opens the store at ``url`` (a SQLite file or a
    PostgreSQL server the workers can reach; not ``memory://``) and keeps the orders of
    its bucket (:func:`store_partition`). Amounts are converted as
    ``Store.order_facts(currency=, rates=)`` converts; cancelled orders are left out, as
    ``fit_value_models`` leaves them out. Every task reads the store's order facts and
    filters them, so a task needs the memory of the whole order facts once: use it for
    stores that fit one worker, and export larger ones to Parquet for
    :func:`partition_transactions`.

    Example:
        >>> import dask, ecomcrm, pathlib, tempfile
        >>> from ecomcrm.io import SyntheticShop
        >>> from ecomcrm.dask import read_store, summaries
        >>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'crm.db'}"
        >>> _ = SyntheticShop(customers=40, seed=1, events=False).to_store(ecomcrm.open_store(url))
        >>> with dask.config.set(scheduler="synchronous"):
        ...     s = summaries(read_store(url, npartitions=3), observation_end="2030-01-01").compute()
        >>> len(s) > 0
        True
    """
    if isinstance(npartitions, bool) or not isinstance(npartitions, int) or npartitions < 1:
        raise ConfigurationError(
            "must be a positive integer", field="npartitions", value=npartitions
        )
    if url.startswith("memory://"):
        raise ConfigurationError(
            "a memory:// store lives in one process; use a SQLite or PostgreSQL URL",
            field="url",
            value=url,
        )
    options: dict[str, Any] = {"currency": currency, "rates": rates}
    meta = pd.DataFrame(
        {
            "customer_id": pd.Series([], dtype="string"),
            "timestamp": np.empty(0, dtype="datetime64[us]"),
            "amount": np.empty(0),
            "_row": np.empty(0, dtype=np.int64),
        },
        index=pd.Index(np.empty(0, dtype=np.int64), name="_bucket"),
    )
    tasks = [delayed(store_partition)(url, b, npartitions, **options) for b in range(npartitions)]
    frame = dd.from_delayed(tasks, meta=meta, divisions=(*range(npartitions), npartitions - 1))
    return CustomerPartitions(frame=frame, npartitions=npartitions)
