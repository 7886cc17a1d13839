"""``write_synthetic_transactions``: big data sets written in parts, read back as written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecomcrm.dask import synthetic_chunk, write_synthetic_transactions
from ecomcrm.errors import ConfigurationError
from ecomcrm.metrics import customer_summary


def test_the_data_set_is_written_in_parts_and_reads_back_whole(tmp_path: Path) -> None:
    out = tmp_path / "tx"
    rows = write_synthetic_transactions(out, transactions=30_000, chunk_customers=300, seed=4)
    files = sorted(out.glob("*.parquet"))
    frame = pd.read_parquet(out)
    assert len(frame) == rows and 25_000 < rows < 35_000
    assert frame["customer_id"].dtype == np.int64 and frame["amount"].dtype == np.float64
    assert str(frame["timestamp"].dtype).startswith("datetime64[")
    assert frame["customer_id"].nunique() == 2_000  # 30,000 / 15
    # 2,000 customers in chunks of 300: 7 chunks, one file per chunk and year
    chunks = {f.name.split("-")[1] for f in files}
    assert len(chunks) == 7 and len(files) > 7
    assert frame["timestamp"].min() >= pd.Timestamp("2021-01-01")
    assert frame["timestamp"].max() < pd.Timestamp("2021-01-01") + pd.Timedelta(days=3 * 365)
    # a customer's rows span files: the year split cuts across customers
    per_file = pd.concat(
        pd.read_parquet(f, columns=["customer_id"]).assign(file=f.name) for f in files
    )
    assert (per_file.groupby("customer_id")["file"].nunique() > 1).any()
    # every amount positive, every customer has a first purchase
    assert (frame["amount"] > 0).all()
    s = customer_summary(
        frame["customer_id"].to_numpy(), frame["timestamp"].to_numpy(),
        frame["amount"].to_numpy(), observation_end=frame["timestamp"].max(), freq="W",
    )  # fmt: skip
    assert len(s.frequency) == 2_000 and 0 < float(np.mean(s.frequency)) < 30


def test_the_same_seed_writes_the_same_rows(tmp_path: Path) -> None:
    a = write_synthetic_transactions(tmp_path / "a", transactions=3_000, chunk_customers=70, seed=2)
    b = write_synthetic_transactions(tmp_path / "b", transactions=3_000, chunk_customers=70, seed=2)
    c = write_synthetic_transactions(tmp_path / "c", transactions=3_000, chunk_customers=70, seed=3)
    key = ["customer_id", "timestamp", "amount"]
    read = lambda p: pd.read_parquet(p).sort_values(key).reset_index(drop=True)  # noqa: E731
    assert a == b
    pd.testing.assert_frame_equal(read(tmp_path / "a"), read(tmp_path / "b"))
    assert a != c or not read(tmp_path / "a").equals(read(tmp_path / "c"))


def test_a_chunk_depends_only_on_its_seed_and_first_id() -> None:
    one = synthetic_chunk(50, 100, seed=9, days=365)
    again = synthetic_chunk(50, 100, seed=9, days=365)
    pd.testing.assert_frame_equal(one, again)
    assert set(one["customer_id"]) == set(range(100, 150))
    assert one["day"].between(0, 365).all()


@pytest.mark.parametrize(
    ("field", "value"), [("transactions", 0), ("chunk_customers", -1), ("days", 1.5)]
)
def test_sizes_must_be_positive_integers(tmp_path: Path, field: str, value: object) -> None:
    options: dict[str, object] = {"transactions": 100, "chunk_customers": 10, "days": 30}
    options[field] = value
    with pytest.raises(ConfigurationError, match=field):
        write_synthetic_transactions(tmp_path / "x", **options)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()
