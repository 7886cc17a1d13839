"""Benchmark ecomcrm.dask end to end at growing sizes, beside single-process ecomcrm.

The pipeline (the same in both): read the Parquet transactions, convert nothing (one
currency), customer_summary (freq "W"), RFM scores, BG/NBD and Gamma-Gamma fits, P(alive),
expected purchases, 12-month CLV and churn risk, results written to Parquet.

* ecomcrm.dask on ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
  processes=True)``, partitions of a fixed size (``--rows-per-partition``), summaries
  written to Parquet once and read back for the later passes (nothing persisted, so no
  worker holds more than a few partitions whatever the data size);
* single-process ecomcrm (pandas.read_parquet + the array functions), in a subprocess.

Reported per run: wall seconds, CPU seconds (client and scheduler process + both workers;
for the single process its own), and peak memory: each worker process's peak RSS
(``VmHWM`` read inside the worker at the end), and for the single process its peak RSS.
The machine is shared: compare figures from one run, side by side.

The data: a BG/NBD shop (Poisson purchases from a first purchase within three years,
dropout after each purchase; Gamma-Gamma spend), written by ``write_dataset`` chunk by chunk
(``--chunk-customers`` customers at a time: never the whole data set in memory), each
chunk's rows split into one file per year, so a customer's rows span several files.

Usage:
    .venv/bin/python benchmarks/bench_dask.py --sizes 1000000 10000000 [--data /tmp/ecomcrm-dask-bench]
        [--rows-per-partition 2000000] [--no-single]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

START = np.datetime64("2021-01-01", "us")
DAYS = 3 * 365
OBS_END = "2023-12-31T23:59:59"
US_PER_DAY = 86_400_000_000
TX_PER_CUSTOMER = 15.0  # about, with the parameters below


def _chunk(n: int, first_id: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng([seed, first_id])
    first = rng.uniform(0, DAYS, n)
    lam = rng.gamma(0.7, 1 / 12.0, n)  # purchases per day while alive
    p = rng.beta(0.4, 4.0, n)
    repeats = np.minimum(rng.geometric(p) - 1, 400)
    owner = np.repeat(np.arange(n), repeats)
    gaps = rng.exponential(1.0, len(owner)) / lam[owner]
    starts = np.cumsum(repeats) - repeats
    csum = np.cumsum(gaps)
    # cumulative gaps restarting at each customer
    offset = np.repeat(np.where(starts > 0, csum[np.maximum(starts - 1, 0)], 0.0), repeats)
    t = first[owner] + (csum - offset)
    keep = t < DAYS
    owner = np.concatenate([np.arange(n), owner[keep]])
    t = np.concatenate([first, t[keep]])
    nu = rng.gamma(3.7, 1 / 15.4, n)
    amount = np.round(rng.gamma(6.25, 1.0, len(owner)) / nu[owner], 2)
    order = rng.permutation(len(owner))
    return pd.DataFrame(
        {
            "customer_id": (first_id + owner[order]).astype(np.int64),
            "timestamp": START + (t[order] * US_PER_DAY).astype("timedelta64[us]"),
            "amount": amount[order],
        }
    )


def write_dataset(
    root: pathlib.Path, transactions: int, chunk_customers: int, seed: int = 0
) -> int:
    """Write about ``transactions`` rows as Parquet files, one chunk of customers at a time."""
    root.mkdir(parents=True, exist_ok=True)
    customers = int(transactions / TX_PER_CUSTOMER)
    written = 0
    for k, i0 in enumerate(range(0, customers, chunk_customers)):
        frame = _chunk(min(chunk_customers, customers - i0), i0, seed)
        year = frame["timestamp"].dt.year.to_numpy()
        for y in np.unique(year):
            frame[year == y].to_parquet(root / f"tx-{k:05d}-{y}.parquet", index=False)
        written += len(frame)
    return written


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_rss_mib() -> float:
    # VmHWM: this process's own peak RSS. (ru_maxrss would not do: Linux carries it over
    # exec from the parent, so a spawned worker would report the benchmark's own peak.)
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _worker_stats() -> dict[str, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu": r.ru_utime + r.ru_stime, "peak_mib": _peak_rss_mib()}


def run_dask(
    data: pathlib.Path, out: pathlib.Path, rows: int, rows_per_partition: int
) -> dict[str, Any]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    import ecomcrm.dask as ed
    from ecomcrm.predict import BetaGeo, GammaGamma

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, memory_limit="6GiB",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster) as client,
    ):  # fmt: skip
        before = client.run(_worker_stats)
        t0, c0 = time.perf_counter(), _cpu()
        n = max(1, round(rows / rows_per_partition))
        parts = ed.partition_transactions(str(data / "*.parquet"), npartitions=n)
        ed.write_parquet(ed.summaries(parts, observation_end=OBS_END, freq="W"), out / "summary")
        t_summary = time.perf_counter() - t0
        summary = dd.read_parquet(str(out / "summary"))
        boundaries = ed.rfm_boundaries(summary)
        bg = ed.fit_model(BetaGeo(), summary)
        gg = ed.fit_model(
            GammaGamma(), summary, ("frequency", "monetary_value"), zero_spend="exclude"
        )
        t_fit = time.perf_counter() - t0
        features = ed.customer_features(
            summary, bg, gg, boundaries=boundaries, model_period="W", horizon_months=12
        )
        ed.write_parquet(features, out / "features")
        wall = time.perf_counter() - t0
        client_cpu = _cpu() - c0
        after = client.run(_worker_stats)
    worker_cpu = sum(after[w]["cpu"] - before[w]["cpu"] for w in after)
    return {
        "wall": wall,
        "summary_wall": t_summary,
        "fit_wall": t_fit,
        "cpu": client_cpu + worker_cpu,
        "worker_peak_mib": sorted(round(a["peak_mib"]) for a in after.values()),
        "npartitions": n,
        "params": bg.params,
    }


SINGLE = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
from ecomcrm.metrics import customer_summary, rfm_scores, rfm_segments
from ecomcrm.predict import BetaGeo, GammaGamma, churn_risk_labels
data, out = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
tx = pd.read_parquet(data)
s = customer_summary(tx["customer_id"].to_numpy(), tx["timestamp"].to_numpy(), tx["amount"].to_numpy(),
                     observation_end=sys.argv[3], freq="W")
del tx
r = rfm_scores(s.T - s.recency, s.frequency, s.monetary_value)
seg = rfm_segments(r.recency, r.frequency, r.monetary)
bg = BetaGeo().fit(s.frequency, s.recency, s.T)
gg = GammaGamma().fit(s.frequency, s.monetary_value, zero_spend="exclude")
p = bg.conditional_probability_alive(s.frequency, s.recency, s.T)
e = bg.conditional_expected_purchases(12 * 30.4375 / 7, s.frequency, s.recency, s.T)
clv = gg.customer_lifetime_value(bg, s.frequency, s.recency, s.T, np.where(s.frequency > 0, s.monetary_value, 0.0),
    model_period="W", horizon=12, horizon_period="month", discount_rate=0.01, zero_spend="nan")
pd.DataFrame({"customer_id": s.customer_id, "p_alive": p, "predicted_purchases": e, "predicted_clv": clv,
              "churn_risk": churn_risk_labels(p), "rfm_code": r.code, "rfm_segment": seg}).to_parquet(out)
wall = time.perf_counter() - t0
u = resource.getrusage(resource.RUSAGE_SELF)
hwm = [l for l in open("/proc/self/status").read().splitlines() if l.startswith("VmHWM:")][0]
print(json.dumps({"wall": wall, "cpu": u.ru_utime + u.ru_stime, "peak_mib": int(hwm.split()[1]) / 1024,
                  "params": bg.params}))
"""


def run_single(data: pathlib.Path, out: pathlib.Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", SINGLE, str(data), str(out / "single.parquet"), OBS_END],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000])
    ap.add_argument("--data", default="/tmp/ecomcrm-dask-bench")
    ap.add_argument("--rows-per-partition", type=int, default=2_000_000)
    ap.add_argument("--chunk-customers", type=int, default=100_000)
    ap.add_argument("--no-single", action="store_true")
    ap.add_argument("--single-up-to", type=int, default=10_000_000)
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    root = pathlib.Path(args.data)
    for size in args.sizes:
        data = root / f"tx-{size}"
        if not (data.parent / f"tx-{size}.rows").exists():  # none, or left half-written
            shutil.rmtree(data, ignore_errors=True)
            t0 = time.perf_counter()
            rows = write_dataset(data, size, args.chunk_customers)
            (data.parent / f"tx-{size}.rows").write_text(str(rows))
            print(f"wrote {rows:,} transactions in {time.perf_counter() - t0:.1f} s")
        rows = int((data.parent / f"tx-{size}.rows").read_text())
        out = root / f"out-{size}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        d = run_dask(data, out, rows, args.rows_per_partition)
        print(
            f"{rows:>12,} tx  dask 2 workers: wall {d['wall']:7.1f} s (summary {d['summary_wall']:.1f}, "
            f"+fits {d['fit_wall']:.1f})  cpu {d['cpu']:7.1f} s  partitions {d['npartitions']}  "
            f"worker peak MiB {d['worker_peak_mib']}",
            flush=True,
        )
        if not args.no_single and size <= args.single_up_to:
            s = run_single(data, out)
            if "error" in s:
                print(f"{'':>12}     single process: {s['error']}")
            else:
                same = all(abs(s["params"][k] / d["params"][k] - 1) < 1e-9 for k in s["params"])
                print(
                    f"{'':>12}     single process: wall {s['wall']:7.1f} s  cpu {s['cpu']:7.1f} s  "
                    f"peak MiB {s['peak_mib']:.0f}  (dask/single wall {d['wall'] / s['wall']:.1f}x; "
                    f"BG/NBD params equal within 1e-9: {same})",
                    flush=True,
                )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
