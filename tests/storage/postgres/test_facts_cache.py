"""The order-facts cache in the database: served while current, never when a write is missing.

Every test reads a real server. Invalidation is proved with writes from the same handle,
another handle (its own pool), a transaction still open while the cache is built and a
writer that commits during the build; the cached read is compared with a handle that
never uses the cache (Hypothesis drives the writes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from _pg import drop_schema, fresh_schema, schema_url, server_url
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ecomcrm.storage.postgres._facts_cache as facts_cache
import ecomcrm.storage.postgres._facts_codec as facts_codec
import ecomcrm.storage.postgres._order_facts as order_facts_module
from ecomcrm.domain import Customer, Order, OrderLine, Refund
from ecomcrm.storage import OrderFacts, PostgresStore

T0 = datetime(2024, 2, 1, tzinfo=UTC)
RATES = {"EUR": 1.0, "USD": 0.9, "GBP": 1.2}


def _order(oid: str, cid: str, *, hours: int = 0, price: str = "10.00", qty: int = 1,
           currency: str = "EUR") -> Order:  # fmt: skip
    return Order(
        id=oid,
        customer_id=cid,
        placed_at=T0 + timedelta(hours=hours),
        currency=currency,
        lines=[OrderLine(sku="A", quantity=qty, unit_price=price)],
    )


def _equal(a: OrderFacts, b: OrderFacts) -> None:
    assert a.currency == b.currency
    for name in ("customer_ids", "order_id", "customer_index", "placed_at", "units",
                 "returned_units", "cancelled", "amount", "discount", "refunded"):  # fmt: skip
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
        assert getattr(a, name).dtype == getattr(b, name).dtype, name


def _sql(schema: str, sql: str, *args: object) -> list[tuple[Any, ...]]:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f"SET search_path = {schema}".encode())
        cur = conn.execute(sql.encode(), args or None)
        return cur.fetchall() if cur.description else []


def _cached(schema: str) -> bool:
    return bool(_sql(schema, "SELECT count(*) FROM facts_cache_meta")[0][0])


@pytest.fixture
def store(open_pg: Callable[..., PostgresStore]) -> PostgresStore:
    s = open_pg(pool_max=2)
    s.customers.put_many(Customer(id=f"c{n}", created_at=T0) for n in range(3))
    s.orders.put_many([_order("o1", "c0"), _order("o2", "c1", hours=1)])
    return s


def test_a_read_saves_the_cache_and_the_next_read_is_served_from_it(
    store: PostgresStore, pg_schema: str
) -> None:
    first = store.order_facts()
    assert _cached(pg_schema)
    # a write that leaves no change marker (triggers off for this session): the store
    # cannot see it, so the cache is what the second read returns
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f"SET search_path = {pg_schema}".encode())
        conn.execute(b"SET session_replication_role = replica")
        conn.execute(b"UPDATE orders SET amount = 99 WHERE id = 'o1'")
    again = store.order_facts()
    _equal(first, again)
    assert again.amount.tolist() == [10.0, 10.0]
    # with the cache off the same handle-kind reads the tables
    uncached = PostgresStore(store.url, facts_cache=False, pool_max=1)
    try:
        assert uncached.order_facts().amount.tolist() == [99.0, 10.0]
    finally:
        uncached.close()


def test_the_save_compacts_the_change_markers(store: PostgresStore, pg_schema: str) -> None:
    assert _sql(pg_schema, "SELECT count(*) FROM facts_changes")[0][0] >= 2
    store.order_facts()
    assert _sql(pg_schema, "SELECT count(*) FROM facts_changes") == [(0,)]
    store.orders.upsert(_order("o3", "c2"))
    assert _sql(pg_schema, "SELECT count(*) FROM facts_changes") == [(1,)]


def test_stale_after_a_write_of_the_same_handle(store: PostgresStore) -> None:
    store.order_facts()
    store.orders.upsert(_order("o3", "c2", hours=2))
    assert store.order_facts().order_id.tolist() == ["o1", "o2", "o3"]
    store.orders.add_refund(Refund(id="r1", order_id="o1", customer_id="c0",
                                   at=T0 + timedelta(days=1), amount="4.00", currency="EUR"))  # fmt: skip
    assert store.order_facts().refunded.tolist() == [4.0, 0.0, 0.0]
    store.customers.put(Customer(id="c9", created_at=T0))
    assert store.order_facts().customer_ids.tolist() == ["c0", "c1", "c2", "c9"]
    store.merge("c0", "c1", at=T0 + timedelta(days=2))
    facts = store.order_facts()
    assert facts.customer_ids.tolist() == ["c0", "c2", "c9"]
    assert facts.customer_index.tolist() == [0, 0, 1]


def test_stale_after_a_write_of_another_handle(
    store: PostgresStore, open_pg: Callable[..., PostgresStore]
) -> None:
    other = open_pg(pool_max=1)
    assert store.order_facts().order_id.tolist() == ["o1", "o2"]
    other.orders.upsert(_order("o1", "c2", hours=5, price="7.00"))
    facts = store.order_facts()
    assert facts.order_id.tolist() == ["o2", "o1"] and facts.amount.tolist() == [10.0, 7.0]
    other.erase("c1")
    assert store.order_facts().order_id.tolist() == ["o1"]


def test_a_transaction_open_during_the_build_is_seen_after_it_commits(
    store: PostgresStore, open_pg: Callable[..., PostgresStore], pg_schema: str
) -> None:
    other = open_pg(pool_max=1)
    with other.transaction():
        other.orders.upsert(_order("o3", "c2", hours=3))
        # the build cannot see the open transaction; its marker is not committed yet
        assert store.order_facts().order_id.tolist() == ["o1", "o2"]
        assert _cached(pg_schema)
    assert store.order_facts().order_id.tolist() == ["o1", "o2", "o3"]


def test_a_writer_committing_during_the_build_keeps_it_from_being_saved(
    store: PostgresStore, open_pg: Callable[..., PostgresStore], pg_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    other = open_pg(pool_max=1)
    real = order_facts_module.read_raw
    saved: list[bool] = []
    real_save = facts_cache.save

    def read_then_write(conn: Any) -> facts_cache.RawFacts:
        raw = real(conn)  # the builder's snapshot is taken; now another writer commits
        other.orders.upsert(_order("o3", "c2", hours=3))
        return raw

    def save(*args: Any) -> bool:
        saved.append(real_save(*args))
        return saved[-1]

    monkeypatch.setattr(order_facts_module, "read_raw", read_then_write)
    monkeypatch.setattr(facts_cache, "save", save)
    assert store.order_facts().order_id.tolist() == ["o1", "o2"]  # its own snapshot
    assert saved == [False] and not _cached(pg_schema)
    monkeypatch.setattr(order_facts_module, "read_raw", real)
    assert store.order_facts().order_id.tolist() == ["o1", "o2", "o3"]
    assert saved == [False, True]


def test_an_older_build_cannot_replace_a_newer_cache(store: PostgresStore) -> None:
    db = store._db
    with db.snapshot() as conn:  # an old builder: its snapshot, its columns
        old_snapshot = facts_cache.snapshot_of(conn)
        old = order_facts_module.read_raw(conn)
    store.orders.upsert(_order("o3", "c2", hours=3))
    assert store.order_facts().order_id.tolist() == ["o1", "o2", "o3"]  # saved, markers gone
    assert facts_cache.save(db, old, old_snapshot) is False
    assert store.order_facts().order_id.tolist() == ["o1", "o2", "o3"]


def test_erasure_deletes_the_cache(store: PostgresStore, pg_schema: str) -> None:
    store.customers.upsert(Customer(id="erase-me-9f2", created_at=T0))
    store.orders.upsert(_order("erase-order-77", "erase-me-9f2"))
    store.order_facts()
    assert _cached(pg_schema)
    store.erase("erase-me-9f2")
    assert _sql(pg_schema, "SELECT count(*) FROM facts_cache") == [(0,)]
    dump = b"".join(store.raw_tables().values())
    assert b"erase-me-9f2" not in dump and b"erase-order-77" not in dump
    assert store.order_facts().order_id.tolist() == ["o1", "o2"]


def test_values_that_need_care_survive_the_cache(
    open_pg: Callable[..., PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_pg(pool_max=1)
    odd = ["c\ttab", "c\\back", "c\x1fsep", "c\nline", "ç-ü-日本", ""]
    odd = [c for c in odd if c]
    store.customers.put_many(Customer(id=c, created_at=T0) for c in odd)
    store.orders.put_many(
        [_order(f"o-{c}", c, hours=n, qty=2**40 if n == 0 else n) for n, c in enumerate(odd)]
    )
    monkeypatch.setattr(facts_cache, "CACHE_ROWS", 2)  # several chunks per column
    cold = store.order_facts(currency="EUR", rates=RATES)
    warm = store.order_facts(currency="EUR", rates=RATES)
    _equal(cold, warm)
    assert warm.units.tolist()[0] == 2**40 and warm.order_id.tolist()[0] == "o-c\ttab"


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.integers(0, 7), st.integers(0, 3),
                  st.integers(0, 48), st.sampled_from(["EUR", "USD", "GBP"])),
        st.tuples(st.just("refund"), st.integers(0, 7)),
        st.tuples(st.just("customer"), st.integers(0, 5)),
        st.tuples(st.just("merge"), st.integers(0, 3), st.integers(0, 3)),
        st.tuples(st.just("read"),),
    ),
    max_size=12,
)  # fmt: skip


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PostgresStore, PostgresStore]]:
    schema = fresh_schema()
    cached = PostgresStore(schema_url(schema), pool_max=1)
    plain = PostgresStore(schema_url(schema), pool_max=1, facts_cache=False)
    yield cached, plain
    cached.close()
    plain.close()
    drop_schema(schema)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=_ops)
def test_cached_reads_equal_reads_from_the_tables(
    pair: tuple[PostgresStore, PostgresStore], ops: list[tuple[Any, ...]]
) -> None:
    cached, plain = pair
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f"SET search_path = {cached.schema}".encode())
        conn.execute(
            b"TRUNCATE customers, identities, merges, orders, order_lines, refunds, "
            b"facts_cache, facts_cache_meta CASCADE"
        )
    cached.customers.put_many(Customer(id=f"c{n}", created_at=T0) for n in range(4))
    refunds = 0
    for op in ops:
        kind = op[0]
        if kind == "order":
            _, n, customer, hours, currency = op
            target = cached.resolve(f"c{customer}")
            cached.orders.upsert(_order(f"o{n}", target, hours=hours, currency=currency,
                                        price=f"{n + 1}.25"))  # fmt: skip
        elif kind == "refund":
            order = f"o{op[1]}"
            found = [o for o in cached.orders.for_customer("c0") if o.id == order]
            if found:
                refunds += 1
                cached.orders.add_refund(Refund(id=f"r{refunds}", order_id=order,
                                                customer_id=found[0].customer_id,
                                                at=T0 + timedelta(days=3), amount="1.00",
                                                currency=found[0].currency))  # fmt: skip
        elif kind == "customer":
            cached.customers.upsert(Customer(id=f"c{op[1] + 4}", created_at=T0))
        elif kind == "merge":
            a, b = cached.resolve(f"c{op[1]}"), cached.resolve(f"c{op[2]}")
            if a != b:
                cached.merge(a, b, at=T0 + timedelta(days=4))
        else:
            _equal(cached.order_facts(currency="EUR", rates=RATES),
                   plain.order_facts(currency="EUR", rates=RATES))  # fmt: skip
    _equal(cached.order_facts(currency="EUR", rates=RATES),
           plain.order_facts(currency="EUR", rates=RATES))  # fmt: skip
    _equal(cached.order_facts(currency="EUR", rates=RATES),
           plain.order_facts(currency="EUR", rates=RATES))  # fmt: skip


_int64 = st.integers(-(2**63), 2**63 - 1)
_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**9), 10**9).map(lambda k: k / 100),
    st.sampled_from([0.0, -0.0, 0.1, 1e300, 1.7e308, -1.7e308, 5e-324]),
)


@given(
    values=st.one_of(
        st.lists(_int64, max_size=40).map(lambda v: np.array(v, dtype=np.int64)),
        st.lists(st.integers(0, 10**12), max_size=40).map(
            lambda v: np.array(sorted(v), dtype=np.int64)
        ),
        st.lists(_floats, max_size=40).map(lambda v: np.array(v, dtype=np.float64)),
        st.lists(st.booleans(), max_size=40).map(lambda v: np.array(v, dtype=np.bool_)),
    ),
    chunk=st.integers(1, 7),
)
def test_the_column_encodings_give_back_the_same_bits(values: Any, chunk: int) -> None:
    stored, spec = facts_codec.encode(values)
    raw = stored.tobytes()
    width = stored.dtype.itemsize * chunk
    parts = [raw[i : i + width] for i in range(0, len(raw), width)]
    back = facts_codec.decode(parts, spec, values.dtype, values.shape[0])
    assert back.dtype == values.dtype and back.tobytes() == values.tobytes()
    assert stored.dtype.itemsize <= values.dtype.itemsize
    assert facts_codec.decode(parts[:-1], spec, values.dtype, values.shape[0]) is None or not raw


def test_a_cache_of_another_layout_is_rebuilt(store: PostgresStore, pg_schema: str) -> None:
    expected = store.order_facts().order_id.tolist()
    _sql(pg_schema, """UPDATE facts_cache_meta SET manifest = '{"format": 0}'""")
    assert store.order_facts().order_id.tolist() == expected
    assert _sql(pg_schema, "SELECT manifest::json->>'format' FROM facts_cache_meta") == [
        (str(facts_cache.FORMAT),)
    ]


def test_a_cache_restored_from_another_table_is_ignored(
    store: PostgresStore, pg_schema: str
) -> None:
    store.order_facts()
    # as after pg_dump and a restore elsewhere: the row names a table that is not this one
    _sql(pg_schema, "UPDATE facts_cache_meta SET relation = 0")
    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f"SET search_path = {pg_schema}".encode())
        conn.execute(b"SET session_replication_role = replica")  # no change marker
        conn.execute(b"UPDATE orders SET amount = 99 WHERE id = 'o1'")
    assert store.order_facts().amount.tolist() == [99.0, 10.0]
