"""Model fits on merged compressed tables: only unique rows with counts reach the client."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from ecomcrm.dask._reduce import tree_reduce
from ecomcrm.errors import ValidationError

M = TypeVar("M")

RFM_COLUMNS = ("frequency", "recency", "T")
"""The columns BG/NBD, MBG/NBD, Pareto/NBD (and BG/BB, as ``n_periods``) fit on."""


def _compress(frame: Any, columns: list[str]) -> Any:
    table = frame[columns].astype(np.float64)
    counts = table.groupby(columns, sort=False, dropna=False).size()
    return counts.rename("count").reset_index()


def _merge(columns: list[str], *tables: Any) -> Any:
    both = pd.concat(tables, ignore_index=True)
    return both.groupby(columns, sort=True, dropna=False)["count"].sum().reset_index()


def compressed_table(frame: Any, columns: Sequence[str] = RFM_COLUMNS) -> Any:
    """The unique rows of ``columns`` over all partitions, with their ``count``.

    Each partition compresses its own rows; the tables merge in a tree by adding counts.
    The result is a small pandas DataFrame (one row per distinct combination, sorted).

    Example:
        >>> import dask, dask.dataframe as dd, pandas as pd
        >>> from ecomcrm.dask import compressed_table
        >>> s = dd.from_pandas(pd.DataFrame({"frequency": [0.0, 1.0, 0.0], "recency": [0.0, 3.0, 0.0],
        ...                                  "T": [5.0, 5.0, 5.0]}), npartitions=2)
        >>> with dask.config.set(scheduler="synchronous"):
        ...     compressed_table(s).values.tolist()
        [[0.0, 0.0, 5.0, 2.0], [1.0, 3.0, 5.0, 1.0]]
    """
    cols = list(columns)
    absent = [c for c in cols if c not in frame.columns]
    if absent or not cols:
        raise ValidationError(
            "column not in the frame", entity="compressed_table", field=str(absent or cols)
        )
    table = tree_reduce(
        frame,
        lambda part: _compress(part, cols),
        lambda *tables: _merge(cols, *tables),
    )
    table["count"] = table["count"].astype(np.float64)
    return table.reset_index(drop=True)


def fit_model(model: M, frame: Any, columns: Sequence[str] = RFM_COLUMNS, **options: Any) -> M:
    """Fit ``model`` on the merged compressed table of ``columns``; returns the model.

    ``model.fit(*columns, weights=counts, **options)`` sees the unique rows with their
    customer counts, which is the table every ecomcrm model compresses its rows to before
    fitting, so the fitted parameters equal those of a fit on all rows in one process.
    Columns by model: BG/NBD, MBG/NBD, Pareto/NBD ``("frequency", "recency", "T")``
    (the default); BG/BB the same (``T`` as ``n_periods``, whole periods); Gamma-Gamma
    ``("frequency", "monetary_value")`` (pass ``zero_spend=`` in ``options``); sBG
    ``("periods", "churned")`` of your own per-customer frame.

    Example:
        >>> import dask, dask.dataframe as dd, numpy as np, pandas as pd
        >>> from ecomcrm.dask import fit_model
        >>> from ecomcrm.predict import BetaGeo
        >>> sim = BetaGeo(params={"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}).simulate(np.full(2000, 39.0), seed=1)
        >>> x, tx, T = sim.rfm
        >>> s = dd.from_pandas(pd.DataFrame({"frequency": x, "recency": tx, "T": T}), npartitions=4)
        >>> with dask.config.set(scheduler="synchronous"):
        ...     bg = fit_model(BetaGeo(), s)
        >>> bg.params == BetaGeo().fit(x, tx, T).params
        True
    """
    table = compressed_table(frame, columns)
    arrays = [table[c].to_numpy(dtype=np.float64) for c in columns]
    fitted: M = model.fit(  # type: ignore[attr-defined]
        *arrays, weights=table["count"].to_numpy(dtype=np.float64), **options
    )
    return fitted
