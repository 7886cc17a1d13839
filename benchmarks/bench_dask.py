"""Benchmark ecomcrm.dask end to end at growing sizes, beside single-process ecomcrm.

The pipeline (the same in both): read the Parquet transactions, convert nothing (one
currency), customer_summary (freq "W"), RFM scores, BG/NBD and Gamma-Gamma fits, P(alive),
expected purchases, 12-month CLV and churn risk, results written to Parquet.

* ecomcrm.dask on ``distributed.LocalCluster(n_workers=2, threads_per_worker=1,
  processes=True)``, partitions of a fixed size (``--rows-per-partition``), summaries
  written to Parquet once and read back for the later passes (nothing persisted, so no
  worker holds more than a few partitions whatever the data size);
* single-process ecomcrm (pandas.read_parquet + the array functions), in a subprocess;
* with ``--lifetimes PYTHON`` (the reference venv of ``setup_reference_envs.sh``): pandas
  groupby + lifetimes 0.11.3 doing the same work (``summary_data_from_transaction_data``,
  ``BetaGeoFitter``, ``GammaGammaFitter`` on repeat buyers, P(alive), expected purchases,
  12-month CLV, RFM quintiles by ``pandas.qcut``) on the same transactions (handed over as
  ``.npy`` arrays), each step timed, stopped after ``--lifetimes-timeout`` seconds.

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

import ecomcrm.dask as ed

START = np.datetime64("2021-01-01", "us")
DAYS = 3 * 365
OBS_END = "2023-12-31T23:59:59"
US_PER_DAY = 86_400_000_000
TX_PER_CUSTOMER = 15.0  # about, with the parameters below


def write_dataset(
    root: pathlib.Path, transactions: int, chunk_customers: int, seed: int = 0
) -> int:
    """Write about ``transactions`` rows as Parquet files, one chunk of customers at a time."""
    return ed.write_synthetic_transactions(
        root, transactions=transactions, chunk_customers=chunk_customers, seed=seed,
        start=str(START.astype("datetime64[D]")), days=DAYS,
    )  # fmt: skip


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


LIFETIMES = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
folder, end = sys.argv[1], sys.argv[2]
steps = {}
def step(name, t0):
    steps[name] = round(time.perf_counter() - t0, 2)
    print(json.dumps({"step": name, "seconds": steps[name]}), flush=True)
    return time.perf_counter()
t = t0 = time.perf_counter()
tx = pd.DataFrame({"customer_id": np.load(folder + "/customer_id.npy"),
                   "date": np.load(folder + "/timestamp.npy"), "amount": np.load(folder + "/amount.npy")})
t = step("load", t)
s = summary_data_from_transaction_data(tx, "customer_id", "date", monetary_value_col="amount",
                                       observation_period_end=end, freq="W")
del tx
t = step("summary (pandas groupby)", t)
rfm = pd.DataFrame({f: pd.qcut(v.rank(method="first"), 5, labels=False) + 1
                    for f, v in (("r", s["recency"]), ("f", s["frequency"]), ("m", s["monetary_value"]))})
t = step("RFM quintiles", t)
bg = BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
t = step("BG/NBD fit", t)
rep = s[s["frequency"] > 0]
gg = GammaGammaFitter(penalizer_coef=0.0).fit(rep["frequency"], rep["monetary_value"])
t = step("Gamma-Gamma fit", t)
p = bg.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
e = bg.conditional_expected_number_of_purchases_up_to_time(12 * 30.4375 / 7, s["frequency"], s["recency"], s["T"])
t = step("P(alive) + expected purchases", t)
clv = gg.customer_lifetime_value(bg, s["frequency"], s["recency"], s["T"], s["monetary_value"],
                                 time=12, freq="W", discount_rate=0.01)
t = step("12-month CLV", t)
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": u.ru_utime + u.ru_stime, "steps": steps,
                  "params": {k: float(v) for k, v in bg.params_.items()}}), flush=True)
"""


def run_lifetimes(
    python: str, data: pathlib.Path, out: pathlib.Path, timeout: float
) -> dict[str, Any]:
    """pandas groupby + lifetimes on the same transactions; the steps done before a timeout."""
    tx = pd.read_parquet(data, columns=["customer_id", "timestamp", "amount"])
    folder = out / "npy"
    folder.mkdir()
    # integer codes: an object array pickled by numpy 2 does not load in numpy < 1.25
    np.save(folder / "customer_id.npy", pd.factorize(tx["customer_id"])[0].astype(np.int64))
    np.save(folder / "timestamp.npy", tx["timestamp"].to_numpy().astype("datetime64[ns]"))
    np.save(folder / "amount.npy", tx["amount"].to_numpy(dtype=np.float64))
    del tx
    steps: dict[str, float] = {}
    proc = subprocess.Popen(
        [python, "-c", LIFETIMES, str(folder), OBS_END],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        stderr = f"stopped after {timeout:.0f} s"
    final: dict[str, Any] = {}
    for line in stdout.splitlines():
        record = json.loads(line)
        if "step" in record:
            steps[record["step"]] = record["seconds"]
        else:
            final = record
    shutil.rmtree(folder, ignore_errors=True)
    if not final:
        tail = stderr.strip().splitlines()[-1:] or ["no output"]
        return {"error": tail[0], "steps": steps}
    return final


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
    ap.add_argument("--no-dask", action="store_true", help="only the single-process runs")
    ap.add_argument("--lifetimes", default=None, help="python of the lifetimes reference venv")
    ap.add_argument("--lifetimes-timeout", type=float, default=1800.0)
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
        d = None if args.no_dask else run_dask(data, out, rows, args.rows_per_partition)
        if d is not None:
            print(
                f"{rows:>12,} tx  dask 2 workers: wall {d['wall']:7.1f} s (summary {d['summary_wall']:.1f}, "
                f"+fits {d['fit_wall']:.1f})  cpu {d['cpu']:7.1f} s  partitions {d['npartitions']}  "
                f"worker peak MiB {d['worker_peak_mib']}",
                flush=True,
            )
        if args.no_single or size > args.single_up_to:
            continue
        s = run_single(data, out)
        if "error" in s:
            print(f"{rows:>12,} tx  single process: {s['error']}")
        else:
            versus = ""
            if d is not None:
                same = all(abs(s["params"][k] / d["params"][k] - 1) < 1e-9 for k in s["params"])
                versus = (
                    f"  (dask/single wall {d['wall'] / s['wall']:.1f}x; "
                    f"BG/NBD params equal within 1e-9: {same})"
                )
            print(
                f"{rows:>12,} tx  single process: wall {s['wall']:7.1f} s  cpu {s['cpu']:7.1f} s  "
                f"peak MiB {s['peak_mib']:.0f}{versus}",
                flush=True,
            )
        if args.lifetimes:
            ref = run_lifetimes(args.lifetimes, data, out, args.lifetimes_timeout)
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in ref.get("steps", {}).items())
            if "error" in ref:
                print(f"{rows:>12,} tx  pandas + lifetimes: {ref['error']}; done: {steps}")
            else:
                ratio, agree = "", ""
                if "error" not in s:
                    ratio = f"  ({ref['cpu'] / s['cpu']:.1f}x single ecomcrm's CPU)"
                    diff = max(abs(ref["params"][k] / s["params"][k] - 1) for k in s["params"])
                    agree = f" (max relative difference from ecomcrm's {diff:.1e})"
                print(
                    f"{rows:>12,} tx  pandas + lifetimes: wall {ref['wall']:7.1f} s  "
                    f"cpu {ref['cpu']:7.1f} s{ratio}; {steps}; BG/NBD {ref['params']}{agree}",
                    flush=True,
                )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
