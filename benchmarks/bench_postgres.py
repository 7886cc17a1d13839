"""PostgresStore benchmarks (issue 15), side by side with SqliteStore and raw psycopg.

Run by hand against a PostgreSQL server (``ECOMCRM_TEST_POSTGRES``, default
``postgresql://postgres@127.0.0.1:5432/test``); every store lives in a fresh schema that is
dropped at the end::

    .venv/bin/python benchmarks/bench_postgres.py                    # 100,000 orders
    .venv/bin/python benchmarks/bench_postgres.py --orders 1000000   # the issue's size
    .venv/bin/python benchmarks/bench_postgres.py --quick            # 10,000 orders, a smoke run

What is measured, in one run:

1. Ingest: ``store.orders.put_many`` of prebuilt ``Order`` objects (1-3 lines each) into a
   store that holds their customers: PostgresStore, SqliteStore, and as the reference a raw
   psycopg ``COPY`` of *the same row tuples* (computed beforehand, untimed) into the same
   tables of another schema, in one transaction. Goal: PostgresStore >= 0.5x raw COPY.
2. Order facts into numpy: ``store.order_facts()`` over those orders (PostgresStore: one
   aggregating statement, a column per ``array_agg``; SqliteStore: warm, from its facts cache, and cold, from the tables), beside a raw
   psycopg ``fetchall`` of the same columns turned into arrays. Rows/s.
3. Customer 360: ``store.customer_360(id)`` for 1,000 random customers: p50 and p99.
4. Rules engine: ``Engine.handle_many`` of the same checkout events by 1, 2 and 4 OS
   processes on one PostgresStore (each process its own pool; every process handles every
   event, so all but one delivery of each is a redelivery): events/s of the whole run and
   the count of distinct actions, which must equal one process's.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg

from ecomcrm.domain import Consent, Customer, Event, Identity, Order, OrderLine
from ecomcrm.rules import ActionStep, Engine, Flow, Policies, Retry, Trigger, WaitStep
from ecomcrm.storage import PostgresStore, SqliteStore
from ecomcrm.storage._sql_rows import LINE_COLUMNS, ORDER_COLUMNS, line_values, order_values

SERVER = os.environ.get("ECOMCRM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
T0 = datetime(2023, 1, 1, tzinfo=UTC)
SKUS = [f"SKU-{i:04d}" for i in range(500)]


def url_of(schema: str) -> str:
    return f"{SERVER}{'&' if '?' in SERVER else '?'}schema={schema}"


def drop(schema: str) -> None:
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def customers(n: int) -> Iterator[Customer]:
    for i in range(n):
        yield Customer(
            id=f"c{i:07d}",
            created_at=T0 + timedelta(minutes=i),
            identities=[Identity.email(f"user{i}@example.com")],
            first_name="First",
            country="FR" if i % 3 else "DE",
        )


def orders(n: int, n_customers: int, seed: int = 7) -> list[Order]:
    rng = random.Random(seed)
    return [
        Order(
            id=f"o{i:08d}",
            customer_id=f"c{rng.randrange(n_customers):07d}",
            placed_at=T0 + timedelta(seconds=rng.randrange(2 * 365 * 86_400)),
            currency="EUR",
            lines=[
                OrderLine(
                    sku=SKUS[rng.randrange(500)],
                    title="Item",
                    quantity=rng.randint(1, 3),
                    unit_price=f"{rng.randint(100, 9999) / 100:.2f}",
                )
                for _ in range(rng.randint(1, 3))
            ],
            shipping="4.90",
        )
        for i in range(n)
    ]


def bench_ingest(
    n_orders: int, n_customers: int, pg: PostgresStore, sqlite: SqliteStore
) -> list[Order]:
    print(f"\n== ingest: {n_orders:,} orders with lines, {n_customers:,} customers ==")
    objs = orders(n_orders, n_customers)
    gc.collect()
    gc.freeze()  # the prebuilt objects are the benchmark's: no collection walks them
    for store in (pg, sqlite):
        store.customers.put_many(customers(n_customers))
    order_rows = [order_values(o, o.customer_id) for o in objs]
    line_rows = [v for o in objs for v in line_values(o)]

    raw_schema = f"bench_raw_{uuid.uuid4().hex[:8]}"
    raw_store = PostgresStore(url_of(raw_schema))
    raw_store.customers.put_many(customers(n_customers))
    raw_store.close()
    try:
        with psycopg.connect(url_of(raw_schema).split("?")[0]) as conn:
            conn.execute(f"SET search_path = {raw_schema}".encode())
            t, c = time.perf_counter(), time.process_time()
            with conn.cursor() as cur:
                with cur.copy(f"COPY orders ({ORDER_COLUMNS}) FROM STDIN".encode()) as copy:
                    for row in order_rows:
                        copy.write_row(row)
                with cur.copy(f"COPY order_lines ({LINE_COLUMNS}) FROM STDIN".encode()) as copy:
                    for row in line_rows:
                        copy.write_row(row)
            conn.commit()
            raw, raw_cpu = time.perf_counter() - t, time.process_time() - c
    finally:
        drop(raw_schema)
    del order_rows, line_rows

    t, c = time.perf_counter(), time.process_time()
    pg.orders.put_many(objs)
    pg_s, pg_cpu = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    sqlite.orders.put_many(objs)
    sq_s, sq_cpu = time.perf_counter() - t, time.process_time() - c
    print(
        f"raw psycopg COPY (same rows, same tables) {n_orders / raw:>12,.0f} orders/s"
        f"   ({raw:.1f} s wall, {raw_cpu:.1f} s client CPU)"
    )
    print(
        f"PostgresStore.orders.put_many             {n_orders / pg_s:>12,.0f} orders/s"
        f"   ({pg_s:.1f} s wall, {pg_cpu:.1f} s client CPU)   ratio to raw COPY {raw / pg_s:.2f}"
        " (goal >= 0.5)"
    )
    print(
        f"SqliteStore.orders.put_many               {n_orders / sq_s:>12,.0f} orders/s"
        f"   ({sq_s:.1f} s wall, {sq_cpu:.1f} s CPU)   PostgresStore / SqliteStore "
        f"{sq_s / pg_s:.2f}x"
    )
    gc.unfreeze()
    return objs


def bench_facts(n_orders: int, pg: PostgresStore, sqlite: SqliteStore) -> None:
    print(f"\n== order facts into numpy: {n_orders:,} orders ==")

    cpu: dict[object, float] = {}

    def best(fn: object, times: int = 3) -> float:
        out = []
        for _ in range(times):
            t, c = time.perf_counter(), time.process_time()
            fn()  # type: ignore[operator]
            out.append(time.perf_counter() - t)
            cpu[fn] = min(cpu.get(fn, 1e9), time.process_time() - c)
        return min(out)

    def raw_fetch() -> None:
        with psycopg.connect(SERVER) as conn:
            conn.execute(f"SET search_path = {pg.schema}".encode())
            rows = conn.execute(
                "SELECT id, placed_at, amount, discount_amount, units, cancelled FROM orders"
            ).fetchall()
            ids, at, amount, discount, units, cancelled = zip(*rows, strict=True)
            np.array(ids, dtype=object), np.array(at, dtype=np.int64)
            np.array(amount), np.array(discount), np.array(units), np.array(cancelled)

    # at 10M rows one read of each is minutes on a loaded 2-core machine: once each, and
    # no raw fetchall (60M Python objects, several GB)
    repeat = 3 if n_orders <= 2_000_000 else 1
    pg_s = best(pg.order_facts, repeat)
    cold = best(sqlite.order_facts, 1)  # the first read after the import writes the cache
    warm = best(sqlite.order_facts, repeat)
    assert np.array_equal(pg.order_facts().order_id, sqlite.order_facts().order_id)
    print(
        f"PostgresStore.order_facts (array_agg)    {n_orders / pg_s:>12,.0f} rows/s ({pg_s:.2f} s"
        f" wall, {cpu[pg.order_facts]:.2f} s client CPU; goal >= 2,000,000 rows/s)"
    )
    if n_orders <= 2_000_000:
        raw = best(raw_fetch, repeat)
        print(f"raw psycopg fetchall -> numpy             {n_orders / raw:>12,.0f} rows/s ({raw:.2f} s"
              f" wall, {cpu[raw_fetch]:.2f} s CPU)   PostgresStore / raw {raw / pg_s:.2f}x")  # fmt: skip
    print(
        f"SqliteStore.order_facts (cold, tables)    {n_orders / cold:>12,.0f} rows/s ({cold:.2f} s)"
        f"   PostgresStore / SqliteStore cold {cold / pg_s:.2f}x"
    )
    print(
        f"SqliteStore.order_facts (warm cache)      {n_orders / warm:>12,.0f} rows/s ({warm:.2f} s"
        f" wall, {cpu[sqlite.order_facts]:.2f} s CPU)"
    )
    lines = best(pg.line_facts, 1)
    sq_lines = best(sqlite.line_facts, 1)
    print(f"line facts: PostgresStore {lines:.2f} s, SqliteStore {sq_lines:.2f} s")
    table = best(pg.customer_table, 1)
    sq_table = best(sqlite.customer_table, 1)
    print(f"customer table: PostgresStore {table:.2f} s, SqliteStore {sq_table:.2f} s")


# Order facts at the size (10M) are generated by SQL in both databases, with the
# same integer formulas (building 10M Order objects in Python would take most of an hour
# and tens of GB); every value is one the store itself could have written.
_T0_US = 1672531200000000  # 2023-01-01 UTC


def _facts_select(n_orders: int, n_customers: int, series: str) -> str:
    """The SELECT of the generated orders (``series`` yields ``i``); PG and SQLite alike."""
    amount = "((i * 37) % 9900 + 100)"  # cents
    return (
        f"SELECT 'o' || substr('0000000000' || i, -10, 10), "
        f"'c' || substr('0000000' || ((i * 7919) % {n_customers}), -7, 7), "
        f"{_T0_US} + ((i * 104729) % 63072000) * 1000000, 'EUR', "
        f"{{money}}, '0.00', '0.00', '0.00', {{false}}, {{money}}, "
        f"CASE WHEN i % 50 = 0 THEN 'cancelled' ELSE 'paid' END, "
        f"{amount} / 100.0, 0.0, i % 3 + 1, {{cancelled}} FROM {series}"
    )


def fill_facts(pg: PostgresStore, sqlite: SqliteStore, n_orders: int, n_customers: int) -> None:
    """``n_customers`` customers and ``n_orders`` orders (no lines) in both stores, by SQL."""
    cols = (
        "id, customer_id, placed_at, currency, subtotal, discount, shipping, tax, "
        "taxes_included, total, status, amount, discount_amount, units, cancelled"
    )
    money_pg = "to_char(((i * 37) % 9900 + 100) / 100.0, 'FM999990.00')"
    money_sq = "printf('%.2f', ((i * 37) % 9900 + 100) / 100.0)"
    t = time.perf_counter()
    with psycopg.connect(SERVER, autocommit=True) as conn:
        conn.execute(f"SET search_path = {pg.schema}".encode())
        conn.execute(
            f"INSERT INTO customers (id, created_at) SELECT 'c' || lpad(i::text, 7, '0'), "
            f"{_T0_US} + i::int8 * 60000000 FROM generate_series(0, {n_customers - 1}) i".encode()
        )
        sql = _facts_select(n_orders, n_customers, f"generate_series(0, {n_orders - 1}) i")
        sql = sql.replace("substr('0000000000' || i, -10, 10)", "lpad(i::text, 10, '0')")
        sql = sql.replace(
            f"substr('0000000' || ((i * 7919) % {n_customers}), -7, 7)",
            f"lpad(((i::int8 * 7919) % {n_customers})::text, 7, '0')",
        )
        sql = sql.replace("(i * ", "(i::int8 * ")
        conn.execute(
            f"INSERT INTO orders ({cols}) "
            f"{sql.format(money=money_pg, false='false', cancelled='i % 50 = 0')}".encode()
        )
        conn.execute(b"VACUUM ANALYZE orders")
        conn.execute(b"VACUUM ANALYZE customers")
    pg_s = time.perf_counter() - t
    t = time.perf_counter()
    raw = sqlite3.connect(sqlite.path)
    with raw:
        raw.execute(
            f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s "
            f"WHERE i < {n_customers - 1}) INSERT INTO customers (id, created_at) "
            f"SELECT 'c' || substr('0000000' || i, -7, 7), {_T0_US} + i * 60000000 FROM s"
        )
        series = f"(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n_orders - 1}) SELECT i FROM s)"
        raw.execute(
            f"INSERT INTO orders ({cols}) "
            f"{_facts_select(n_orders, n_customers, series).format(money=money_sq, false='0', cancelled='i % 50 = 0')}"
        )
        raw.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'facts_generation'"
        )
    raw.close()
    print(f"(generated {n_orders:,} orders and {n_customers:,} customers by SQL: "
          f"PostgreSQL {pg_s:.0f} s, SQLite {time.perf_counter() - t:.0f} s)")  # fmt: skip


def bench_360(n_customers: int, pg: PostgresStore, sqlite: SqliteStore) -> None:
    print("\n== customer 360, 1,000 random customers ==")
    rng = random.Random(3)
    ids = [f"c{rng.randrange(n_customers):07d}" for _ in range(1000)]
    for name, store in (("PostgresStore", pg), ("SqliteStore", sqlite)):
        took = []
        c = time.process_time()
        for cid in ids:
            t = time.perf_counter()
            store.customer_360(cid)
            took.append(time.perf_counter() - t)
        ms = np.array(took) * 1000
        print(
            f"{name:<14} p50 {np.percentile(ms, 50):.2f} ms  p99 {np.percentile(ms, 99):.2f} ms"
            f"  ({(time.process_time() - c) * 1000 / len(ids):.2f} ms client CPU per view;"
            " goal p99 < 5 ms)"
        )


def _flow() -> Flow:
    return Flow(
        id="promo",
        trigger=Trigger.on_event("Checkout Started"),
        steps=[
            ActionStep(id="now", channel="email", template="promo_1"),
            WaitStep(id="wait", duration="1h"),
            ActionStep(id="later", channel="email", template="promo_2"),
        ],
    )


def _events(count: int, n_customers: int) -> list[Event]:
    return [
        Event(
            id=f"e{n}",
            name="Checkout Started",
            at=T0 + timedelta(seconds=n),
            customer_id=f"c{n % n_customers:07d}",
        )
        for n in range(count)
    ]


def worker(url: str, count: int, n_customers: int) -> None:
    """One process of the engine benchmark (``--worker``): reports its actions as JSON."""
    store = PostgresStore(url, pool_max=2)
    engine = Engine(store, [_flow()], Policies(), retry=Retry(attempts=200))
    todo = _events(count, n_customers)
    print("ready", flush=True)
    sys.stdin.readline()
    t = time.perf_counter()
    actions = []
    for start in range(0, count, 500):
        chunk = todo[start : start + 500]
        actions += [a.id for a in engine.handle_many(chunk)]
        actions += [a.id for a in engine.advance(chunk[-1].at)]
    print(json.dumps({"actions": actions, "seconds": time.perf_counter() - t,
                      "cpu": time.process_time()}), flush=True)  # fmt: skip
    store.close()


def bench_engine(count: int, n_customers: int) -> None:
    print(f"\n== rules engine: handle_many of {count:,} events, 1/2/4 processes, one store ==")
    base = None
    for processes in (1, 2, 4):
        schema = f"bench_engine_{uuid.uuid4().hex[:8]}"
        store = PostgresStore(url_of(schema))
        store.customers.put_many(customers(n_customers))
        store.consents.record_many(
            Consent(customer_id=f"c{i:07d}", channel="email", purpose="marketing", granted=True,
                    at=T0)
            for i in range(n_customers)
        )  # fmt: skip
        Engine(store, [_flow()], Policies())
        store.close()
        try:
            procs = [
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--worker",
                        url_of(schema),
                        str(count),
                        str(n_customers),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for _ in range(processes)
            ]
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            t = time.perf_counter()
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            reports = [
                json.loads(p.communicate(timeout=3600)[0].strip().splitlines()[-1]) for p in procs
            ]
            wall = time.perf_counter() - t
        finally:
            drop(schema)
        actions = [a for r in reports for a in r["actions"]]
        assert len(actions) == len(set(actions)), "an action was emitted twice"
        rate = count * processes / wall
        base = base or rate
        print(
            f"{processes} process(es): {rate:>9,.0f} events/s handled ({count * processes:,} "
            f"deliveries in {wall:.1f} s; worker CPU {sum(r['cpu'] for r in reports):.1f} s), "
            f"{len(set(actions)):,} distinct actions, {rate / base:.2f}x one process"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000, help="orders ingested")
    parser.add_argument("--customers", type=int, help="customers (default orders / 10)")
    parser.add_argument("--facts", type=int, help="orders generated by SQL for the facts read")
    parser.add_argument("--keep-facts", help="a folder: keep the generated facts data there")
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--only", action="append", choices=["ingest", "facts", "360", "engine"], default=[]
    )
    parser.add_argument("--worker", nargs=3)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), int(args.worker[2]))
        return
    only = set(args.only) or {"ingest", "facts", "360", "engine"}
    n_orders = 10_000 if args.quick else args.orders
    n_customers = args.customers or max(n_orders // 10, 100)
    n_events = 1_000 if args.quick else args.events
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    start_cpu = time.process_time()
    if only & {"ingest", "360"} or ("facts" in only and args.facts is None):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        pg = PostgresStore(url_of(schema))
        sqlite = SqliteStore(Path(tempfile.mkdtemp()) / "crm.db")
        try:
            bench_ingest(n_orders, n_customers, pg, sqlite)
            if "facts" in only and args.facts is None:
                bench_facts(n_orders, pg, sqlite)
            if "360" in only:
                bench_360(n_customers, pg, sqlite)
        finally:
            pg.close()
            sqlite.close()
            drop(schema)
    if "facts" in only and args.facts is not None:
        # --keep-facts DIR: the generated data stays (schema named in DIR/schema, SQLite
        # file DIR/crm.db) and later runs with the same DIR reuse it
        keep = Path(args.keep_facts) if args.keep_facts else None
        kept = keep is not None and (keep / "schema").exists()
        if kept:
            assert keep is not None
            schema = (keep / "schema").read_text().strip()
        else:
            schema = f"bench_facts_{uuid.uuid4().hex[:8]}"
        folder = keep if keep is not None else Path(tempfile.mkdtemp())
        folder.mkdir(parents=True, exist_ok=True)
        pg = PostgresStore(url_of(schema))
        sqlite = SqliteStore(folder / "crm.db")
        try:
            if not kept:
                fill_facts(pg, sqlite, args.facts, args.customers or max(args.facts // 10, 100))
                if keep is not None:
                    (keep / "schema").write_text(schema)
            bench_facts(args.facts, pg, sqlite)
        finally:
            pg.close()
            sqlite.close()
            if keep is None:
                drop(schema)
    if "engine" in only:
        bench_engine(n_events, 500)
    print(
        f"\nthis process's CPU time {time.process_time() - start_cpu:.1f} s; load average at "
        f"end {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
