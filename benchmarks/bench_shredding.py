"""The cost of crypto-shredding: import throughput and customer 360 latency, with and without.

The same customers (email, phone, names, an address, a free-text note) and events (one
property marked personal) go into a bare ``SqliteStore`` and into
``encrypted_store(SqliteStore, KeyRing)`` (AES-GCM per person, keys wrapped by a master
key, emails and phones looked up by HMAC); then ``customer_360`` is read for the same
random customers from both. Printed side by side: wall and CPU seconds of this process
(the machine is shared: the load average is printed at the start and the end, and the CPU
ratio is the figure to compare), customers per CPU second, and the 360's p50 / p99.

Run:  .venv/bin/python benchmarks/bench_shredding.py [--customers 20000] [--reads 500]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from ecomcrm.domain import Address, Customer, Event, Identity
from ecomcrm.privacy.shredding import KeyRing, StaticKeyProvider, encrypted_store
from ecomcrm.storage import SqliteStore, Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 1000


def _people(n: int) -> list[Customer]:
    return [
        Customer(
            id=f"c{i:07d}",
            created_at=T0 + timedelta(minutes=i),
            identities=[
                Identity.email(f"person{i}@example.com"),
                Identity.phone(f"+1555{i % 10_000_000:07d}"),
            ],
            first_name=f"First{i}",
            last_name=f"Last{i}",
            addresses=[Address(line1=f"{i} Main St", city="Springfield", postal_code="12345")],
            attributes={"note": f"likes product {i % 97}", "visits": i % 13},
        )
        for i in range(n)
    ]


def _events(n: int) -> list[Event]:
    return [
        Event(
            name="Viewed Product",
            at=T0 + timedelta(minutes=i, seconds=k),
            customer_id=f"c{i:07d}",
            properties={"sku": f"S{k}", "note": f"gift for friend {i}"},
        )
        for i in range(n)
        for k in range(2)
    ]


def _timed(work: Callable[[], None]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _load(store: Store, people: list[Customer], events: list[Event]) -> None:
    for start in range(0, len(people), BATCH):
        store.customers.put_many(people[start : start + BATCH])
    for start in range(0, len(events), 2 * BATCH):
        store.events.append_many(events[start : start + 2 * BATCH])


def _reads(store: Store, ids: list[str]) -> tuple[np.ndarray, float]:
    wall = np.empty(len(ids))
    cpu = time.process_time()
    for k, cid in enumerate(ids):
        t = time.perf_counter()
        store.customer_360(cid)
        wall[k] = time.perf_counter() - t
    return wall * 1000.0, (time.process_time() - cpu) / len(ids) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=500)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    people, events = _people(args.customers), _events(args.customers)
    ids = random.Random(7).sample([c.id for c in people], min(args.reads, len(people)))
    folder = Path(tempfile.mkdtemp())
    plain: Store = SqliteStore(folder / "plain.db")
    ring = KeyRing(folder / "keys.db", StaticKeyProvider({"k1": os.urandom(32)}))
    sealed: Store = encrypted_store(  # type: ignore[assignment]
        SqliteStore(folder / "sealed.db"), ring, personal_properties={"note"}
    )
    results = {}
    for name, store in (("plain", plain), ("encrypted", sealed)):
        wall, cpu = _timed(lambda s=store: _load(s, people, events))  # type: ignore[misc]
        latency, cpu_per_read = _reads(store, ids)
        results[name] = (wall, cpu, latency, cpu_per_read)
    n = args.customers
    print(f"import of {n:,} customers and {2 * n:,} events (batches of {BATCH}):")
    print(f"{'':>10} {'wall s':>8} {'CPU s':>8} {'cust/CPU s':>11}")
    for name, (wall, cpu, _, _) in results.items():
        print(f"{name:>10} {wall:8.2f} {cpu:8.2f} {n / cpu:11,.0f}")
    print(f"  encrypted / plain CPU: {results['encrypted'][1] / results['plain'][1]:.2f}x")
    print(f"customer_360 of {len(ids)} random customers:")
    print(f"{'':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/read':>12}")
    for name, (_, _, latency, cpu_read) in results.items():
        p50, p99 = np.percentile(latency, [50, 99])
        print(f"{name:>10} {p50:8.2f} {p99:8.2f} {cpu_read:12.2f}")
    ratio = results["encrypted"][3] / results["plain"][3]
    print(f"  encrypted / plain CPU per read: {ratio:.2f}x")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    plain.close()
    sealed.close()


if __name__ == "__main__":
    main()
