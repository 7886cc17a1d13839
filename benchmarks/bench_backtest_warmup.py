"""Warm backtests (issue 13, item 8): what the warm-up costs and what it changes.

For a synthetic shop (``ecomcrm demo``'s: ``SyntheticShop(seed=7)`` in SQLite) this runs
the built-in flows over the last 1 and 30 days three ways: cold (``warmup=None``, the old
behaviour: every trigger judged afresh on the first day), warm from the store alone
(the window's events only, as ``ecomcrm demo`` passes them), and warm with the history
events of the warm-up period too. It prints each run's seconds (wall and CPU of this
process; the machine's load first, since the wall figure also measures other work) and
the win-back figures the issue names.

Run:  .venv/bin/python benchmarks/bench_backtest_warmup.py [--customers 1500 5000 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

import ecomcrm
from ecomcrm.domain import Event
from ecomcrm.io import SyntheticShop
from ecomcrm.rules import backtest, builtin_flows, warmup_horizon
from ecomcrm.storage import Store


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
    parser.add_argument("--customers", type=int, nargs="+", default=[1_500, 5_000, 10_000])
    parser.add_argument("--days", type=int, nargs="+", default=[1, 30])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    flows = builtin_flows()
    horizon = warmup_horizon(flows)
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.customers:
            shop = SyntheticShop(customers=n, seed=7)
            store = ecomcrm.open_store(f"sqlite:///{Path(tmp) / f'shop{n}.db'}")
            shop.to_store(store)
            now = shop.end
            for days in args.days:
                start = now - timedelta(days=days)
                window = events_since(store, start)
                with_history = events_since(store, start - horizon)
                runs: tuple[tuple[str, list[Event], dict[str, Any]], ...] = (
                    ("cold", window, {"warmup": None}),
                    ("warm (store)", window, {"start": start}),
                    ("warm (store + history events)", with_history, {"start": start}),
                )
                for label, events, options in runs:
                    wall, cpu = time.perf_counter(), time.process_time()
                    report = backtest(store, flows, events, end=now, **options)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    wb = report.flows["win_back"]
                    print(
                        f"{n:>6,} customers, {days:>2} d, {label:<30} "
                        f"{wall:6.1f} s wall {cpu:6.1f} s CPU; "
                        f"{report.events:>5,} events (+{report.warmup_events:,} warm-up); "
                        f"win-back entered {wb.enrollments:>5,} (+{wb.holdout_enrollments} "
                        f"holdout), sent {sum(wb.actions.values()):>5,}; "
                        f"all actions {len(report.actions):,}"
                    )
            store.close()


if __name__ == "__main__":
    main()
