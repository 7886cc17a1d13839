"""Regenerate the frozen lifetimes outputs the metrics tests compare against.

Run with the Python of a venv that has lifetimes 0.11.3 (see benchmarks/setup_reference_envs.sh):

    /work/bench-venvs/lifetimes/bin/python scripts/make_lifetimes_expected.py

It reads tests/data/cdnow_sample.txt (the CDNOW sample shipped with lifetimes: customer id,
customer index, yyyymmdd date, quantity, amount) and writes tests/data/cdnow_expected_*.csv.gz,
one file per case, with columns customer_id plus lifetimes' output columns.
"""

from __future__ import annotations

import pathlib

import lifetimes
import pandas as pd
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"

# name -> (function, keyword arguments)
SUMMARY_CASES = {
    "summary_D": {"freq": "D", "observation_period_end": "1998-06-30"},
    "summary_W": {"freq": "W", "observation_period_end": "1998-06-30"},
    "summary_M": {"freq": "M", "observation_period_end": "1998-06-30"},
    "summary_D_truncated": {"freq": "D", "observation_period_end": "1997-09-30"},
    "summary_W_mult": {"freq": "W", "observation_period_end": "1998-06-30", "freq_multiplier": 4},
    "summary_D_first": {
        "freq": "D",
        "observation_period_end": "1998-06-30",
        "include_first_transaction": True,
    },
}
HOLDOUT_CASES = {
    "holdout_D": {"freq": "D"},
    "holdout_W": {"freq": "W"},
    "holdout_M": {"freq": "M"},
}


def load() -> pd.DataFrame:
    """The CDNOW sample as a DataFrame with a datetime ``date`` column."""
    df = pd.read_csv(
        DATA / "cdnow_sample.txt",
        sep=r"\s+",
        header=None,
        names=["customer_id", "customer_index", "date", "quantity", "amount"],
        dtype={"date": str},
    )
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


def main() -> None:
    """Write one expected file per case."""
    assert lifetimes.__version__ == "0.11.3", lifetimes.__version__
    df = load()
    for name, kwargs in SUMMARY_CASES.items():
        out = summary_data_from_transaction_data(df, "customer_id", "date", "amount", **kwargs)
        out.reset_index().to_csv(
            DATA / f"cdnow_expected_{name}.csv.gz", index=False, float_format="%.17g"
        )
    for name, kwargs in HOLDOUT_CASES.items():
        out = calibration_and_holdout_data(
            df,
            "customer_id",
            "date",
            calibration_period_end="1997-09-30",
            observation_period_end="1998-06-30",
            monetary_value_col="amount",
            **kwargs,
        )
        out.reset_index().to_csv(
            DATA / f"cdnow_expected_{name}.csv.gz", index=False, float_format="%.17g"
        )
    print("wrote", sorted(p.name for p in DATA.glob("cdnow_expected_*")))


if __name__ == "__main__":
    main()
