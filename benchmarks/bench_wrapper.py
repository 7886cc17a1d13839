"""A backtest through a forwarding wrapper store against the bare SQLite store (issue 21.2).

A store wrapped for logging, metrics or access control must keep the fast paths of the
store it wraps: they are named capabilities (``ecomcrm.storage.Supports...``) that the
wrapper of ``examples/forwarding_store.py`` passes through. Before the capabilities the
engine chose them by concrete class and private attributes, and a three-line wrapper made
this backtest 5x slower (27 s -> 141 s). Goal: within 1.2x.

The shop is ``ecomcrm demo``'s synthetic one (``SyntheticShop(seed=7)``) in SQLite; the
backtest replays the built-in flows over its last 30 days, warm from the store (as
``benchmarks/bench_backtest_warmup.py``'s "warm (store)" run). The runs alternate, in
reversed order every other round (``--rounds``), and the medians are compared (on a
loaded machine the best run is a lucky one, the median is steadier); wall and CPU seconds of this process are
printed (the machine's load first: the wall figure also measures other work). With
``--core-only`` a third run goes through the wrapper class without its capability mixins
(the core contract only), which shows what the capabilities are worth.

Run:  .venv/bin/python benchmarks/bench_wrapper.py [--customers 3000] [--rounds 4] [--core-only]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np

import ecomcrm
from ecomcrm.domain import Event
from ecomcrm.io import SyntheticShop
from ecomcrm.rules import backtest, builtin_flows
from ecomcrm.storage import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "forwarding_store.py"


def _forwarding() -> ModuleType:
    spec = importlib.util.spec_from_file_location("forwarding_store", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["forwarding_store"] = module
    spec.loader.exec_module(module)
    return module


def events_since(store: Store, since: datetime) -> list[Event]:
    """The events of every customer active since ``since`` (as ``ecomcrm demo`` reads them)."""
    facts = store.event_facts()
    since64 = np.datetime64(since.replace(tzinfo=None).isoformat(), "us")
    recent = facts.customer_index[(facts.at >= since64) & (facts.customer_index >= 0)]
    out: list[Event] = []
    for index in np.unique(recent).tolist():
        out.extend(store.events.for_customer(str(facts.customer_ids[index]), since=since))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--core-only", action="store_true")
    args = parser.parse_args()
    forwarding = _forwarding()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    flows = builtin_flows()
    with tempfile.TemporaryDirectory() as tmp:
        shop = SyntheticShop(customers=args.customers, seed=7)
        bare = ecomcrm.open_store(f"sqlite:///{Path(tmp) / 'shop.db'}")
        shop.to_store(bare)
        now = shop.end
        start = now - timedelta(days=args.days)
        window = events_since(bare, start)
        stores: dict[str, Store] = {
            "bare SqliteStore": bare,
            "forwarding wrapper": forwarding.forwarding_store(bare),
        }
        if args.core_only:
            stores["wrapper, core contract only"] = forwarding.ForwardingStore(bare)
        runs: dict[str, list[tuple[float, float]]] = {label: [] for label in stores}
        actions: dict[str, int] = {}
        for n in range(args.rounds):
            # the order alternates (ABBA), so a load that drifts during the run favours none
            order = list(stores.items())
            for label, store in order if n % 2 == 0 else reversed(order):
                wall, cpu = time.perf_counter(), time.process_time()
                report = backtest(store, flows, window, start=start, end=now)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                actions[label] = len(report.actions)
                runs[label].append((wall, cpu))
        median = {
            label: (
                statistics.median(w for w, _ in times),
                statistics.median(c for _, c in times),
            )
            for label, times in runs.items()
        }
        print(
            f"backtest of {args.customers:,} customers, last {args.days} days "
            f"({len(window):,} events), median of {args.rounds} interleaved runs:"
        )
        base_wall, base_cpu = median["bare SqliteStore"]
        for label, (wall, cpu) in median.items():
            print(
                f"  {label:<30}{wall:7.1f} s wall {cpu:7.1f} s CPU   "
                f"ratio {wall / base_wall:4.2f}x wall {cpu / base_cpu:4.2f}x CPU   "
                f"({actions[label]:,} actions)"
            )
        print("  goal: the wrapper within 1.2x of the bare store")
        bare.close()


if __name__ == "__main__":
    main()
