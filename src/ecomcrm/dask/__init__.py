"""Run ecomcrm's analytics on Dask, partition by partition, with single-machine results.

The optional extra ``dask`` (``pip install "ecomcrm[dask]"``: dask[dataframe], distributed,
pyarrow) is needed; without it, importing this package raises ImportError saying so. The
core package never imports dask.

Transactions come as a dask or pandas DataFrame, a Parquet or CSV glob
(:func:`partition_transactions`) or a store (:func:`read_store`, already partitioned).
One shuffle puts every customer's transactions in one partition (by a stable hash of the
customer id, :func:`customer_bucket`); then the ordinary array functions run per partition:
:func:`summaries` and :func:`calibration_holdout` (``ecomcrm.metrics``), RFM scores with
exact global boundaries (:func:`rfm_scores`: one pass merges per-partition histograms), model
fits on merged compressed tables (:func:`fit_model`: only unique rows with counts reach the
client), scores (:func:`score_customers`, or all feature columns at once with
:func:`customer_features`) and segment masks (:func:`segment_masks`). The
per-partition functions (``*_partition``) take and return pandas DataFrames, so other
engines can call them too. :func:`write_synthetic_transactions` writes a data set of any
size to Parquet in parts, to try all this beyond one machine's memory. See docs/dask.md.

Example:
    >>> import dask, numpy as np, pandas as pd
    >>> from ecomcrm.dask import partition_transactions, summaries
    >>> tx = pd.DataFrame({"customer_id": [1, 2, 1],
    ...                    "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-09"]),
    ...                    "amount": [10.0, 5.0, 20.0]})
    >>> parts = partition_transactions(tx, npartitions=2)
    >>> with dask.config.set(scheduler="synchronous"):
    ...     s = summaries(parts, observation_end="2024-01-31").compute()
    >>> s.sort_values("customer_id")[["customer_id", "frequency", "recency", "T"]].values.tolist()
    [[1.0, 1.0, 8.0, 30.0], [2.0, 0.0, 0.0, 29.0]]
"""

from __future__ import annotations

from ecomcrm.dask._require import INSTALL_HINT

# isort: split

from ecomcrm.dask._features import customer_features, features_partition
from ecomcrm.dask._fit import compressed_table, fit_model
from ecomcrm.dask._partitions import (
    CustomerPartitions,
    customer_bucket,
    partition_transactions,
)
from ecomcrm.dask._per_partition import calibration_partition, summary_partition
from ecomcrm.dask._rfm import RFMBoundaries, rfm_boundaries, rfm_partition, rfm_scores
from ecomcrm.dask._score import (
    score_customers,
    score_partition,
    segment_masks,
    segment_partition,
)
from ecomcrm.dask._store import read_store, store_partition
from ecomcrm.dask._summary import calibration_holdout, summaries
from ecomcrm.dask._synthetic import synthetic_chunk, write_synthetic_transactions
from ecomcrm.dask._write import write_parquet

__all__ = [
    "INSTALL_HINT",
    "CustomerPartitions",
    "RFMBoundaries",
    "calibration_holdout",
    "calibration_partition",
    "compressed_table",
    "customer_bucket",
    "customer_features",
    "features_partition",
    "fit_model",
    "partition_transactions",
    "read_store",
    "rfm_boundaries",
    "rfm_partition",
    "rfm_scores",
    "score_customers",
    "score_partition",
    "segment_masks",
    "segment_partition",
    "store_partition",
    "summaries",
    "summary_partition",
    "synthetic_chunk",
    "write_parquet",
    "write_synthetic_transactions",
]
