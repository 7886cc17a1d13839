"""A worker process of the multi-process tests: ``python _pg_worker.py JOB URL [ARGS]``.

Each worker opens its own store (its own connection pool), prints ``ready``, waits for a
line on stdin (the start signal, so that every worker begins at once), does its job and
prints one JSON line with what it did.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta

from ecomcrm.domain import Customer, Event, Identity
from ecomcrm.rules import ActionStep, Engine, Flow, Policies, Retry, Trigger, WaitStep
from ecomcrm.storage import PostgresStore

T0 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)
H = timedelta(hours=1)


def flow() -> Flow:
    """A flow that sends at once and again an hour later (a timer per enrollment)."""
    return Flow(
        id="promo",
        trigger=Trigger.on_event("Checkout Started"),
        steps=[
            ActionStep(id="now", channel="email", template="promo_1"),
            WaitStep(id="wait", duration="1h"),
            ActionStep(id="later", channel="email", template="promo_2"),
        ],
    )


def events(count: int, customers: int) -> list[Event]:
    """``count`` checkouts, one a second, spread over ``customers`` customers."""
    return [
        Event(
            id=f"e{n}",
            name="Checkout Started",
            at=T0 + timedelta(seconds=n),
            customer_id=f"c{n % customers}",
        )
        for n in range(count)
    ]


def engine_job(url: str, count: int, customers: int, batch: int) -> dict[str, object]:
    """Handle every event in batches, advancing the clock after each batch, then to the end."""
    store = PostgresStore(url, pool_max=2)
    tries = [0]

    def sleep(seconds: float) -> None:
        tries[0] += 1
        time.sleep(seconds)

    try:
        engine = Engine(store, [flow()], Policies(), retry=Retry(attempts=100, sleep=sleep))
        todo = events(count, customers)
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        actions: list[str] = []
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            actions += [a.id for a in engine.handle_many(chunk)]
            actions += [a.id for a in engine.advance(chunk[-1].at)]
        actions += [a.id for a in engine.advance(todo[-1].at + 2 * H)]
        seconds = time.perf_counter() - started
        return {"actions": actions, "tries": tries[0], "seconds": seconds}
    finally:
        store.close()


def advance_job(url: str, steps: int, step_seconds: int) -> dict[str, object]:
    """Advance the clock in ``steps`` steps from ``T0 + 1h``, as a scheduler would."""
    store = PostgresStore(url, pool_max=2)
    try:
        engine = Engine(store, [flow()], Policies(), retry=Retry(attempts=100))
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        actions: list[str] = []
        for step in range(1, steps + 1):
            now = T0 + H + timedelta(seconds=step * step_seconds)
            actions += [a.id for a in engine.advance(now)]
        seconds = time.perf_counter() - started
        return {"actions": actions, "seconds": seconds}
    finally:
        store.close()


def upsert_job(url: str, worker: int, customers: int) -> dict[str, object]:
    """Upsert the same customers as every other worker, one by one and in batches."""
    store = PostgresStore(url, pool_max=1)
    try:

        def version(n: int) -> Customer:
            return Customer(
                id=f"c{n}",
                created_at=T0,
                first_name=f"w{worker}",
                identities=[Identity.email(f"c{n}@example.com")],
                attributes={"writer": worker, "n": n},
            )

        print("ready", flush=True)
        sys.stdin.readline()
        for n in range(0, customers, 2):
            store.customers.upsert(version(n))
        store.customers.put_many(version(n) for n in range(1, customers, 2))
        return {"done": customers}
    finally:
        store.close()


def killed_job(url: str, count: int) -> dict[str, object]:
    """Write a batch inside a transaction and wait there, to be killed before committing."""
    store = PostgresStore(url, pool_max=1)
    with store.transaction():
        store.customers.put_many(
            Customer(id=f"k{n}", created_at=T0, identities=[Identity.email(f"k{n}@example.com")])
            for n in range(count)
        )
        print("ready", flush=True)
        time.sleep(600)
    return {}


def main() -> None:
    job, url, *args = sys.argv[1:]
    numbers = [int(a) for a in args]
    if job == "engine":
        out = engine_job(url, *numbers)
    elif job == "advance":
        out = advance_job(url, *numbers)
    elif job == "upsert":
        out = upsert_job(url, *numbers)
    else:
        out = killed_job(url, *numbers)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
