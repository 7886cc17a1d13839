"""Lost races on a real server: a deadlock is run again at once, bounded, then a ConflictError.

A second connection provokes a real deadlock with the store's write: it holds the row
of key ``b`` while the store's ``state.apply`` holds ``a`` and waits for ``b``, then asks
for ``a``. The second connection's deadlock check is put off, so the server aborts the
store's transaction (its own check runs first): the store's side is always the victim.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext

import psycopg
import pytest
from _pg import server_url

from ecomcrm.errors import ConflictError
from ecomcrm.storage import PostgresStore
from ecomcrm.storage.postgres import _connection


def _waiting(conn: psycopg.Connection[object], name: str) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
        "AND wait_event_type = 'Lock'",
        (name,),
    ).fetchone()
    return row is not None and int(str(row[0])) > 0


def _deadlocked_apply(
    store: PostgresStore, schema: str, name: str, *, in_transaction: bool = False
) -> BaseException | None:
    """Run ``state.apply`` on ``a`` and ``b`` while another connection deadlocks it once."""
    outcome: list[BaseException | None] = []

    def write() -> None:
        try:
            with store.transaction() if in_transaction else nullcontext():
                store.state.apply([("a", {"n": 2}, 1, None), ("b", {"n": 2}, 1, None)])
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    with (
        psycopg.connect(server_url(), autocommit=True) as watch,
        psycopg.connect(server_url()) as other,
    ):
        other.execute("SET deadlock_timeout = '60s'")  # the store's check fires first
        other.execute(f"SELECT key FROM {schema}.state WHERE key = 'b' FOR UPDATE".encode())
        writer = threading.Thread(target=write)
        writer.start()
        deadline = time.monotonic() + 30
        while not _waiting(watch, name):  # the store holds a, waits for b
            assert time.monotonic() < deadline, "the store's write never waited for b"
            time.sleep(0.01)
        other.execute(f"SELECT key FROM {schema}.state WHERE key = 'a' FOR UPDATE".encode())
        other.commit()  # got a: the server aborted the store's transaction
        writer.join(30)
    assert outcome, "the store's write never finished"
    return outcome[0]


@pytest.fixture
def racing(pg_url: str, pg_schema: str) -> Iterator[Callable[[], tuple[PostgresStore, str, str]]]:
    stores: list[PostgresStore] = []

    def opener() -> tuple[PostgresStore, str, str]:
        name = f"race_{pg_schema}"
        store = PostgresStore(f"{pg_url}&application_name={name}", pool_min=1, pool_max=1)
        stores.append(store)
        store.state.put("a", {"n": 1}, expected_version=None)
        store.state.put("b", {"n": 1}, expected_version=None)
        return store, pg_schema, name

    yield opener
    for store in stores:
        store.close()


def test_a_deadlock_is_run_again_and_the_write_lands(
    racing: Callable[[], tuple[PostgresStore, str, str]],
) -> None:
    store, schema, name = racing()
    assert _deadlocked_apply(store, schema, name) is None
    assert store.state.get("a") is not None and store.state.get("a").version == 2  # type: ignore[union-attr]
    assert store.state.get("b") is not None and store.state.get("b").version == 2  # type: ignore[union-attr]


def test_past_the_bound_a_deadlock_is_a_conflict_and_writes_nothing(
    racing: Callable[[], tuple[PostgresStore, str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_connection, "ATTEMPTS", 1)
    store, schema, name = racing()
    error = _deadlocked_apply(store, schema, name)
    assert isinstance(error, ConflictError)
    assert "lost a race" in str(error)
    assert store.state.get("a").version == 1  # type: ignore[union-attr]


def test_inside_a_callers_transaction_the_deadlock_goes_to_the_caller(
    racing: Callable[[], tuple[PostgresStore, str, str]],
) -> None:
    store, schema, name = racing()
    error = _deadlocked_apply(store, schema, name, in_transaction=True)
    assert isinstance(error, ConflictError)  # not run again: the caller owns the transaction
    assert store.state.get("a").version == 1  # type: ignore[union-attr]
