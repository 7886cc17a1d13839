"""SqliteStore: the conformance kit, plus what is specific to the SQLite adapter."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.domain import (
    Address,
    Consent,
    Customer,
    Event,
    Identity,
    LoyaltyEntry,
    Message,
    Order,
    OrderLine,
    Refund,
    ReturnLine,
    SupportTicket,
)
from ecomcrm.errors import (
    ConflictError,
    NotFoundError,
    StorageError,
    ValidationError,
)
from ecomcrm.storage import MemoryStore, Store
from ecomcrm.storage.sqlite import SqliteStore
from ecomcrm.storage.sqlite._schema import SCHEMA_VERSION
from ecomcrm.testing import StoreConformance, strategies

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _files(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()
    )


class TestSqliteConformance(StoreConformance):
    capabilities = frozenset({"raw_dump", "reopen", "second_handle"})

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        self._path = tmp_path / "crm.db"
        self._handles: list[SqliteStore] = []
        store = SqliteStore(self._path)
        self._handles.append(store)
        yield store
        for handle in self._handles:
            handle.close()

    def raw_dump(self, store: Store) -> bytes:
        return _files(self._path)

    def reopen(self, store: Store) -> Store:
        store.close()
        again = SqliteStore(self._path)
        self._handles.append(again)
        return again

    def second_handle(self, store: Store) -> Store:
        other = SqliteStore(self._path)
        self._handles.append(other)
        return other


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "crm.db"


@pytest.fixture
def store(path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(path)
    yield s
    s.close()


def _order(
    oid: str, cid: str, hours: int = 0, currency: str = "EUR", price: str = "10.00"
) -> Order:
    return Order(
        id=oid,
        customer_id=cid,
        placed_at=T0 + timedelta(hours=hours),
        currency=currency,
        lines=[OrderLine(sku="A", quantity=2, unit_price=price, category="Apparel > Tops")],
    )


def _scenario(s: Store) -> dict[str, object]:
    """A little of everything, returning every read; run on both stores and compared."""
    s.customers.put(
        Customer(
            id="c1",
            created_at=T0,
            identities=[Identity.email("ada@example.com"), Identity.phone("+442079460958")],
            first_name="Ada",
            tags={"vip"},
            birthday=datetime(1990, 5, 1).date(),
            addresses=[Address(line1="1 Rue", country="fr")],
            attributes={"loyalty_tier": "gold", "n": 3},
        )
    )
    s.customers.put(
        Customer(
            id="c2",
            created_at=T0 + timedelta(days=1),
            identities=[Identity(kind="anonymous", value="ck1")],
            last_name="Lovelace",
            country="GB",
        )
    )
    s.orders.upsert(_order("o1", "c1", 0))
    s.orders.put_many([_order(f"o{i}", "c2", i, price="3.10") for i in range(2, 6)])
    s.orders.add_refund(
        Refund(
            id="r1",
            order_id="o2",
            customer_id="c2",
            amount="1.00",
            currency="EUR",
            at=T0 + timedelta(days=2),
            returned=True,
            lines=[ReturnLine(sku="A", quantity=1, reason="too small")],
        )
    )
    s.events.append(
        Event(name="Product Viewed", anonymous_id="ck1", at=T0, properties={"sku": "A"})
    )
    s.events.append(Event(name="Product Viewed", anonymous_id="ck9", at=T0))
    s.events.append(Event(name="Order Completed", customer_id="c1", at=T0, properties={"n": 1}))
    s.consents.record(
        Consent(customer_id="c1", channel="email", purpose="marketing", granted=True, at=T0)
    )
    s.consents.record(
        Consent(customer_id="c2", channel="sms", purpose="marketing", granted=True, at=T0)
    )
    s.tickets.upsert(
        SupportTicket(id="t1", customer_id="c2", channel="email", subject="Hi", opened_at=T0)
    )
    s.loyalty.append(LoyaltyEntry(id="l1", customer_id="c2", kind="earn", points=10, at=T0))
    s.messages.upsert(Message(id="m1", customer_id="c2", channel="sms", at=T0, params={"x": [1]}))
    s.state.put("enrollment:x:c2", {"a": 1}, expected_version=None)
    out: dict[str, object] = {}
    f = s.order_facts()
    out["facts_before"] = (f.order_id.tolist(), f.customer_index.tolist(), f.amount.tolist())
    out["merge"] = s.merge("c1", "c2", at=T0)
    out["again"] = s.merge("c2", "c1", at=T0)
    out["resolve"] = s.resolve("c2")
    out["customer"] = s.customers.get("c2")
    out["iterate"] = list(s.customers.iterate())
    out["orders"] = s.orders.for_customer("c2")
    out["events"] = s.events.for_customer("c1")
    out["anon"] = s.events.for_anonymous("ck1")
    out["export"] = json.dumps(s.export("c2"), sort_keys=True)
    out["360"] = s.customer_360("c1", recent_events=1)
    f = s.order_facts()
    out["facts"] = (
        f.order_id.tolist(),
        f.customer_index.tolist(),
        f.amount.tolist(),
        f.discount.tolist(),
        f.refunded.tolist(),
        f.units.tolist(),
        f.returned_units.tolist(),
        f.customer_ids.tolist(),
        f.placed_at.tolist(),
    )
    e = s.event_facts()
    out["event_facts"] = (e.customer_index.tolist(), e.names, e.product.tolist(), e.at.tolist())
    t = s.customer_table()
    out["table"] = (
        t.ids.tolist(),
        t.tag_indptr.tolist(),
        t.birthday.tolist(),
        {k: v.tolist() for k, v in t.consents.items()},
    )
    receipt = s.erase("c1", keep_order_facts=True)
    out["erase"] = (dict(receipt.counts), receipt.kept_order_facts, receipt.tombstones)
    out["after"] = (s.customers.count(), s.orders.count(), s.events.count())
    f = s.order_facts()
    out["facts_after"] = (sorted(f.order_id.tolist()), f.amount.tolist())
    return out


def test_the_sqlite_store_reads_exactly_like_the_memory_store(store: SqliteStore) -> None:
    expected = _scenario(MemoryStore())
    got = _scenario(store)
    for key, value in expected.items():
        assert got[key] == value, key


def test_open_store_url_opens_the_sqlite_adapter(tmp_path: Path) -> None:
    s = ecomcrm.open_store(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(s, SqliteStore)
    assert isinstance(s, Store)
    s.close()


def test_a_new_file_gets_the_newest_schema_and_the_pragmas(store: SqliteStore, path: Path) -> None:
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()
    inner = store._db.conn
    assert inner.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert inner.execute("PRAGMA secure_delete").fetchone() == (1,)
    assert inner.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    assert store.schema_version == SCHEMA_VERSION


LOOKUPS = [
    ("SELECT * FROM customers WHERE id = ?", ("c",)),
    ("SELECT * FROM customers WHERE survivor_pk = ?", (1,)),
    ("SELECT * FROM identities WHERE customer_pk = ? ORDER BY position", (1,)),
    ("SELECT * FROM orders WHERE customer_id = ? ORDER BY placed_at", ("c",)),
    ("SELECT * FROM orders WHERE id = ?", ("o",)),
    ("SELECT * FROM order_lines WHERE order_id = ?", ("o",)),
    ("SELECT * FROM refunds WHERE order_id = ?", ("o",)),
    ("SELECT * FROM refunds WHERE customer_id = ?", ("c",)),
    ("SELECT * FROM events WHERE customer_id = ?", ("c",)),
    ("SELECT * FROM events WHERE anonymous_id = ?", ("a",)),
    ("SELECT * FROM events WHERE id = ?", ("e",)),
    ("SELECT * FROM consents WHERE customer_id = ?", ("c",)),
    ("SELECT * FROM tickets WHERE customer_id = ?", ("c",)),
    ("SELECT * FROM loyalty WHERE customer_id = ?", ("c",)),
    ("SELECT * FROM loyalty WHERE id = ?", ("l",)),
    ("SELECT * FROM messages WHERE customer_id = ?", ("c",)),
    ("SELECT * FROM merges WHERE merged_id = ?", ("c",)),
    ("SELECT * FROM merges WHERE survivor_pk = ?", (1,)),
    ("SELECT * FROM suppressed WHERE hash = ?", ("h",)),
    ("SELECT * FROM state WHERE key >= ? ORDER BY key", ("k",)),
]


@pytest.mark.parametrize(("sql", "args"), LOOKUPS)
def test_every_lookup_uses_an_index(store: SqliteStore, sql: str, args: tuple[object, ...]) -> None:
    plan = " ".join(r[-1] for r in store._db.conn.execute("EXPLAIN QUERY PLAN " + sql, args))
    assert "USING" in plan and "SCAN" not in plan.replace("SCAN CONSTANT", ""), plan


def test_transaction_is_atomic_across_repositories(store: SqliteStore) -> None:
    store.customers.put(Customer(id="c1", created_at=T0))
    with pytest.raises(RuntimeError), store.transaction():
        store.orders.upsert(_order("o1", "c1"))
        store.state.put("k", {"v": 1}, expected_version=None)
        store.customers.put(Customer(id="c2", created_at=T0))
        raise RuntimeError("boom")
    assert store.orders.count() == 0
    assert store.state.get("k") is None
    assert store.customers.count() == 1


def test_nested_transactions_join_and_a_failing_call_leaves_no_half_write(
    store: SqliteStore,
) -> None:
    store.customers.put(Customer(id="c1", created_at=T0, identities=[Identity.email("a@x.io")]))
    with store.transaction():
        store.orders.upsert(_order("o1", "c1"))
        with store.transaction():
            store.orders.upsert(_order("o2", "c1"))
        # a call that fails inside the outer block rolls back only itself
        with pytest.raises(ConflictError):
            store.customers.put(
                Customer(id="c2", created_at=T0, identities=[Identity.email("a@x.io")])
            )
        with pytest.raises(NotFoundError):
            store.orders.put_many([_order("o3", "c1"), _order("o4", "nobody")])
    assert [o.id for o in store.orders.for_customer("c1")] == ["o1", "o2"]
    assert store.customers.find("c2") is None


def test_bulk_orders_for_an_unknown_customer_name_the_first_offending_row(
    store: SqliteStore,
) -> None:
    store.customers.put(Customer(id="c1", created_at=T0))
    with pytest.raises(NotFoundError) as info:
        store.orders.put_many([_order("o1", "c1"), _order("o2", "c1"), _order("o3", "ghost")])
    assert info.value.row == 2 and info.value.value == "ghost"
    assert store.orders.count() == 0


def test_bulk_orders_for_a_merged_customer_go_to_the_survivor(store: SqliteStore) -> None:
    store.customers.put_many([Customer(id="a", created_at=T0), Customer(id="b", created_at=T0)])
    store.merge("a", "b", at=T0)
    store.orders.put_many([_order("o1", "b")])
    assert store.orders.get("o1").customer_id == "a"
    assert store.order_facts().customer_index.tolist() == [0]


def test_closed_store_raises_storage_error(store: SqliteStore) -> None:
    store.close()
    with pytest.raises(StorageError, match="closed"):
        store.customers.count()
    with pytest.raises(StorageError):
        store.state.put("k", {}, expected_version=None)


def test_a_held_write_lock_becomes_a_storage_error_not_sqlite3(path: Path) -> None:
    s = SqliteStore(path, timeout=0.05)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError, match="locked") as info:
            s.state.put("k", {}, expected_version=None)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
        assert s.state.get("k") is None  # reads still work under WAL
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        s.close()


def test_facts_cache_is_used_and_invalidated_by_writes(store: SqliteStore, path: Path) -> None:
    store.customers.put_many(Customer(id=f"c{i}", created_at=T0) for i in range(3))
    store.orders.put_many(_order(f"o{i}", f"c{i % 3}", i) for i in range(10))
    first = store.order_facts()
    conn = store._db.conn
    cached = conn.execute("SELECT count(*) FROM facts_cache").fetchone()[0]
    assert cached > 0
    again = store.order_facts()
    assert again.order_id.tolist() == first.order_id.tolist()
    assert np.array_equal(again.amount, first.amount)
    # another process (here: another connection) reads the persisted cache
    other = SqliteStore(path)
    assert other.order_facts().order_id.tolist() == first.order_id.tolist()
    # a write from the other handle invalidates the cache for this one
    other.orders.add_refund(
        Refund(id="r", order_id="o4", customer_id="c1", amount="5", currency="EUR", at=T0)
    )
    other.close()
    after = store.order_facts()
    assert after.refunded[after.order_id.tolist().index("o4")] == 5.0
    store.customers.put(Customer(id="a0", created_at=T0))
    assert store.order_facts().customer_ids.tolist() == ["a0", "c0", "c1", "c2"]
    assert store.order_facts().customer_index.tolist()[:3] == [1, 2, 3]


def test_facts_cache_off_writes_nothing(path: Path) -> None:
    s = SqliteStore(path, facts_cache=False)
    s.customers.put(Customer(id="c", created_at=T0))
    s.orders.upsert(_order("o", "c"))
    assert len(s.order_facts()) == 1
    assert s._db.conn.execute("SELECT count(*) FROM facts_cache").fetchone() == (0,)
    s.close()


def test_order_facts_mixed_currencies_need_rates(store: SqliteStore) -> None:
    store.customers.put(Customer(id="c", created_at=T0))
    store.orders.put_many([_order("o1", "c", 0, "EUR"), _order("o2", "c", 1, "USD")])
    with pytest.raises(ValidationError, match="several currencies"):
        store.order_facts()
    facts = store.order_facts(currency="EUR", rates={"USD": 0.5})
    assert facts.amount.tolist() == [20.0, 10.0]
    assert facts.currency == "EUR"


ids = st.text(alphabet="abcdeé\x1f🙂", max_size=4).map(lambda s: "o" + s)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(ids, st.integers(0, 3), st.integers(-5, 5), st.sampled_from(["EUR", "USD"])),
        max_size=12,
        unique_by=lambda r: r[0],
    )
)
def test_order_facts_equal_object_reads_and_the_memory_store(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, int, int, str]]
) -> None:
    s = SqliteStore(tmp_path_factory.mktemp("h") / "crm.db")
    m = MemoryStore()
    for target in (s, m):
        target.customers.put_many(Customer(id=f"c{i}", created_at=T0) for i in range(4))
        target.orders.put_many(_order(oid, f"c{c}", h, cur) for oid, c, h, cur in rows)
    for _ in range(2):  # the second read comes from the cache
        got = s.order_facts(currency="EUR", rates={"USD": 2.0})
        want = m.order_facts(currency="EUR", rates={"USD": 2.0})
        assert got.order_id.tolist() == want.order_id.tolist()
        assert got.customer_index.tolist() == want.customer_index.tolist()
        assert np.array_equal(got.placed_at, want.placed_at)
        assert np.array_equal(got.amount, want.amount)
        objects = sorted(
            (o for c in range(4) for o in s.orders.for_customer(f"c{c}")),
            key=lambda o: (o.placed_at, o.id),
        )
        assert got.order_id.tolist() == [o.id for o in objects]
    s.close()


@settings(max_examples=60, deadline=None)
@given(order=strategies.orders())
def test_the_hand_written_order_row_matches_the_shared_analytic_columns(order: Order) -> None:
    import ecomcrm.storage.toolkit as sh
    from ecomcrm.storage._sql_rows import order_values as _order_values

    values = _order_values(order, order.customer_id)
    expected = sh.order_row(order)
    assert values[2] == expected.placed_at_us
    assert values[17] == expected.amount
    assert values[18] == expected.discount
    assert values[19] == expected.units
    assert values[20] == int(expected.cancelled)
    assert type(values[10]) is str and values[10] == order.status.value


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(order=strategies.orders(customer_id="c1"))
def test_orders_round_trip_exactly(tmp_path_factory: pytest.TempPathFactory, order: Order) -> None:
    s = SqliteStore(tmp_path_factory.mktemp("rt") / "crm.db")
    s.customers.put(Customer(id="c1", created_at=T0))
    s.orders.put_many([order])
    assert s.orders.get(order.id) == order
    s.orders.upsert(order)  # replacing keeps exactly one copy of the lines
    assert s.orders.for_customer("c1") == [order]
    s.close()


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(-3, 3), st.text(alphabet="aAzé\x1f🙂0", min_size=1, max_size=3)),
        max_size=40,
        unique_by=lambda r: r[1],
    )
)
def test_sort_by_time_then_id_matches_python_sorting(rows: list[tuple[int, str]]) -> None:
    from ecomcrm.storage.toolkit._columnar import sort_by_time_then_id

    at = np.array([r[0] for r in rows], dtype=np.int64)
    ids = np.empty(len(rows), dtype=object)
    ids[:] = [r[1] for r in rows]
    perm = sort_by_time_then_id(at, ids)
    assert [rows[i] for i in perm.tolist()] == sorted(rows)


def test_both_cold_read_paths_agree(store: SqliteStore) -> None:
    import ecomcrm.storage.sqlite._columnar as col

    store.customers.put_many(Customer(id=f"c{i}", created_at=T0) for i in range(3))
    store.merge("c0", "c2", at=T0)
    store.orders.put_many(
        _order(f"o{i}", f"c{i % 2}", i % 4, "EUR" if i % 3 else "USD") for i in range(30)
    )
    store.orders.add_refund(
        Refund(id="r", order_id="o7", customer_id="c1", amount="2", currency="EUR", at=T0)
    )
    with store._db.read() as conn:
        by_columns = col._read_columns(conn)
        by_rows = col._read_rows(conn)
    assert by_columns is not None
    for name in ("order_id", "order_pk", "placed_at", "currency_code", "amount", "refunded"):
        assert getattr(by_columns, name).tolist() == getattr(by_rows, name).tolist(), name
    assert by_columns.currencies == by_rows.currencies == ("EUR", "USD")
    store.customers.put(Customer(id="c9", created_at=T0))
    store.orders.upsert(_order("odd\x1fid", "c9"))
    with store._db.read() as conn:
        assert col._read_columns(conn) is None  # falls back to rows


def test_another_thread_reads_the_last_commit_without_waiting_for_a_writer(path: Path) -> None:
    """A read from a second thread while a transaction is open sees the committed state."""
    import threading

    store = SqliteStore(str(path))
    ada = Identity.email("ada@example.com")
    first = Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=UTC), identities=[ada])
    store.customers.put_many([first])
    bob = Identity.email("bob@example.com")
    inside, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.transaction():
            store.customers.put_many(
                [Customer(id="c2", created_at=datetime(2024, 1, 2, tzinfo=UTC), identities=[bob])]
            )
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert inside.wait(10)
        # Neither call waits for the writer (it is still blocked on `release`).
        assert store.customers.find_by_identity(bob) is None
        found = store.customers.find_by_identity(ada)
        assert found is not None and found.id == "c1"
        assert not store.is_suppressed(bob)
    finally:
        release.set()
        thread.join(10)
    after = store.customers.find_by_identity(bob)
    assert after is not None and after.id == "c2"
    store.close()


def test_schema_3_has_no_time_only_indexes(path: Path) -> None:
    """orders_placed and events_at served no query; version 3 drops them (also on migration)."""
    from ecomcrm.storage.sqlite._schema import APPLICATION_ID, migrate

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    migrate(conn, 0, target=2)
    conn.execute("COMMIT")
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    names = "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN (?, ?)"
    assert len(conn.execute(names, ("orders_placed", "events_at")).fetchall()) == 2
    conn.close()
    SqliteStore(str(path)).close()  # opening migrates 2 -> 3
    conn = sqlite3.connect(path)
    assert conn.execute(names, ("orders_placed", "events_at")).fetchall() == []
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_schema_4_migration_gives_old_state_records_their_owner(path: Path) -> None:
    """Version 3 erased state by any ``:``-part of a key; the migration names each owner.

    A version-3 file holding the rules engine's records of ``cart``, ``enr``, ``timer``,
    ``bob`` and ``alice:bob`` is opened (migrated to 4), then ``cart`` and ``bob`` are
    erased: only their records go (before, erasing ``cart`` took everybody's cart flow,
    ``enr`` every enrollment, ``timer`` every timer, ``bob`` alice:bob's records).
    """
    from ecomcrm.storage.sqlite._schema import migrate

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    migrate(conn, 0, target=3)
    ids = ["cart", "enr", "timer", "bob", "alice:bob"]
    rows: list[tuple[str, str]] = [("flowdef:cart:000001", "{}"), ("app:config", "{}")]
    for n, cid in enumerate(ids):
        conn.execute("INSERT INTO customers (id, created_at) VALUES (?, 0)", (cid,))
        rows += [
            (f"enr:cart:{cid}", json.dumps({"ctx": {"secret": f"props of {cid}"}})),
            (f"trg:winback:{cid}", "{}"),
            (f"seg:vip:{cid}", "{}"),
            (f"cnt:cart:{cid}", "{}"),
            (f"cap:{cid}", "{}"),
            (f"timer:{n:017d}:enr:cart:{cid}", json.dumps({"k": f"enr:cart:{cid}"})),
            (f"act:act_{n}", json.dumps({"customer_id": cid, "idempotency_key": f"cart:v2:{n}"})),
        ]
    conn.executemany("INSERT INTO state (key, value, version) VALUES (?, ?, 1)", rows)
    conn.execute("COMMIT")
    conn.close()

    store = SqliteStore(path)
    assert store.schema_version == SCHEMA_VERSION >= 4
    owners = {r.key: r.owner for r in store.state.scan()}
    assert owners["timer:00000000000000004:enr:cart:alice:bob"] == "alice:bob"
    assert owners["act:act_0"] == "cart" and owners["flowdef:cart:000001"] is None
    assert owners["enr:cart:alice:bob"] == "alice:bob" and owners["app:config"] is None
    store.erase("cart")
    store.erase("bob")
    left = {r.key for r in store.state.scan()}
    for cid in ("enr", "timer", "alice:bob"):
        assert {f"enr:cart:{cid}", f"cap:{cid}", f"seg:vip:{cid}"} <= left, cid
    assert not any(k.endswith((":cart", ":bob")) and "alice" not in k for k in left)
    assert sum(1 for k in left if k.startswith("act:")) == 3
    assert len(left) == 2 + 3 * 7
    store.close()
    raw = _files(path)
    assert b"props of alice:bob" in raw and b"props of bob" not in raw.replace(b"alice:bob", b"")
