"""Webhook throughput: signed Shopify ``orders/create`` deliveries into a SQLite store.

Goal (issue 18): >= 2,000 webhook payloads per second into SQLite in one process,
signature checks included. N distinct orders (two orders per customer, so half the
deliveries find an existing person) are built in Shopify's REST payload shape, serialised
and signed beforehand; the timed loop is what an app's endpoint does per request:
``handle_webhook("shopify", headers, body, secret=..., store=...)``. Printed side by side:

- ``verify+parse``: the reference floor, HMAC-SHA256 check + ``json.loads`` alone;
- ``memory``: the full handling into ``memory://``;
- ``sqlite``: the full handling into a fresh SQLite file (one transaction per delivery);
- ``sqlite replay``: the same deliveries again (every one a duplicate);
- ``sqlite batch``: ``handle_webhooks`` on batches of ``--batch`` deliveries into another
  fresh SQLite file (one transaction per batch), whose result must equal the one-by-one
  file's: the same orders, customers and events.

SQL statements per delivery are counted with SQLite's trace callback on the store's
connection where it can be reached (the benchmark's own diagnostics, not an API).

Wall and CPU seconds are both shown (the machine is shared).

Usage:
    python benchmarks/bench_webhooks.py [--orders 5000] [--batch 500] [--dir /tmp/ecomcrm-bench]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import ecomcrm
from ecomcrm.io import handle_webhook, handle_webhooks

SECRET = b"bench-secret"


def deliveries(n: int) -> list[tuple[dict[str, str], bytes]]:
    out = []
    for i in range(n):
        person = i // 2
        payload = {
            "id": 5_000_000_000 + i, "name": f"#{10_000 + i}", "email": f"buyer{person}@example.com",
            "phone": None, "created_at": f"2024-03-{1 + i % 28:02d}T10:{i % 60:02d}:00-05:00",
            "updated_at": f"2024-03-{1 + i % 28:02d}T10:{i % 60:02d}:30-05:00",
            "currency": ("USD", "EUR", "JPY")[i % 3], "financial_status": "paid",
            "taxes_included": False, "subtotal_price": "40", "total_tax": "0",
            "total_price": "45", "total_discounts": "0", "discount_codes": [],
            "total_shipping_price_set": {"shop_money": {"amount": "5", "currency_code": "USD"}},
            "customer": {"id": 900_000 + person, "email": f"buyer{person}@example.com",
                         "first_name": "Buyer", "last_name": str(person)},
            "line_items": [
                {"id": 1, "sku": f"SKU-{i % 50}", "title": "Tee", "quantity": 1, "price": "15"},
                {"id": 2, "sku": "MUG", "title": "Mug", "quantity": 1, "price": "25"},
            ],
            "shipping_address": {"address1": "1 Main St", "city": "Austin", "zip": "78751",
                                 "country_code": "US", "province_code": "TX"},
            "refunds": [], "fulfillments": [],
        }  # fmt: skip
        body = json.dumps(payload).encode()
        signature = base64.b64encode(hmac.new(SECRET, body, hashlib.sha256).digest()).decode()
        headers = {
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Webhook-Id": f"wh-{i}",
            "X-Shopify-Shop-Domain": "bench.myshopify.com",
        }
        out.append((headers, body))
    return out


def timed(label: str, n: int, run: Callable[[], None]) -> float:
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{label:<16} {n / wall:>8,.0f}/s by wall ({wall:6.2f} s)   "
        f"{n / max(cpu, 1e-9):>8,.0f}/s by CPU ({cpu:6.2f} s)"
    )
    return n / max(cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    n = args.orders
    work = Path(args.dir or tempfile.mkdtemp(prefix="ecomcrm-webhooks-"))
    work.mkdir(parents=True, exist_ok=True)
    batch = deliveries(n)
    print(f"{n:,} signed Shopify orders/create deliveries ({sum(len(b) for _, b in batch) / n:,.0f} "
          "bytes each)")  # fmt: skip

    def floor() -> None:
        for headers, body in batch:
            expected = hmac.new(SECRET, body, hashlib.sha256).digest()
            given = base64.b64decode(headers["X-Shopify-Hmac-Sha256"])
            assert hmac.compare_digest(expected, given)
            json.loads(body)

    def into(url: str, size: int = 0) -> Callable[[], None]:
        store = ecomcrm.open_store(url)

        def run() -> None:
            if size:
                for k in range(0, n, size):
                    results = handle_webhooks(
                        "shopify", batch[k : k + size], secret=SECRET, store=store
                    )
                    assert all(r.status in ("written", "duplicate") for r in results)
            else:
                for headers, body in batch:
                    handle_webhook("shopify", headers, body, secret=SECRET, store=store)

        return run

    timed("verify+parse", n, floor)
    timed("memory", n, into("memory://"))
    one, many = work / "webhooks.db", work / "webhooks-batch.db"
    for db in (one, many):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    one_cpu = timed("sqlite", n, into(f"sqlite:///{one}"))
    timed("sqlite replay", n, into(f"sqlite:///{one}"))
    many_cpu = timed(f"sqlite batch {args.batch}", n, into(f"sqlite:///{many}", args.batch))
    timed("batch replay", n, into(f"sqlite:///{many}", args.batch))
    print(f"batch / one by one: {many_cpu / one_cpu:.2f}x by CPU")
    a, b = ecomcrm.open_store(f"sqlite:///{one}"), ecomcrm.open_store(f"sqlite:///{many}")
    assert a.orders.count() == b.orders.count() == n, (a.orders.count(), b.orders.count())
    assert a.customers.count() == b.customers.count() == (n + 1) // 2
    assert a.events.count() == b.events.count()
    for k in range(0, n, max(1, n // 50)):
        order_id = f"#{10_000 + k}"
        assert a.orders.get(order_id) == b.orders.get(order_id)
    print(
        f"statements per delivery: one by one {statements(a, batch[:200], 0):.1f}, "
        f"batch {statements(b, batch[:200], 200):.1f} (200 new deliveries)"
    )
    print(
        f"goal >= 2,000/s into SQLite (CPU): {'met' if many_cpu >= 2_000 else 'NOT met'} "
        f"({many_cpu:,.0f}/s in batches, {one_cpu:,.0f}/s one by one)"
    )


def statements(
    store: ecomcrm.storage.Store, sample: list[tuple[dict[str, str], bytes]], size: int
) -> float:
    """SQL statements per delivery for ``sample`` re-signed as new deliveries (diagnostic)."""
    conn = _connection(store)
    if conn is None:
        return float("nan")
    fresh = []
    for headers, body in sample:
        payload = json.loads(body)
        payload["id"] += 10**9
        payload["name"] = "#9" + payload["name"][1:]
        new = json.dumps(payload).encode()
        sig = base64.b64encode(hmac.new(SECRET, new, hashlib.sha256).digest()).decode()
        fresh.append(({**headers, "X-Shopify-Hmac-Sha256": sig,
                       "X-Shopify-Webhook-Id": "s" + headers["X-Shopify-Webhook-Id"]}, new))  # fmt: skip
    count = [0]

    def trace(_: str) -> None:
        count[0] += 1

    conn.set_trace_callback(trace)
    try:
        if size:
            handle_webhooks("shopify", fresh, secret=SECRET, store=store)
        else:
            for headers, body in fresh:
                handle_webhook("shopify", headers, body, secret=SECRET, store=store)
    finally:
        conn.set_trace_callback(None)
    return count[0] / len(fresh)


def _connection(store: object) -> sqlite3.Connection | None:
    """The SQLite connection inside the store, found by looking (a benchmark's diagnostic)."""
    seen: set[int] = set()
    todo = [store]
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, sqlite3.Connection):
            return obj
        todo.extend(v for v in getattr(obj, "__dict__", {}).values() if not isinstance(v, type))
        for slot in getattr(type(obj), "__slots__", ()):
            value = getattr(obj, slot, None)
            if value is not None:
                todo.append(value)
    return None


if __name__ == "__main__":
    main()
