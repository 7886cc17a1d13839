"""The optional dependencies of ``ecomcrm.dask``, with an install hint when they are missing."""

from __future__ import annotations

INSTALL_HINT = 'pip install "ecomcrm[dask]"'
"""How to install what ``ecomcrm.dask`` needs."""

try:
    import dask.dataframe  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
except ImportError as exc:
    raise ImportError(
        f"ecomcrm.dask needs dask[dataframe], distributed and pyarrow ({exc}); install them "
        f"with {INSTALL_HINT}"
    ) from exc
