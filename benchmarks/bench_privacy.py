"""Retention purge benchmark (issue 20): ``apply_retention`` against a raw sqlite3 DELETE.

Run by hand (several minutes and ~3 GB of temporary disk at the issue's size)::

    .venv/bin/python benchmarks/bench_privacy.py             # 10,000,000 events
    .venv/bin/python benchmarks/bench_privacy.py --quick     # 100,000 events, a smoke run

What is measured, side by side in one run: a SQLite store holding N events (written
directly with SQL into the adapter's ``events`` table, spread evenly over four years,
on anonymous visitors; building N ``Event`` objects measures nothing new) is copied
byte for byte; then

1. ``store.apply_retention(RetentionPolicy(events="2y"), now)`` on the first copy (the
   adapter's purge: the DELETE, the audit entry, the commit and the WAL checkpoint that
   takes the freed bytes out of the files; ``secure_delete`` is on in the store);
2. as the reference, on the second copy, a raw ``sqlite3`` connection with the same
   pragmas (WAL, ``secure_delete``) running ``DELETE FROM events WHERE at < ?`` for the
   same rows, COMMIT, and the same checkpoint.

Both delete the same rows (half of them); wall and CPU time (``time.process_time``:
SQLite runs in this process) are printed with the ratio. Goal: 10,000,000 events < 60 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ecomcrm.storage import RetentionPolicy
from ecomcrm.storage.sqlite import SqliteStore

NOW = datetime(2027, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=4 * 365)


def build(path: Path, n: int) -> None:
    """A store file with ``n`` events evenly spread over the four years before NOW."""
    SqliteStore(path).close()  # the schema
    conn = sqlite3.connect(path, isolation_level=None)
    start = int((NOW - SPAN).timestamp() * 1_000_000)
    step = int(SPAN.total_seconds() * 1_000_000) // n
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("BEGIN")
    conn.execute(
        "WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?) "
        "INSERT INTO events (id, name, at, customer_id, anonymous_id, properties, source, "
        "product) SELECT 'e' || i, CASE i % 4 WHEN 0 THEN 'page_view' WHEN 1 THEN "
        "'product_view' WHEN 2 THEN 'add_to_cart' ELSE 'search' END, ? + i * ?, NULL, "
        "'v' || (i % 1000000), '{\"q\":\"x\"}', 'web', NULL FROM k",
        (n, start, step),
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def timed(run: object) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="100,000 events")
    args = parser.parse_args()
    n = 100_000 if args.quick else args.events
    work = Path(tempfile.mkdtemp(prefix="bench_privacy_"))
    try:
        ours, ref = work / "store.db", work / "raw.db"
        t0 = time.perf_counter()
        build(ours, n)
        shutil.copyfile(ours, ref)
        print(f"setup: {n:,} events in {time.perf_counter() - t0:.1f} s")
        cutoff = int((NOW - timedelta(days=730)).timestamp() * 1_000_000)

        def adapter() -> int:
            store = SqliteStore(ours)
            try:
                return store.apply_retention(RetentionPolicy(events="2y"), NOW).counts["events"]
            finally:
                store.close()

        def raw() -> int:
            conn = sqlite3.connect(ref, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA secure_delete = ON")
                conn.execute("BEGIN IMMEDIATE")
                deleted = conn.execute("DELETE FROM events WHERE at < ?", (cutoff,)).rowcount
                conn.execute("COMMIT")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                return int(deleted)
            finally:
                conn.close()

        a_wall, a_cpu, a_rows = timed(adapter)
        r_wall, r_cpu, r_rows = timed(raw)
        assert a_rows == r_rows, (a_rows, r_rows)
        print(
            f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs; "
            f"{a_rows:,} of {n:,} events due"
        )
        print(f"{'':<34}{'wall s':>9}{'cpu s':>9}{'events/s':>14}")
        for label, wall, cpu in (
            ("store.apply_retention(events=2y)", a_wall, a_cpu),
            ("raw sqlite3 DELETE (reference)", r_wall, r_cpu),
        ):
            print(f"{label:<34}{wall:>9.1f}{cpu:>9.1f}{a_rows / wall:>14,.0f}")
        print(f"ratio adapter/raw: wall {a_wall / r_wall:.2f}x, cpu {a_cpu / r_cpu:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
