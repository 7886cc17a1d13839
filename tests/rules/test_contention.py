"""handle() under contention: retried with backoff up to a bound, never lost silently.

Before, a unit of work was retried 5 times at once on a ConflictError and not at all on a
locked database (StorageBusyError went straight to the caller, often mid-batch); nothing
paused between tries, so processes that collided kept colliding.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ecomcrm.domain import Event
from ecomcrm.errors import ConfigurationError, ConflictError, StorageBusyError
from ecomcrm.rules import ActionStep, Engine, Flow, Policies, Retry, Trigger, WaitStep
from ecomcrm.storage import SqliteStore, Store

from .conftest import T0, add_customer, ev

H = timedelta(hours=1)


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


class _Flaky:
    """Wraps a state area so that the first ``fail`` commits raise ``error``."""

    def __init__(self, inner: Any, fail: int, error: Callable[[], Exception]) -> None:
        self._inner = inner
        self.fail = fail
        self.error = error
        self.commits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _maybe_fail(self) -> None:
        self.commits += 1
        if self.fail > 0:
            self.fail -= 1
            raise self.error()

    def apply(self, changes: Any) -> None:
        self._maybe_fail()
        self._inner.apply(changes)

    def apply_marked(self, changes: Any, marks: Any) -> None:  # SupportsEventMarks' commit
        self._maybe_fail()
        self._inner.apply_marked(changes, marks)

    def put(self, key: str, value: Any, **kwargs: Any) -> Any:
        if not key.startswith("flowdef:"):
            self._maybe_fail()
        return self._inner.put(key, value, **kwargs)


@pytest.fixture
def flaky(store: Store) -> Iterator[tuple[Store, _Flaky]]:
    add_customer(store, "c1")
    wrapper = _Flaky(store.state, 0, lambda: ConflictError("stale", entity="state"))
    store.state = wrapper  # type: ignore[misc]
    yield store, wrapper
    store.state = wrapper._inner  # type: ignore[misc]


@pytest.mark.parametrize(
    "error",
    [
        lambda: ConflictError("stale version", entity="state", field="version", value=3),
        lambda: StorageBusyError("database is locked", entity="crm.db"),
    ],
)
def test_lost_races_are_retried_with_growing_pauses(
    flaky: tuple[Store, _Flaky], error: Callable[[], Exception]
) -> None:
    store, state = flaky
    state.fail, state.error = 5, error
    pauses: list[float] = []
    retry = Retry(attempts=6, first_delay=0.01, max_delay=0.04, sleep=pauses.append)
    engine = Engine(store, [_flow()], Policies(), retry=retry)
    (action,) = engine.handle(ev("Checkout Started", "c1", T0))
    assert action.template == "promo_1"
    assert len(pauses) == 5 and state.commits == 6
    assert all(
        0 <= p <= bound for p, bound in zip(pauses, (0.01, 0.02, 0.04, 0.04, 0.04), strict=True)
    )


def test_after_the_bound_the_error_is_raised_and_nothing_was_written(
    flaky: tuple[Store, _Flaky],
) -> None:
    store, state = flaky
    state.fail = 3
    pauses: list[float] = []
    engine = Engine(store, [_flow()], Policies(), retry=Retry(attempts=3, sleep=pauses.append))
    event = ev("Checkout Started", "c1", T0)
    with pytest.raises(ConflictError, match="lost the race 3 times in a row") as info:
        engine.handle(event)
    assert info.value.entity == "state" and len(pauses) == 2
    assert [r.key for r in store.state.scan("") if not r.key.startswith("flowdef:")] == []
    (action,) = engine.handle(event)  # delivered again: handled now, exactly once
    assert action.template == "promo_1"


def test_a_batch_that_loses_its_race_is_redone_event_by_event(
    flaky: tuple[Store, _Flaky],
) -> None:
    store, state = flaky
    state.error = lambda: StorageBusyError("database is locked", entity="crm.db")
    state.fail = 2
    engine = Engine(store, [_flow()], Policies(), retry=Retry(sleep=None))
    add_customer(store, "c2")
    actions = engine.handle_many(
        [ev("Checkout Started", "c1", T0), ev("Checkout Started", "c2", T0)]
    )
    assert sorted(a.customer_id for a in actions) == ["c1", "c2"]


def test_a_locked_sqlite_database_is_waited_for(tmp_path: Path) -> None:
    """Another connection holds the write lock past the store's timeout: retried, not lost."""
    path = tmp_path / "crm.db"
    store = SqliteStore(path, timeout=0.02)
    add_customer(store, "c1")
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            other.execute("ROLLBACK")  # the other writer finishes

    engine = Engine(store, [_flow()], Policies(), retry=Retry(sleep=sleep))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    (action,) = engine.handle(ev("Checkout Started", "c1", T0))
    assert action.template == "promo_1" and len(pauses) == 3
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(StorageBusyError, match="lost the race 8 times in a row"):
        engine.handle(ev("Checkout Started", "c1", T0 + H, n=2))
    other.execute("ROLLBACK")
    other.close()
    store.close()


def test_retry_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="attempts"):
        Retry(attempts=0)
    with pytest.raises(ConfigurationError, match="max_delay"):
        Retry(max_delay=-1.0)
    assert Retry().bound(1) == 0.002 and Retry().bound(30) == 0.25
    assert Retry.immediate(2).sleep is None and len(Retry(attempts=2).delays()) == 1


# --- several processes on one SQLite file ---------------------------------------------------

CUSTOMERS = 50
EVENTS = 150


def _events() -> list[Event]:
    """150 events: three per customer, each the trigger of the same flow."""
    return [
        ev("Checkout Started", f"c{n % CUSTOMERS}", T0 + timedelta(seconds=n), n=n)
        for n in range(EVENTS)
    ]


def _worker(path: str, start: Any, results: Any) -> None:
    tries = [0]

    def sleep(seconds: float) -> None:
        tries[0] += 1
        time.sleep(seconds)

    store = SqliteStore(path)
    try:
        engine = Engine(store, [_flow()], Policies(), retry=Retry(attempts=50, sleep=sleep))
        start.wait()
        actions = [a.id for e in _events() for a in engine.handle(e)]
        actions += [a.id for a in engine.advance(T0 + 2 * H)]
        results.put((actions, tries[0]))
    except BaseException as exc:  # pragma: no cover - reported to the parent
        results.put(([], repr(exc)))
    finally:
        store.close()


def _setup(path: Path) -> None:
    store = SqliteStore(path)
    for n in range(CUSTOMERS):
        add_customer(store, f"c{n}")
    Engine(store, [_flow()], Policies())  # flow definitions stored once
    store.close()


def _run(path: Path, processes: int) -> tuple[list[str], list[Any]]:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(str(path), start, results)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    got = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    return [a for actions, _ in got for a in actions], [tries for _, tries in got]


@pytest.mark.slow
def test_three_processes_give_exactly_the_actions_of_one(tmp_path: Path) -> None:
    """3 processes x the same 150 events on one SQLite file = one process's actions."""
    one, three = tmp_path / "one.db", tmp_path / "three.db"
    _setup(one)
    _setup(three)
    alone, _ = _run(one, 1)
    together, tries = _run(three, 3)
    assert all(isinstance(t, int) for t in tries), tries  # no worker failed
    assert len(alone) == 2 * CUSTOMERS  # promo_1 at once, promo_2 an hour later
    assert len(together) == len(set(together)) == len(alone)  # none twice, none lost
    assert set(together) == set(alone)  # the very same actions (ids from the same triggers)
    for path in (one, three):
        store = SqliteStore(path)
        sent = sorted(
            (r.value["customer_id"], r.value["step_id"]) for r in store.state.scan("act:")
        )
        assert sent == sorted((f"c{n}", s) for n in range(CUSTOMERS) for s in ("now", "later"))
        assert len(store.state.scan("seen:")) == EVENTS
        store.close()
    print(f"actions: 1 process {len(alone)}, 3 processes {len(together)}; retries {tries}")
