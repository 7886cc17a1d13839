"""Transactions for the Dask identity tests, and the single-machine reference."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest

RATES = {"USD": 0.9, "GBP": 1.17}


def transactions(n_customers: int, seed: int, *, string_ids: bool = True) -> pd.DataFrame:
    """A year of orders from a BG/NBD-like process (Poisson buying, dropout after a purchase)."""
    rng = np.random.default_rng(seed)
    first = rng.uniform(0, 300, n_customers)
    rate = rng.gamma(0.9, 1 / 25, n_customers)  # purchases per day
    gaps = rng.exponential(1, (n_customers, 24)) / rate[:, None]
    day = first[:, None] + np.concatenate([np.zeros((n_customers, 1)), np.cumsum(gaps, 1)], 1)
    lives = rng.geometric(rng.beta(1.0, 3.0, n_customers))  # purchases before dropping out
    keep = (day < 365) & (np.arange(25)[None, :] < lives[:, None])
    cust, _ = np.nonzero(keep)
    day = day[keep]
    ts = np.datetime64("2024-01-01T00:00", "us") + (day * 86_400e6).astype("timedelta64[us]")
    amount = np.round(rng.lognormal(3.5, 0.6, len(cust)), 2)
    refund = rng.random(len(cust)) < 0.03
    amount[refund] = -amount[refund] / 2
    order = rng.permutation(len(cust))  # rows in time-unrelated order, customers interleaved
    ids = np.array([f"c{i:05d}" for i in cust], dtype=object) if string_ids else cust
    return pd.DataFrame(
        {
            "customer_id": ids[order],
            "timestamp": ts[order],
            "amount": amount[order],
            "currency": rng.choice(["EUR", "USD", "GBP"], len(cust))[order],
        }
    )


def converted(tx: pd.DataFrame) -> np.ndarray:
    rate = tx["currency"].map({"EUR": 1.0, **RATES}).to_numpy(dtype=np.float64)
    return tx["amount"].to_numpy(dtype=np.float64) * rate


@pytest.fixture(scope="session")
def tx() -> pd.DataFrame:
    return transactions(600, seed=3)


@pytest.fixture(scope="session")
def parquet_files(tx: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The transactions in three Parquet files; most customers span several files."""
    root = tmp_path_factory.mktemp("tx")
    for i, chunk in enumerate(np.array_split(np.arange(len(tx)), 3)):
        tx.iloc[chunk].to_parquet(root / f"part-{i}.parquet", index=False)
    return root


@pytest.fixture
def synchronous() -> object:
    with dask.config.set(scheduler="synchronous"):
        yield
