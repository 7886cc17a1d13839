"""Load the CDNOW sample transaction log and the frozen lifetimes outputs.

The expected files are written by scripts/make_lifetimes_expected.py with lifetimes 0.11.3.
"""

from __future__ import annotations

import pathlib

import numpy as np
from numpy.typing import NDArray

DATA = pathlib.Path(__file__).resolve().parent.parent / "data"


def load_transactions() -> tuple[NDArray[np.int64], NDArray[np.datetime64], NDArray[np.float64]]:
    """CDNOW sample: customer id, date (datetime64[us]), amount."""
    raw = np.loadtxt(DATA / "cdnow_sample.txt", dtype=str)
    ids = raw[:, 0].astype(np.int64)
    ts = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in raw[:, 2]], dtype="M8[us]")
    amounts = raw[:, 4].astype(np.float64)
    return ids, ts, amounts


def load_expected(name: str) -> dict[str, NDArray[np.float64]]:
    """Columns of tests/data/cdnow_expected_<name>.csv.gz by name."""
    path = DATA / f"cdnow_expected_{name}.csv.gz"
    table = np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64)
    assert table.dtype.names is not None
    return {col: np.asarray(table[col]) for col in table.dtype.names}
