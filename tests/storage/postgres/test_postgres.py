"""What is specific to PostgresStore: URLs, schemas and migrations, errors, faults, erasure."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
import pytest
from _pg import drop_schema, fresh_schema, schema_url, server_url

import ecomcrm
from ecomcrm.domain import Customer, Event, Identity, Order, OrderLine
from ecomcrm.errors import ConflictError, SchemaVersionError, StorageError
from ecomcrm.storage import PostgresStore, Store
from ecomcrm.storage.postgres import SCHEMA_VERSION, TABLES

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _customer(cid: str, email: str | None = None, **fields: object) -> Customer:
    identities = [Identity.email(email)] if email else []
    return Customer(id=cid, created_at=T0, identities=identities, **fields)  # type: ignore[arg-type]


def _order(oid: str, cid: str, price: str = "10.00") -> Order:
    return Order(
        id=oid,
        customer_id=cid,
        placed_at=T0,
        currency="EUR",
        lines=[OrderLine(sku="A", quantity=1, unit_price=price)],
    )


def _sql(sql: str, *args: object) -> list[tuple[object, ...]]:
    with psycopg.connect(server_url(), autocommit=True) as conn:
        cur = conn.execute(sql.encode(), args or None)
        return cur.fetchall() if cur.description else []


def test_open_store_url_names_the_schema(pg_schema: str, pg_url: str) -> None:
    store = ecomcrm.open_store(pg_url)
    try:
        assert isinstance(store, PostgresStore) and isinstance(store, Store)
        assert store.schema == pg_schema and store.schema_version == SCHEMA_VERSION
        store.customers.put(_customer("c1"))
        tables = {r[0] for r in _sql(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", pg_schema
        )}  # fmt: skip
        assert tables == set(TABLES)
        assert _sql(f'SELECT id FROM "{pg_schema}".customers') == [("c1",)]
        again = ecomcrm.open_store(store.url)
        assert again.customers.get("c1").id == "c1"
        again.close()
    finally:
        store.close()


def test_default_schema_and_bad_names(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StorageError, match="lower-case identifier"):
        PostgresStore(server_url() + "?schema=Robert'); DROP TABLE x;--")
    with pytest.raises(StorageError, match="postgresql://"):
        PostgresStore("mysql://x@y/z")


def test_connection_failure_names_host_and_db_not_password() -> None:
    with pytest.raises(StorageError) as info:
        PostgresStore("postgresql://app:s3cret@127.0.0.1:1/shop?connect_timeout=1", timeout=2)
    text = str(info.value)
    assert "127.0.0.1:1/shop" in text and "s3cret" not in text


def test_missing_driver_gives_the_install_hint() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import ecomcrm\n"
        "try:\n"
        "    ecomcrm.open_store('postgresql://x@127.0.0.1/test')\n"
        "except ecomcrm.errors.StorageError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'ecomcrm[postgres]'" in out.stdout


def test_newer_schema_is_refused_untouched(pg_schema: str, pg_url: str) -> None:
    PostgresStore(pg_url).close()
    _sql(f"UPDATE \"{pg_schema}\".meta SET value = '999' WHERE key = 'schema_version'")
    before = _sql(f'SELECT key, value FROM "{pg_schema}".meta ORDER BY key')
    with pytest.raises(SchemaVersionError, match="newer"):
        PostgresStore(pg_url)
    assert _sql(f'SELECT key, value FROM "{pg_schema}".meta ORDER BY key') == before


def test_foreign_schema_is_refused_untouched(pg_schema: str, pg_url: str) -> None:
    _sql(f'CREATE SCHEMA "{pg_schema}"')
    _sql(f'CREATE TABLE "{pg_schema}".accounts (id int)')
    with pytest.raises(StorageError, match="not an ecomcrm schema"):
        PostgresStore(pg_url)
    tables = _sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", pg_schema
    )
    assert tables == [("accounts",)]


def test_many_openers_migrate_once(pg_schema: str, pg_url: str) -> None:
    code = (
        "import sys; from ecomcrm.storage import PostgresStore\n"
        "PostgresStore(sys.argv[1]).close()\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, pg_url]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert _sql(f"SELECT value FROM \"{pg_schema}\".meta WHERE key = 'schema_version'") == [
        (str(SCHEMA_VERSION),)
    ]


def test_dropped_connection_is_a_storage_error_then_reconnects(pg_url: str) -> None:
    name = fresh_schema()  # a unique application_name: only this store's connection is cut
    store = PostgresStore(f"{pg_url}&application_name={name}", pool_min=1, pool_max=1)
    try:
        store.customers.put(_customer("c1"))
        killed = _sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            name,
        )
        assert killed == [(True,)]
        with pytest.raises(StorageError, match=r"connection|terminat"):
            store.customers.count()
        assert store.customers.count() == 1
    finally:
        store.close()


def test_unique_violation_in_a_transaction_is_a_conflict_and_rolls_back(
    open_pg: Callable[..., PostgresStore],
) -> None:
    store = open_pg()
    store.state.put("k", {"n": 1}, expected_version=None)
    with store.transaction():
        store.customers.put(_customer("c1"))
        with pytest.raises(ConflictError):
            store.state.put("k", {"n": 2}, expected_version=None)
        store.customers.put(_customer("c2"))  # the transaction is still usable
    assert store.customers.count() == 2


def test_erasure_leaves_no_text_of_the_person_in_any_column(
    open_pg: Callable[..., PostgresStore],
) -> None:
    store = open_pg()
    secret = "zelda.quux@example.org"
    store.customers.put(_customer("zq-1", secret, first_name="Zeldaquux"))
    store.orders.upsert(_order("zq-o1", "zq-1"))
    store.events.append(
        Event(name="Viewed", at=T0, customer_id="zq-1", properties={"who": "Zeldaquux"})
    )
    store.state.put("enr:x:zq-1", {"note": "Zeldaquux"}, expected_version=None, owner="zq-1")
    assert b"Zeldaquux" in b"".join(store.raw_tables().values())
    store.erase("zq-1")
    # every text column of every table, scanned on the server
    columns = _sql(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND data_type = 'text'",
        store.schema,
    )
    for table, column in columns:
        hits = _sql(
            f'SELECT count(*) FROM "{store.schema}"."{table}" '
            f"WHERE \"{column}\" ILIKE '%%zeldaquux%%' OR \"{column}\" LIKE '%%zq-%%'"
        )
        assert hits == [(0,)], (table, column)
    store.vacuum(["customers", "identities", "events", "state", "orders", "order_lines"])
    store.vacuum(["customers"], full=True)
    with pytest.raises(Exception, match="not a table"):
        store.vacuum(["pg_class"])


def test_two_stores_in_two_schemas_are_separate(pg_url: str) -> None:
    other = fresh_schema()
    a = PostgresStore(pg_url)
    b = PostgresStore(schema_url(other))
    try:
        a.customers.put(_customer("c1"))
        assert b.customers.count() == 0
    finally:
        a.close()
        b.close()
        drop_schema(other)


def test_claims_every_capability_the_engine_and_importers_use(
    open_pg: Callable[..., PostgresStore],
) -> None:
    from ecomcrm.storage import (
        SupportsBulkFacts,
        SupportsBulkLoad,
        SupportsClaims,
        SupportsPreparedOrders,
        SupportsRetention,
        SupportsSharedUrl,
        SupportsStateBatches,
        SupportsSuppressionSummary,
    )

    store = open_pg()
    for capability in (
        SupportsBulkFacts,
        SupportsBulkLoad,
        SupportsRetention,
        SupportsSharedUrl,
        SupportsSuppressionSummary,
    ):
        assert isinstance(store, capability), capability.__name__
    assert isinstance(store.orders, SupportsPreparedOrders)
    assert isinstance(store.state, SupportsStateBatches)
    assert isinstance(store.state, SupportsClaims)
    with store.bulk_load():  # one pinned connection: several transactions, then released
        store.customers.put(_customer("b1"))
        with store.transaction():
            store.customers.put(_customer("b2"))
    assert store.customers.count() == 2
