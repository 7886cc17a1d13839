"""Import throughput: a Shopify orders CSV of N orders into a fresh SQLite store.

Goal (issue 8): >= 50,000 order rows/s for a 1,000,000-order file. The file is written by
the synthetic shop generator (Shopify's column layout, one row per line item) and cached
in the work directory; the import runs once, streaming, ``--batch`` orders per
transaction, and its figures are printed: rows/s, orders/s, the split between reading
and building records and the store's writes, and the peak resident memory (which does not
grow with the file: compare ``--orders 100000`` with the default).

The import runs twice into fresh files: in this process, then as a parallel first load
with ``--workers`` processes (``import_shopify_orders(..., workers=N)``); both reports must
agree.

Usage:
    python benchmarks/bench_import.py [--orders 1000000] [--batch 5000] [--workers 2]
                                      [--dir /tmp/ecomcrm-bench]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import ecomcrm
from ecomcrm.io import SyntheticShop, import_shopify_orders


class _NullRepo:
    def put_many(self, items: Any) -> int:
        return len(list(items))

    def find_by_identity(self, identity: Any) -> None:
        return None

    def find(self, key: Any) -> None:
        return None

    def count(self) -> int:
        return 0

    def add_refund(self, refund: Any) -> bool:
        return True

    def add_refunds(self, refunds: Any) -> int:
        return len(list(refunds))


class _NullStore:
    """Accepts everything: measures reading, parsing and building the domain records alone."""

    customers = _NullRepo()
    orders = _NullRepo()

    def transaction(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def is_suppressed(self, identity: Any) -> bool:
        return False


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--workers", type=int, default=2, help="processes of the parallel run")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "ecomcrm-bench"))
    ap.add_argument("--no-parse-only", action="store_true", help="skip the null-store pass")
    ap.add_argument("--parse-only", action="store_true", help="only the null-store pass")
    args = ap.parse_args()

    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    csv_path = work / f"shopify_orders_{args.orders}.csv"
    if not csv_path.exists():
        t = time.perf_counter()
        shop = SyntheticShop(customers=max(1_000, int(args.orders / 2.0)), seed=2024,
                             events=False, chunk_size=20_000)  # fmt: skip
        paths = shop.to_files(work / "gen", max_orders=args.orders, events=False)
        shutil.move(str(paths["orders"]), csv_path)
        print(f"generated {csv_path.name} in {time.perf_counter() - t:.1f}s")
    rows = sum(1 for _ in csv_path.open(encoding="utf-8")) - 1
    size_mb = csv_path.stat().st_size / 1e6
    print(f"file: {args.orders:,} orders, {rows:,} rows, {size_mb:,.0f} MB; batch {args.batch:,}")
    print(f"load: {os.getloadavg()[0]:.2f} (1-min average) on {os.cpu_count()} cores")

    if not args.no_parse_only:
        t = time.perf_counter()
        report = import_shopify_orders(_NullStore(), csv_path, batch_size=args.batch)  # type: ignore[arg-type]
        dt_parse = time.perf_counter() - t
        print(f"read+build only (null store): {dt_parse:.1f}s  {rows / dt_parse:,.0f} rows/s  "
              f"{report.read / dt_parse:,.0f} orders/s, peak RSS {_rss_mb():,.0f} MB")  # fmt: skip
        if args.parse_only:
            return

    summaries = []
    for workers in (1, args.workers):
        db = work / "import.db"
        for suffix in ("", "-wal", "-shm"):
            Path(str(db) + suffix).unlink(missing_ok=True)
        store = ecomcrm.open_store(f"sqlite:///{db}")
        rss0 = _rss_mb()
        t = time.perf_counter()
        report = import_shopify_orders(store, csv_path, batch_size=args.batch, workers=workers)
        count = store.orders.count()
        store.close()  # the last checkpoint of the write-ahead log is part of the import
        dt = time.perf_counter() - t
        print(report.summary())
        rate = rows / dt
        how = "in this process" if workers == 1 else f"{workers} worker processes"
        print(f"import into SQLite, {how}: {dt:.1f}s  {rate:,.0f} order rows/s  "
              f"{report.read / dt:,.0f} orders/s  (goal >= 50,000 rows/s: "
              f"{'met' if rate >= 50_000 else 'NOT met'}, {rate / 50_000:.2f}x)")  # fmt: skip
        print(f"peak RSS of this process: {_rss_mb():,.0f} MB (before import {rss0:,.0f} MB; "
              "SQLite's page cache and memory-mapped file pages count here)")  # fmt: skip
        if workers > 1:
            children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"peak RSS of the largest worker process: {children:,.0f} MB")
        assert count == report.imported
        summaries.append(report.summary())
    assert summaries[0] == summaries[-1], summaries


if __name__ == "__main__":
    main()
