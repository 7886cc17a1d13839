"""Results to Parquet, one file per customer-hash partition."""

from __future__ import annotations

import os
from typing import Any


def write_parquet(frame: Any, path: str | os.PathLike[str], **options: Any) -> None:
    """Write a per-customer dask DataFrame to a Parquet dataset, one file per partition.

    For the frames of this package partition ``i`` holds the customers of hash bucket ``i``
    (:func:`customer_bucket`), so ``part.{i}.parquet`` holds exactly them: a reader that
    wants one customer computes the bucket and opens one file. ``options`` go to
    ``dask.dataframe.to_parquet`` (``storage_options`` for object stores, ``compression``).

    Example:
        >>> import dask, dask.dataframe as dd, pandas as pd, pathlib, tempfile
        >>> from ecomcrm.dask import write_parquet
        >>> frame = dd.from_pandas(pd.DataFrame({"customer_id": [1, 2]}), npartitions=2)
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "scores"
        >>> with dask.config.set(scheduler="synchronous"):
        ...     write_parquet(frame, out)
        >>> sorted(p.name for p in out.glob("*.parquet"))
        ['part.0.parquet', 'part.1.parquet']
    """
    frame.to_parquet(
        os.fspath(path),
        write_index=False,
        name_function=lambda i: f"part.{i}.parquet",
        **options,
    )
