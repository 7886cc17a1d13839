"""Benchmark ecomcrm.metrics.customer_summary and calibration_and_holdout side by side.

Compared in the same run, on the same synthetic transactions (3 years, ids as integer codes,
gamma amounts), at 1M transactions / 100k customers and 10M / 1M:

* ecomcrm.metrics (freq "D");
* a straightforward numpy implementation: lexsort by (customer, day) + reduceat;
* an idiomatic pandas groupby;
* lifetimes 0.11.3 (summary_data_from_transaction_data, calibration_and_holdout_data), run in
  its own venv through a subprocess (see setup_reference_envs.sh).

Times are the best of ``--repeat`` runs for ecomcrm and numpy, one run for pandas and lifetimes.
Peak memory is the tracemalloc peak of a separate run (numpy and pandas buffers are traced),
for lifetimes the growth of the subprocess's max RSS. Checksums (sum of frequency, recency, T,
monetary value) show that all implementations agree.

Usage:
    .venv/bin/python benchmarks/bench_metrics.py [--sizes 1000000 10000000] [--repeat 3]
        [--lifetimes-python /work/bench-venvs/lifetimes/bin/python] [--no-lifetimes]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from ecomcrm.metrics import calibration_and_holdout, customer_summary

HERE = pathlib.Path(__file__).resolve().parent
START = np.datetime64("2021-01-01", "us")
SPAN_US = 3 * 365 * 86_400_000_000
OBS_END = "2023-12-31"
CAL_END = "2023-06-30"
US_PER_DAY = 86_400_000_000


def make_data(n: int, customers: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, customers, n, dtype=np.int64)
    ts = START + rng.integers(0, SPAN_US, n).astype("m8[us]")
    amount = np.round(rng.gamma(2.0, 30.0, n), 2)
    return ids, ts, amount


# --- reference implementations ------------------------------------------------------------


def numpy_lexsort_summary(
    ids: np.ndarray, ts: np.ndarray, amount: np.ndarray
) -> dict[str, np.ndarray]:
    """Plain numpy: lexsort by (customer, day), reduceat per (customer, day), then per customer."""
    day = ts.view(np.int64) // US_PER_DAY
    obs_day = np.datetime64(OBS_END, "D").astype(np.int64)
    order = np.lexsort((day, ids))
    ids_s, day_s, amt_s = ids[order], day[order], amount[order]
    new_pair = np.empty(len(ids_s), dtype=bool)
    new_pair[0] = True
    new_pair[1:] = (ids_s[1:] != ids_s[:-1]) | (day_s[1:] != day_s[:-1])
    pair_start = np.flatnonzero(new_pair)
    pair_amt = np.add.reduceat(amt_s, pair_start)
    pair_id, pair_day = ids_s[pair_start], day_s[pair_start]
    new_cust = np.empty(len(pair_id), dtype=bool)
    new_cust[0] = True
    new_cust[1:] = pair_id[1:] != pair_id[:-1]
    cust_start = np.flatnonzero(new_cust)
    n_periods = np.diff(np.append(cust_start, len(pair_id)))
    first_day = pair_day[cust_start]
    last_day = np.maximum.reduceat(pair_day, cust_start)
    total = np.add.reduceat(pair_amt, cust_start)
    frequency = (n_periods - 1).astype(np.float64)
    monetary = np.divide(
        total - pair_amt[cust_start], frequency, out=np.zeros(len(cust_start)), where=frequency > 0
    )
    return {
        "frequency": frequency,
        "recency": (last_day - first_day).astype(np.float64),
        "T": (obs_day - first_day).astype(np.float64),
        "monetary_value": monetary,
    }


def pandas_groupby_summary(
    ids: np.ndarray, ts: np.ndarray, amount: np.ndarray
) -> dict[str, np.ndarray]:
    """Idiomatic pandas: group by (customer, day), then by customer."""
    import pandas as pd

    df = pd.DataFrame({"id": ids, "ts": ts, "amount": amount})
    df["day"] = df["ts"].dt.floor("D")
    per_day = df.groupby(["id", "day"], sort=True)["amount"].sum().reset_index()
    g = per_day.groupby("id", sort=True)
    agg = g.agg(
        first=("day", "min"),
        last=("day", "max"),
        n=("day", "size"),
        total=("amount", "sum"),
        first_amount=("amount", "first"),
    )
    frequency = agg["n"] - 1
    monetary = ((agg["total"] - agg["first_amount"]) / frequency).where(frequency > 0, 0.0)
    obs = pd.Timestamp(OBS_END)
    return {
        "frequency": frequency.to_numpy(np.float64),
        "recency": ((agg["last"] - agg["first"]) / pd.Timedelta(days=1)).to_numpy(np.float64),
        "T": ((obs - agg["first"]) / pd.Timedelta(days=1)).to_numpy(np.float64),
        "monetary_value": monetary.to_numpy(np.float64),
    }


def ecomcrm_summary(ids: np.ndarray, ts: np.ndarray, amount: np.ndarray) -> dict[str, np.ndarray]:
    s = customer_summary(ids, ts, amount, observation_end=OBS_END, freq="D")
    return {
        "frequency": s.frequency,
        "recency": s.recency,
        "T": s.T,
        "monetary_value": s.monetary_value,
    }


def ecomcrm_summary_m_paris(
    ids: np.ndarray, ts: np.ndarray, amount: np.ndarray
) -> dict[str, np.ndarray]:
    s = customer_summary(ids, ts, amount, observation_end="2024-01-31", freq="M", tz="Europe/Paris")
    return {
        "frequency": s.frequency,
        "recency": s.recency,
        "T": s.T,
        "monetary_value": s.monetary_value,
    }


def ecomcrm_holdout(ids: np.ndarray, ts: np.ndarray, amount: np.ndarray) -> dict[str, np.ndarray]:
    ch = calibration_and_holdout(
        ids,
        ts,
        amount,
        calibration_end=CAL_END,
        observation_end=OBS_END,
        freq="D",
        after_end="drop",
    )
    return {
        "frequency_cal": ch.frequency_cal,
        "recency_cal": ch.recency_cal,
        "T_cal": ch.T_cal,
        "monetary_value_cal": ch.monetary_value_cal,
        "frequency_holdout": ch.frequency_holdout,
    }


# --- measurement ----------------------------------------------------------------------------


def timed(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best = float("inf")
    result = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - t0)
        if repeat > 1:
            del result
            result = None
    if result is None:
        result = func()
    return best, result


def traced_peak_mib(func: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        out = func()
        del out
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def checksum(result: dict[str, np.ndarray]) -> str:
    return " ".join(f"{float(np.sum(v)):.6g}" for v in result.values())


def run_lifetimes(python: str, folder: str, what: str) -> dict[str, Any] | None:
    args = [python, str(HERE / "_lifetimes_ref.py"), folder, what, OBS_END]
    if what == "holdout":
        args.append(CAL_END)
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        print(f"  lifetimes failed: {proc.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lifetimes-python", default="/work/bench-venvs/lifetimes/bin/python")
    parser.add_argument("--no-lifetimes", action="store_true")
    parser.add_argument(
        "--holdout-lifetimes-max",
        type=int,
        default=1_000_000,
        help="largest size at which lifetimes' calibration_and_holdout_data runs",
    )
    opts = parser.parse_args()
    use_lifetimes = not opts.no_lifetimes and os.path.exists(opts.lifetimes_python)
    print(f"numpy {np.__version__}, cpus {os.cpu_count()}, load average {os.getloadavg()}")

    for n in opts.sizes:
        customers = n // 10
        data = make_data(n, customers)
        ids, ts, amount = data
        input_mib = (ids.nbytes + ts.nbytes + amount.nbytes) / 2**20
        print(f"\n== {n:,} transactions, {customers:,} customers, inputs {input_mib:.0f} MiB ==")
        rows: list[tuple[str, str, float, float | None, str]] = []

        candidates: list[tuple[str, str, Callable[..., dict[str, np.ndarray]], int]] = [
            ("summary", "ecomcrm customer_summary", ecomcrm_summary, opts.repeat),
            ("summary", "numpy lexsort/reduceat", numpy_lexsort_summary, opts.repeat),
            ("summary", "pandas groupby", pandas_groupby_summary, 1),
            ("summary", "ecomcrm freq=M tz=Paris", ecomcrm_summary_m_paris, opts.repeat),
            ("holdout", "ecomcrm calibration_and_holdout", ecomcrm_holdout, opts.repeat),
        ]
        for what, name, func, repeat in candidates:
            seconds, result = timed(lambda f=func, d=data: f(*d), repeat)
            peak = traced_peak_mib(lambda f=func, d=data: f(*d))
            rows.append((what, name, seconds, peak, checksum(result)))
            del result
            print(f"  {name:34s} {seconds:8.3f} s", flush=True)

        if use_lifetimes:
            with tempfile.TemporaryDirectory() as folder:
                np.save(folder + "/ids.npy", ids)
                np.save(folder + "/ts.npy", ts)
                np.save(folder + "/amount.npy", amount)
                todo = ["summary"] + (["holdout"] if n <= opts.holdout_lifetimes_max else [])
                for what in todo:
                    res = run_lifetimes(opts.lifetimes_python, folder, what)
                    if res is not None:
                        sums = " ".join(f"{v:.6g}" for v in res["sums"].values())
                        label = "lifetimes " + (
                            "summary_data" if what == "summary" else "calibration_and_holdout"
                        )
                        rows.append((what, label, res["seconds"], res["peak_mib"], sums))
                        print(f"  {label:34s} {res['seconds']:8.3f} s", flush=True)

        print(
            f"\n{'task':8s} {'implementation':34s} {'seconds':>9s} {'vs ecomcrm':>10s} "
            f"{'peak MiB':>9s} {'x input':>8s}  checksum (sum of columns)"
        )
        base = {
            what: sec
            for what, name, sec, _, _ in rows
            if name.startswith("ecomcrm") and "tz=" not in name
        }
        for what, name, sec, peak, sums in rows:
            ratio = sec / base[what]
            peak_s = f"{peak:9.0f}" if peak is not None else f"{'-':>9s}"
            rel = f"{peak / input_mib:8.2f}" if peak is not None else f"{'-':>8s}"
            print(f"{what:8s} {name:34s} {sec:9.3f} {ratio:9.1f}x {peak_s} {rel}  {sums}")
        del ids, ts, amount, data


if __name__ == "__main__":
    main()
