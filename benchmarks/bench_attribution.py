"""Benchmark ecomcrm.metrics.last_touch beside pandas.merge_asof on the same data, in one run.

The issue's size is 10,000,000 messages and 10,000,000 orders (goal: under 10 s on this
machine). Messages go to ``--customers`` customers over one year, on two channels with
Klaviyo's windows (email 5 days, SMS 1 day); orders to the same customers over the same
year. Both sides arrive in time order (as ``Store.order_facts`` and a message log read by
instant give them) and, in a second case, shuffled.

The reference is the idiomatic pandas: one ``merge_asof(by=customer,
allow_exact_matches=False, tolerance=window)`` per channel, then the latest of the
channels' candidates per order. Both must credit the same orders with the same revenue
(the checksum line). Figures are CPU seconds (``time.process_time``; this machine is
shared, so wall time is printed too but CPU time and the ratio are what count) and the
load average at the start and end.

Usage:
    .venv/bin/python benchmarks/bench_attribution.py [--sizes 1000000 10000000]
        [--customers-per-order 0.1] [--no-shuffled] [--no-pandas]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ecomcrm.metrics import last_touch

START = np.datetime64("2025-01-01", "us")
SPAN_US = 365 * 86_400_000_000
WINDOWS = {0: np.timedelta64(5, "D"), 1: np.timedelta64(1, "D")}  # 0 email, 1 sms


def make_data(n: int, customers: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tt = np.sort(START + rng.integers(0, SPAN_US, n).astype("m8[us]"))
    ot = np.sort(START + rng.integers(0, SPAN_US, n).astype("m8[us]"))
    return {
        "touch_customer": rng.integers(0, customers, n, dtype=np.int64),
        "touch_time": tt,
        "channel": (rng.random(n) < 0.3).astype(np.int64),
        "order_customer": rng.integers(0, customers, n, dtype=np.int64),
        "order_time": ot,
        "amount": np.round(rng.gamma(2.0, 30.0, n), 2),
    }


def ours(d: dict[str, np.ndarray]) -> np.ndarray:
    window = np.where(d["channel"] == 0, WINDOWS[0], WINDOWS[1]).astype("m8[us]")
    return last_touch(
        d["order_customer"], d["order_time"], d["touch_customer"], d["touch_time"], window=window
    )


def reference(d: dict[str, np.ndarray]) -> np.ndarray:
    orders = pd.DataFrame(
        {"c": d["order_customer"], "t": d["order_time"], "row": np.arange(len(d["order_time"]))}
    )
    orders = orders.sort_values("t", kind="stable")
    best_t = np.full(len(orders), np.iinfo(np.int64).min)
    credited = np.full(len(orders), -1)
    for channel, window in WINDOWS.items():
        sub = np.flatnonzero(d["channel"] == channel)
        touches = pd.DataFrame(
            {"c": d["touch_customer"][sub], "t": d["touch_time"][sub], "touch": sub}
        )
        touches = touches.sort_values("t", kind="stable")
        touches["tt"] = touches["t"]
        merged = pd.merge_asof(
            orders, touches, on="t", by="c", allow_exact_matches=False,
            tolerance=pd.Timedelta(window),
        )  # fmt: skip
        rows = merged["row"].to_numpy()
        found = merged["touch"].notna().to_numpy()
        tt = merged["tt"].to_numpy().astype("M8[us]").view(np.int64)
        later = found & (tt >= best_t[rows])
        best_t[rows[later]] = tt[later]
        credited[rows[later]] = merged["touch"].to_numpy()[later].astype(np.int64)
    return credited


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall = time.perf_counter()
    cpu = time.process_time()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--customers-per-order", type=float, default=0.1)
    parser.add_argument("--no-shuffled", action="store_true")
    parser.add_argument("--no-pandas", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    for n in args.sizes:
        customers = max(1, int(n * args.customers_per_order))
        cases = [("time-ordered", make_data(n, customers))]
        if not args.no_shuffled:
            rng = np.random.default_rng(1)
            d = dict(cases[0][1])
            p, q = rng.permutation(n), rng.permutation(n)
            for k in ("touch_customer", "touch_time", "channel"):
                d[k] = d[k][p]
            for k in ("order_customer", "order_time", "amount"):
                d[k] = d[k][q]
            cases.append(("shuffled", d))
        for label, data in cases:
            got, cpu, wall = timed(lambda data=data: ours(data))
            hit = got >= 0
            line = (
                f"{n:>11,} messages x {n:,} orders, {customers:,} customers, {label:>12}: "
                f"ecomcrm {cpu:6.2f} s CPU ({wall:6.2f} s wall)"
            )
            revenue = float(data["amount"][hit].sum())
            if not args.no_pandas:
                ref, rcpu, rwall = timed(lambda data=data: reference(data))
                rhit = ref >= 0
                same = bool(np.array_equal(ref, got))
                line += (
                    f" | pandas merge_asof {rcpu:6.2f} s CPU ({rwall:6.2f} s wall)"
                    f" | ratio {rcpu / cpu:5.2f}x | same credits: {same}"
                )
                assert np.isclose(revenue, float(data["amount"][rhit].sum()))
            print(line)
            print(f"{'':>13}checksum: {int(hit.sum()):,} orders credited, revenue {revenue:,.2f}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
