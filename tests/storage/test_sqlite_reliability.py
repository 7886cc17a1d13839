"""SqliteStore under crashes, concurrent processes, foreign files and erasure (real files)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ecomcrm.domain import (
    Address,
    Customer,
    Event,
    Identity,
    Message,
    Order,
    OrderLine,
    SupportTicket,
)
from ecomcrm.errors import ConflictError, SchemaVersionError, StorageError
from ecomcrm.storage.sqlite import SqliteStore
from ecomcrm.storage.sqlite._schema import APPLICATION_ID, SCHEMA_VERSION, migrate

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _files(path: Path) -> dict[str, bytes]:
    out = {}
    for suffix in ("", "-wal", "-shm"):
        p = Path(str(path) + suffix)
        if p.exists():
            out[suffix] = p.read_bytes()
    return out


def _dump(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _run_child(code: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _seed(path: Path) -> None:
    store = SqliteStore(path)
    store.customers.put_many(
        Customer(id=f"c{i}", created_at=T0, identities=[Identity.email(f"u{i}@example.com")])
        for i in range(20)
    )
    store.orders.put_many(
        Order(
            id=f"seed{i}",
            customer_id=f"c{i % 20}",
            placed_at=T0 + timedelta(hours=i),
            currency="EUR",
            lines=[OrderLine(sku="A", quantity=1, unit_price="9.99")],
        )
        for i in range(50)
    )
    store.close()


KILLED_IMPORT = """
import sys, time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from ecomcrm.domain import Order, OrderLine
from ecomcrm.storage.sqlite import SqliteStore

path, marker = sys.argv[1], Path(sys.argv[2])
t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
store = SqliteStore(path)
# A small page cache makes the open transaction spill its pages into the WAL file, so the
# kill happens with uncommitted data on disk (the hardest case for recovery).
store._db.conn.execute("PRAGMA cache_size = 50")

def orders():
    for i in range(1_000_000):
        if i == 30_000:
            marker.write_text("half way")
            time.sleep(600)
        yield Order(id=f"imp{i}", customer_id=f"c{i % 20}", placed_at=t0 + timedelta(seconds=i),
                    currency="EUR", lines=[OrderLine(sku="B", quantity=2, unit_price="1.50")])

store.orders.put_many(orders(), batch_size=2_000)
"""


@pytest.mark.slow
def test_sigkill_during_bulk_import_leaves_the_database_as_before(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    _seed(path)
    before_bytes = path.read_bytes()
    before_dump = _dump(path)
    marker = tmp_path / "marker"
    child = _run_child(KILLED_IMPORT, str(path), str(marker))
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "child never reached the middle of the import"
            time.sleep(0.05)
        # 15 batches of 2,000 orders and their lines were written, uncommitted, to the WAL.
        assert Path(str(path) + "-wal").stat().st_size > 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == before_bytes  # nothing reached the database file itself
    store = SqliteStore(path)  # recovers: uncommitted WAL frames are ignored
    assert store.orders.count() == 50
    assert store.customers.count() == 20
    store.close()
    assert _dump(path) == before_dump


CONCURRENT_WRITER = """
import sys
from datetime import datetime, timezone
from ecomcrm.domain import Customer, Order, OrderLine
from ecomcrm.errors import ConflictError
from ecomcrm.storage.sqlite import SqliteStore

path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
store = SqliteStore(path, timeout=30)
conflicts = 0
for i in range(n):
    cid = f"{name}-{i}"
    store.customers.put(Customer(id=cid, created_at=t0))
    store.orders.upsert(Order(id=f"o-{cid}", customer_id=cid, placed_at=t0, currency="EUR",
                              lines=[OrderLine(sku="A", quantity=1, unit_price="1")]))
    while True:  # increment a shared counter with compare-and-set
        record = store.state.get("counter")
        try:
            store.state.put("counter", {"n": record.value["n"] + 1},
                            expected_version=record.version)
            break
        except ConflictError:
            conflicts += 1
print(conflicts)
"""


@pytest.mark.slow
def test_two_processes_writing_one_file_lose_no_writes(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    store = SqliteStore(path)
    store.state.put("counter", {"n": 0}, expected_version=None)
    n = 150
    children = [_run_child(CONCURRENT_WRITER, str(path), name, str(n)) for name in ("a", "b")]
    outputs = [child.communicate(timeout=300) for child in children]
    for child, (_out, err) in zip(children, outputs, strict=True):
        assert child.returncode == 0, err.decode()
    assert store.customers.count() == 2 * n
    assert store.orders.count() == 2 * n
    record = store.state.get("counter")
    assert record is not None
    assert record.value == {"n": 2 * n}
    assert record.version == 2 * n + 1
    store.close()


def test_compare_and_set_conflict_is_detected_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    store = SqliteStore(path)
    first = store.state.put("flow:c1", {"step": 1}, expected_version=None)
    code = """
    import sys
    from ecomcrm.storage.sqlite import SqliteStore
    s = SqliteStore(sys.argv[1])
    s.state.put("flow:c1", {"step": 2, "by": "child"}, expected_version=1)
    """
    child = _run_child(code, str(path))
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err.decode()
    with pytest.raises(ConflictError):
        store.state.put("flow:c1", {"step": 2, "by": "parent"}, expected_version=first.version)
    record = store.state.get("flow:c1")
    assert record is not None
    assert record.value == {"step": 2, "by": "child"}
    assert record.version == 2


def test_a_foreign_sqlite_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('hello')")
    conn.commit()
    conn.close()
    before = _files(path)
    with pytest.raises(StorageError, match="not an ecomcrm database") as info:
        SqliteStore(path)
    assert not isinstance(info.value, SchemaVersionError)
    assert _files(path) == before
    assert _dump(path)[1:3] == [
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);",
        "INSERT INTO \"notes\" VALUES(1,'hello');",
    ]


def test_a_file_that_is_not_a_database_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"just some text, certainly not SQLite\n" * 200)
    before = _files(path)
    with pytest.raises(StorageError, match="not an ecomcrm database"):
        SqliteStore(path)
    assert _files(path) == before


def test_a_newer_schema_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    _seed(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    before = _files(path)
    with pytest.raises(SchemaVersionError, match="newer ecomcrm") as info:
        SqliteStore(path)
    assert info.value.value == SCHEMA_VERSION + 1
    assert _files(path) == before


def test_an_older_schema_is_migrated_forward_keeping_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    migrate(conn, 0, target=1)
    conn.execute("INSERT INTO customers (id, created_at, first_name) VALUES ('c1', 0, 'Ada')")
    conn.execute("COMMIT")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    conn.close()
    store = SqliteStore(path)
    assert store.schema_version == SCHEMA_VERSION
    assert store.customers.get("c1").first_name == "Ada"
    assert len(store.order_facts()) == 0  # the v2 cache table exists and works
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    conn.close()


SECRETS = {
    "email": b"zelda.quixote-erasable@example.org",
    "phone": b"+15550199876",
    "name": b"Zeldaquixote",
}


def _erasable_store(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    store.customers.put_many(
        Customer(
            id=f"c{i}",
            created_at=T0,
            identities=[Identity.email(f"keep{i}@example.com")],
            first_name=f"Keeper{i}",
        )
        for i in range(200)
    )
    zelda = Customer(
        id="z1",
        created_at=T0,
        identities=[Identity.email("zelda.quixote-erasable@example.org")],
        first_name="Zelda",
    )
    store.customers.put(zelda)
    # later updates leave older versions of the row in freed space unless it is scrubbed
    store.customers.upsert(
        Customer(
            id="z1",
            created_at=T0,
            identities=[
                Identity.email("zelda.quixote-erasable@example.org"),
                Identity.phone("+1 555 019 9876"),
                Identity(kind="anonymous", value="cookie-zq"),
            ],
            first_name="Zelda",
            last_name="Zeldaquixote",
            addresses=[Address(line1="1 Zeldaquixote Lane", city="Springfield")],
        )
    )
    store.customers.put(
        Customer(id="z2", created_at=T0, first_name="Zeldaquixote", last_name="Junior")
    )
    store.merge("z1", "z2", at=T0)
    store.orders.upsert(
        Order(
            id="zo1",
            customer_id="z1",
            placed_at=T0,
            currency="EUR",
            lines=[OrderLine(sku="A", quantity=1, unit_price="5")],
            shipping_address=Address(line1="Zeldaquixote House, +15550199876"),
            discount_codes=["ZELDAQUIXOTE10"],
        )
    )
    store.events.append(
        Event(
            name="Signed Up",
            anonymous_id="cookie-zq",
            at=T0,
            properties={"email": "zelda.quixote-erasable@example.org", "name": "Zeldaquixote"},
        )
    )
    store.tickets.upsert(
        SupportTicket(
            id="zt1", customer_id="z1", channel="email", subject="Zeldaquixote here", opened_at=T0
        )
    )
    store.messages.upsert(
        Message(
            id="zm1",
            customer_id="z1",
            channel="sms",
            at=T0,
            params={"to": "+15550199876", "first_name": "Zeldaquixote"},
        )
    )
    store.order_facts()  # builds the persisted facts cache too
    return store


@pytest.mark.parametrize("keep_order_facts", [False, True])
def test_erase_leaves_no_bytes_of_the_person_in_the_files(
    tmp_path: Path, keep_order_facts: bool
) -> None:
    path = tmp_path / "crm.db"
    store = _erasable_store(path)
    raw = b"".join(_files(path).values())
    for value in SECRETS.values():
        assert value in raw  # the scan can see them before erasure
    receipt = store.erase("z2", keep_order_facts=keep_order_facts)
    assert receipt.customer_id == "z1"
    assert len(receipt.tombstones) == 4  # an email, a phone and the ids z1, z2
    assert receipt.kept_order_facts is keep_order_facts
    files = _files(path)
    for suffix, data in files.items():
        for what, value in SECRETS.items():
            assert value not in data, f"{what} found in {path.name}{suffix}"
            assert value.lower() not in data.lower(), f"{what} found in {path.name}{suffix}"
    assert store.customers.count() == 200 + int(keep_order_facts)
    assert store.is_suppressed(Identity.phone("+15550199876"))
    store.close()
    files = _files(path)
    for data in files.values():
        for value in SECRETS.values():
            assert value not in data


def test_erase_inside_an_outer_transaction_scrubs_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    store = _erasable_store(path)
    with store.transaction():
        store.erase("z1")
        store.customers.put(Customer(id="n1", created_at=T0))
    for data in _files(path).values():
        for value in SECRETS.values():
            assert value not in data
    store.close()
