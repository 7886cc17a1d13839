"""The SQLite adapter: one file, stdlib :mod:`sqlite3`, every repository of the contract.

Layout and rules of the schema are in :mod:`ecomcrm.storage._sqlite_schema`; columnar
reads in :mod:`ecomcrm.storage._sqlite_columnar`. This module holds the connection
handling (transactions, savepoints, error translation) and the repositories.

Concurrency: every write runs in ``BEGIN IMMEDIATE`` (the database's write lock is taken
before anything is read), so compare-and-set and identity checks are correct across
threads and processes; waiting for the lock is bounded by ``timeout``.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import ecomcrm.storage._sqlite_columnar as col
import ecomcrm.storage._sqlite_lines as _sqlite_lines
import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Address,
    Channel,
    Consent,
    Customer,
    Event,
    Identity,
    IdentityKind,
    LoyaltyEntry,
    Message,
    Order,
    OrderLine,
    OrderStatus,
    Purpose,
    Refund,
    ReturnLine,
    SupportTicket,
)
from ecomcrm.errors import (
    ConflictError,
    EcomcrmError,
    NotFoundError,
    SchemaVersionError,
    StorageBusyError,
    StorageError,
    ValidationError,
)
from ecomcrm.storage._capabilities import StateChange
from ecomcrm.storage._records import (
    ConsentFacts,
    Customer360,
    CustomerTable,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
    MergeRecord,
    OrderFacts,
    StateRecord,
)
from ecomcrm.storage._sqlite_schema import APPLICATION_ID, SCHEMA_VERSION, migrate

_CHUNK = 500  # bound on host parameters per IN (...) list

_micros = sh.to_micros
_from_micros = sh.from_micros


def _opt_micros(when: datetime | None) -> int | None:
    return None if when is None else _micros(when)


def _opt_from_micros(value: int | None) -> datetime | None:
    return None if value is None else _from_micros(value)


# One encoder for every call: json.dumps() with non-default arguments builds a new one each
# time, which cost more than the encoding of a small mapping.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _dumps(value: Any) -> str:
    return _ENCODE(value)


_STATE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _state_json(value: Any) -> str:
    """A state value as JSON text, or ValidationError when it is not a JSON-compatible mapping.

    One strict encoding both validates and normalises (tuples become lists, other keys
    their JSON text), exactly as ``toolkit.freeze_state_value`` does, without a copy.
    """
    if not isinstance(value, Mapping):
        raise ValidationError("must be a mapping", entity="state", field="value", value=value)
    try:
        return _STATE_ENCODER.encode(value if isinstance(value, dict) else dict(value))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"must be JSON-compatible ({exc})", entity="state", field="value", value=value
        ) from None
    except RecursionError:
        raise ValidationError(
            "must be JSON-compatible (circular reference or nested too deeply)",
            entity="state",
            field="value",
            value=value,
        ) from None


def _chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _marks(n: int) -> str:
    return ",".join("?" * n)


# Bulk writes use multi-row ``INSERT ... VALUES (...), (...), ...`` statements instead of
# executemany(). Every repository write inside ``store.transaction()`` is a savepoint, and
# inside a savepoint SQLite gives each statement that may abort (foreign keys, upserts) its
# own statement journal, copying every existing page the statement touches into it;
# executemany() runs one statement per row, so a batch of orders journalled its index pages
# once per row (about ten times slower than the same rows outside a savepoint).
_ROWS_PER_INSERT = 200


@lru_cache(maxsize=64)
def _values_sql(head: str, width: int, n: int, tail: str) -> str:
    row = "(" + _marks(width) + ")"
    return f"{head} VALUES {','.join([row] * n)}{tail}"


def _insert_rows(
    conn: sqlite3.Connection, head: str, rows: Sequence[Sequence[Any]], tail: str = ""
) -> None:
    """Run ``head VALUES (...), (...) tail`` over ``rows``, a few hundred rows per statement.

    ``head`` is ``INSERT [OR ...] INTO table (columns)``; ``tail`` an optional
    ``ON CONFLICT`` clause. The rows are written in order, as executemany() would.
    """
    if not rows:
        return
    width = len(rows[0])
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per = max(1, min(_ROWS_PER_INSERT, limit // width))
    for start in range(0, len(rows), per):
        part = rows[start : start + per]
        conn.execute(_values_sql(head, width, len(part), tail), [v for r in part for v in r])


# --------------------------------------------------------------------------------------
# the connection


class _Db:
    """One sqlite3 connection with nested write scopes and error translation."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.lock = threading.RLock()
        self.depth = 0
        self.cleanup_pending = False
        # Lookups memoised for the life of one read snapshot (never inside a write).
        self._memo: dict[tuple[str, str], Any] | None = None
        self._memo_thread = 0
        self._conn: sqlite3.Connection | None = _open(path, timeout)
        # Read-only connections of threads that read while another thread holds ``lock``.
        self._readers: dict[int, sqlite3.Connection] = {}
        self._readers_lock = threading.Lock()

    @property
    def memo(self) -> dict[tuple[str, str], Any] | None:
        """The memo of the read scope open in this thread (None elsewhere and in writes)."""
        return self._memo if self._memo_thread == threading.get_ident() else None

    @memo.setter
    def memo(self, value: dict[tuple[str, str], Any] | None) -> None:
        self._memo = value
        self._memo_thread = threading.get_ident()

    def _reader(self) -> sqlite3.Connection | None:
        """The calling thread's read-only connection (None for an in-memory database).

        Used when another thread holds the connection (inside a write scope or a read):
        the read then sees the last committed state at once instead of waiting, as a
        reader on its own connection would.
        """
        if self.path == ":memory:" or self._conn is None:
            return None
        key = threading.get_ident()
        with self._readers_lock:
            conn = self._readers.get(key)
            if conn is None:
                conn = _open_reader(self.path, self.timeout)
                self._readers[key] = conn
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("the store is closed", entity=self.path)
        return self._conn

    def close(self) -> None:
        with self.lock:
            with self._readers_lock:
                readers, self._readers = list(self._readers.values()), {}
            for reader in readers:
                reader.close()
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error as exc:  # pragma: no cover - close rarely fails
                    raise StorageError(f"close failed: {exc}", entity=self.path) from exc
                finally:
                    self._conn = None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write scope: the outermost takes the write lock, inner ones are savepoints."""
        with self.lock:
            conn = self.conn
            depth = self.depth
            name = f"sp{depth}"
            try:
                conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            self.depth += 1
            memo, self.memo = self.memo, None
            try:
                yield conn
            except BaseException as exc:
                self.depth -= 1
                self.memo = None if memo is None else {}  # writes invalidate it
                try:
                    if depth == 0:
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute(f"ROLLBACK TO {name}")
                        conn.execute(f"RELEASE {name}")
                except sqlite3.Error:  # pragma: no cover - the connection is broken
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise _translate(exc, self.path) from exc
                raise
            else:
                self.depth -= 1
                self.memo = None if memo is None else {}  # writes invalidate it
                try:
                    conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
                except sqlite3.Error as exc:
                    if depth == 0 and conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise _translate(exc, self.path) from exc
                if depth == 0 and self.cleanup_pending:
                    self.cleanup_pending = False
                    self.scrub()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read scope: one snapshot for several statements (joins an open transaction).

        While another thread holds the connection (a file database only), the scope runs
        on this thread's own read-only connection and sees the last committed state.
        """
        if not self.lock.acquire(blocking=False):
            reader = self._reader()
            if reader is not None:
                with self._read_on(reader) as conn:
                    yield conn
                return
            self.lock.acquire()
        try:
            conn = self.conn
            if self.depth > 0 or conn.in_transaction:
                try:
                    yield conn
                except sqlite3.Error as exc:
                    raise _translate(exc, self.path) from exc
                return
            try:
                conn.execute("BEGIN")
                self.depth += 1
                self.memo = {}
                try:
                    yield conn
                finally:
                    self.depth -= 1
                    self.memo = None
                    if conn.in_transaction:
                        conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
        finally:
            self.lock.release()

    @contextmanager
    def _read_on(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    def query_one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first row of one statement (or None), without a BEGIN/COMMIT of its own.

        A single statement reads one consistent snapshot by itself (inside an open
        transaction it joins it), so hot one-statement lookups skip the two extra round
        trips of :meth:`read`. Like :meth:`read`, it does not wait for another thread.
        """
        if self.lock.acquire(blocking=False):
            try:
                return self._first(self.conn, sql, args)
            finally:
                self.lock.release()
        reader = self._reader()
        if reader is not None:
            return self._first(reader, sql, args)
        with self.lock:
            return self._first(self.conn, sql, args)

    def _first(self, conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> Any:
        try:
            # fetchall() runs the statement to completion, so it ends its read at once.
            rows = conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        return rows[0] if rows else None

    def scrub(self) -> None:
        """Flush the WAL into the database and truncate it, so deleted bytes leave the files."""
        conn = self.conn
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc


def _translate(exc: sqlite3.Error, path: str) -> EcomcrmError:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"constraint failed: {text}", entity=path)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StorageBusyError(
            f"the database stayed locked by another writer: {text}", entity=path
        )
    return StorageError(f"{type(exc).__name__}: {text}", entity=path)


_MAGIC = b"SQLite format 3\x00"
_MMAP_SIZE = 1 << 34


def _inspect(path: str) -> tuple[int, int] | None:
    """(application_id, user_version) from the file header, read without opening SQLite.

    None for a file that is missing or empty (a new database). Reading the 100-byte header
    directly guarantees that a foreign file is refused without SQLite creating ``-wal`` or
    ``-shm`` files next to it; the header is checked again inside the first transaction.
    """
    if path == ":memory:" or not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise StorageError(f"cannot read the file: {exc}", entity=path) from exc
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise StorageError("not an ecomcrm database (not a SQLite file)", entity=path)
    version = int.from_bytes(header[60:64], "big", signed=True)
    app = int.from_bytes(header[68:72], "big", signed=True)
    wal = path + "-wal"
    if app == 0 and header[18] == 2 and os.path.exists(wal) and os.path.getsize(wal) > 0:
        # A WAL database whose first page may still live only in the log (another
        # connection has it open): decide inside the first transaction instead.
        return None
    return app, version


def _check_identity(path: str, found: tuple[int, int] | None) -> None:
    if found is None:
        return
    app, version = found
    if app != APPLICATION_ID:
        raise StorageError(
            "not an ecomcrm database (another application's SQLite file)",
            entity=path,
            field="application_id",
            value=app,
        )
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"written by a newer ecomcrm (schema {version}; this version reads up to "
            f"{SCHEMA_VERSION}); upgrade ecomcrm to open it",
            entity=path,
            field="schema_version",
            value=version,
        )


def _open(path: str, timeout: float) -> sqlite3.Connection:
    _check_identity(path, _inspect(path))
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the file: {exc}", entity=path) from exc
    try:
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Memory-mapped reads of the database file (up to SQLite's compile-time cap):
        # large reads such as the columnar cache skip one read() call per page.
        conn.execute(f"PRAGMA mmap_size = {_MMAP_SIZE}").fetchall()
        conn.execute("BEGIN IMMEDIATE")
        try:
            app = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app == 0 and version == 0 and tables == 0:
                migrate(conn, 0)
            else:
                _check_identity(path, (app, version))
                if version < SCHEMA_VERSION:
                    migrate(conn, version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        conn.close()
        raise _translate(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _open_reader(path: str, timeout: float) -> sqlite3.Connection:
    """A second, read-only connection to an open database (for another thread's reads)."""
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA mmap_size = {_MMAP_SIZE}").fetchall()
    except sqlite3.Error as exc:
        raise _translate(exc, path) from exc
    return conn


# --------------------------------------------------------------------------------------
# rows <-> domain objects

_CUSTOMER_COLUMNS = (
    "pk, id, created_at, first_name, last_name, birthday, timezone, locale, country, "
    "acquisition_channel, addresses, tags, attributes"
)


_CUSTOMER_INSERT = (
    "INSERT INTO customers (id, created_at, first_name, last_name, birthday, timezone, "
    "locale, country, acquisition_channel, addresses, tags, attributes)"
)
_IDENTITY_INSERT = "INSERT INTO identities (key, customer_pk, kind, value, position)"


def _customer_values(c: Customer) -> tuple[Any, ...]:
    return (
        c.id,
        _micros(c.created_at),
        c.first_name,
        c.last_name,
        c.birthday.isoformat() if c.birthday is not None else None,
        c.timezone,
        c.locale,
        c.country,
        c.acquisition_channel,
        _dumps([_address_dict(a) for a in c.addresses]) if c.addresses else None,
        _dumps(sorted(c.tags)) if c.tags else None,
        _dumps(dict(c.attributes)) if c.attributes else None,
    )


def _address_dict(a: Address) -> dict[str, Any]:
    return {
        "line1": a.line1,
        "line2": a.line2,
        "city": a.city,
        "region": a.region,
        "postal_code": a.postal_code,
        "country": a.country,
    }


def _customer_from(row: Sequence[Any], identities: Sequence[Identity]) -> Customer:
    return Customer(
        id=row[1],
        created_at=_from_micros(row[2]),
        identities=identities,
        first_name=row[3],
        last_name=row[4],
        birthday=date.fromisoformat(row[5]) if row[5] is not None else None,
        timezone=row[6],
        locale=row[7],
        country=row[8],
        acquisition_channel=row[9],
        addresses=[Address(**a) for a in json.loads(row[10])] if row[10] else (),
        tags=json.loads(row[11]) if row[11] else (),
        attributes=json.loads(row[12]) if row[12] else {},
    )


_ORDER_COLUMNS = (
    "id, customer_id, placed_at, currency, subtotal, discount, shipping, tax, taxes_included, "
    "total, status, sales_channel, discount_codes, shipping_address, cancelled_at, shipped_at, "
    "delivered_at, amount, discount_amount, units, cancelled"
)
_ORDER_INSERT = f"INSERT INTO orders ({_ORDER_COLUMNS})"
_ORDER_ON_CONFLICT = " ON CONFLICT(id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in _ORDER_COLUMNS.split(", ")[1:]
)
_LINE_INSERT = (
    "INSERT INTO order_lines (order_id, position, sku, title, quantity, unit_price, discount, "
    "category)"
)


_ZERO = Decimal(0)


def _order_values(o: Order, customer_id: str) -> tuple[Any, ...]:
    # The hot path of bulk ingest: written out by hand (enum members bind as their text).
    # The analytic columns equal ``toolkit.order_row``'s; the tests compare them.
    line_discount = _ZERO
    units = 0
    for line in o.lines:
        if line.discount:
            line_discount += line.discount
        units += line.quantity
    discount = o.discount
    total = o.total
    return (
        o.id,
        customer_id,
        sh.to_micros(o.placed_at),
        o.currency,
        str(o.subtotal),
        str(discount),
        str(o.shipping),
        str(o.tax),
        1 if o.taxes_included else 0,
        str(total),
        o.status._value_,
        o.sales_channel,
        _dumps(list(o.discount_codes)) if o.discount_codes else None,
        _dumps(_address_dict(o.shipping_address)) if o.shipping_address is not None else None,
        None if o.cancelled_at is None else _micros(o.cancelled_at),
        None if o.shipped_at is None else _micros(o.shipped_at),
        None if o.delivered_at is None else _micros(o.delivered_at),
        float(total),
        float(discount + line_discount) if line_discount else float(discount),
        units,
        1 if o.status is OrderStatus.CANCELLED or o.cancelled_at is not None else 0,
    )


def _line_values(o: Order) -> Iterator[tuple[Any, ...]]:
    oid = o.id
    for pos, line in enumerate(o.lines):
        yield (
            oid,
            pos,
            line.sku,
            line.title,
            line.quantity,
            str(line.unit_price),
            str(line.discount),
            _dumps(list(line.category)) if line.category else None,
        )


class _PreparedOrders(list[Order]):
    """Orders with their ``orders`` and ``order_lines`` rows (see ``prepare_many``)."""

    def __init__(
        self,
        orders: list[Order],
        rows: list[tuple[Any, ...]],
        line_rows: list[tuple[Any, ...]],
    ) -> None:
        super().__init__(orders)
        self.rows = rows
        self.line_rows = line_rows


def _prepare(orders: Iterable[Order]) -> _PreparedOrders:
    batch = list(orders)
    return _PreparedOrders(
        batch,
        [_order_values(o, o.customer_id) for o in batch],
        [v for o in batch for v in _line_values(o)],
    )


def _order_from(row: Sequence[Any], customer_id: str, lines: Sequence[OrderLine]) -> Order:
    address = json.loads(row[13]) if row[13] else None
    return Order(
        id=row[0],
        customer_id=customer_id,
        placed_at=_from_micros(row[2]),
        currency=row[3],
        lines=lines,
        subtotal=Decimal(row[4]),
        discount=Decimal(row[5]),
        shipping=Decimal(row[6]),
        tax=Decimal(row[7]),
        taxes_included=bool(row[8]),
        total=Decimal(row[9]),
        status=row[10],
        sales_channel=row[11],
        discount_codes=json.loads(row[12]) if row[12] else (),
        shipping_address=Address(**address) if address is not None else None,
        cancelled_at=_opt_from_micros(row[14]),
        shipped_at=_opt_from_micros(row[15]),
        delivered_at=_opt_from_micros(row[16]),
    )


def _line_from(row: Sequence[Any]) -> OrderLine:
    # row: order_id, position, sku, title, quantity, unit_price, discount, category
    return OrderLine(
        sku=row[2],
        title=row[3],
        quantity=row[4],
        unit_price=Decimal(row[5]),
        discount=Decimal(row[6]),
        category=json.loads(row[7]) if row[7] else (),
    )


_REFUND_COLUMNS = (
    "id, order_id, customer_id, at, amount, amount_real, currency, reason, returned, lines, "
    "returned_units"
)


def _refund_values(r: Refund, customer_id: str) -> tuple[Any, ...]:
    facts = sh.refund_row(r)
    lines = [{"sku": x.sku, "quantity": x.quantity, "reason": x.reason} for x in r.lines]
    return (
        r.id,
        r.order_id,
        customer_id,
        _micros(r.at),
        str(r.amount),
        facts.amount,
        r.currency,
        r.reason,
        int(r.returned),
        _dumps(lines) if lines else None,
        facts.returned_units,
    )


def _refund_from(row: Sequence[Any], customer_id: str) -> Refund:
    return Refund(
        id=row[0],
        order_id=row[1],
        customer_id=customer_id,
        at=_from_micros(row[3]),
        amount=Decimal(row[4]),
        currency=row[6],
        reason=row[7],
        returned=bool(row[8]),
        lines=[ReturnLine(**x) for x in json.loads(row[9])] if row[9] else (),
    )


_EVENT_COLUMNS = "id, name, at, customer_id, anonymous_id, properties, source, product"


def _event_values(e: Event) -> tuple[Any, ...]:
    return (
        e.id,
        e.name,
        _micros(e.at),
        e.customer_id,
        e.anonymous_id,
        _dumps(dict(e.properties)) if e.properties else None,
        e.source,
        sh.event_product(e),
    )


def _event_from(row: Sequence[Any], customer_id: str | None) -> Event:
    return Event(
        id=row[0],
        name=row[1],
        at=_from_micros(row[2]),
        customer_id=customer_id,
        anonymous_id=row[4],
        properties=json.loads(row[5]) if row[5] else {},
        source=row[6],
    )


_TICKET_COLUMNS = (
    "id, customer_id, channel, subject, tags, status, opened_at, first_response_at, closed_at, "
    "satisfaction, order_id"
)


def _ticket_values(t: SupportTicket, customer_id: str) -> tuple[Any, ...]:
    return (
        t.id,
        customer_id,
        t.channel.value,
        t.subject,
        _dumps(sorted(t.tags)) if t.tags else None,
        t.status.value,
        _micros(t.opened_at),
        _opt_micros(t.first_response_at),
        _opt_micros(t.closed_at),
        t.satisfaction,
        t.order_id,
    )


def _ticket_from(row: Sequence[Any], customer_id: str) -> SupportTicket:
    return SupportTicket(
        id=row[0],
        customer_id=customer_id,
        channel=row[2],
        subject=row[3],
        tags=json.loads(row[4]) if row[4] else (),
        status=row[5],
        opened_at=_from_micros(row[6]),
        first_response_at=_opt_from_micros(row[7]),
        closed_at=_opt_from_micros(row[8]),
        satisfaction=row[9],
        order_id=row[10],
    )


_LOYALTY_COLUMNS = "id, customer_id, kind, points, at, expires_at, source, description"


def _loyalty_from(row: Sequence[Any], customer_id: str) -> LoyaltyEntry:
    return LoyaltyEntry(
        id=row[0],
        customer_id=customer_id,
        kind=row[2],
        points=row[3],
        at=_from_micros(row[4]),
        expires_at=_opt_from_micros(row[5]),
        source=row[6],
        description=row[7],
    )


_MESSAGE_COLUMNS = (
    "id, customer_id, channel, at, template, direction, purpose, outcome, flow_id, action_id, "
    "params"
)


def _message_values(m: Message, customer_id: str) -> tuple[Any, ...]:
    return (
        m.id,
        customer_id,
        m.channel.value,
        _micros(m.at),
        m.template,
        m.direction.value,
        m.purpose.value,
        m.outcome.value,
        m.flow_id,
        m.action_id,
        _dumps(dict(m.params)) if m.params else None,
    )


def _message_from(row: Sequence[Any], customer_id: str) -> Message:
    return Message(
        id=row[0],
        customer_id=customer_id,
        channel=row[2],
        at=_from_micros(row[3]),
        template=row[4],
        direction=row[5],
        purpose=row[6],
        outcome=row[7],
        flow_id=row[8],
        action_id=row[9],
        params=json.loads(row[10]) if row[10] else {},
    )


def _consent_from(row: Sequence[Any], customer_id: str) -> Consent:
    # row: customer_id, channel, purpose, granted, at, source
    return Consent(
        customer_id=customer_id,
        channel=row[1],
        purpose=row[2],
        granted=bool(row[3]),
        at=_from_micros(row[4]),
        source=row[5],
    )


# --------------------------------------------------------------------------------------
# shared lookups


class _Base:
    def __init__(self, db: _Db, store: Any = None) -> None:
        self._db = db
        if store is not None:  # a repository: the toolkit base classes' defaults use it
            self.store: Any = store

    def _survivor(self, conn: sqlite3.Connection, customer_id: str) -> tuple[int, str] | None:
        """(pk, id) of the customer ``customer_id`` resolves to, or None."""
        memo = self._db.memo
        if memo is not None and ("survivor", customer_id) in memo:
            found: tuple[int, str] | None = memo["survivor", customer_id]
            return found
        row = conn.execute(
            "SELECT coalesce(s.pk, c.pk), coalesce(s.id, c.id) FROM customers c "
            "LEFT JOIN customers s ON s.pk = c.survivor_pk WHERE c.id = ?",
            (customer_id,),
        ).fetchone()
        found = None if row is None else (int(row[0]), str(row[1]))
        if memo is not None:
            memo["survivor", customer_id] = found
        return found

    def _require(self, conn: sqlite3.Connection, customer_id: str, entity: str) -> tuple[int, str]:
        found = self._survivor(conn, customer_id)
        if found is None:
            raise NotFoundError(
                "no such customer", entity=entity, field="customer_id", value=customer_id
            )
        return found

    def _group(self, conn: sqlite3.Connection, customer_id: str) -> tuple[str, list[str]]:
        """(resolved id, every id that resolves to it); an unknown id stands for itself."""
        memo = self._db.memo
        if memo is not None and ("group", customer_id) in memo:
            group: tuple[str, list[str]] = memo["group", customer_id]
            return group[0], list(group[1])
        found = self._survivor(conn, customer_id)
        if found is None:
            return customer_id, [customer_id]
        pk, cid = found
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM customers WHERE pk = ? OR survivor_pk = ?", (pk, pk)
            )
        ]
        if memo is not None:
            memo["group", customer_id] = (cid, ids)
        return cid, list(ids)

    def _touch_facts(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'facts_generation'"
        )


def _reassign_rows(
    conn: sqlite3.Connection,
    table: str,
    ids: Iterable[str],
    to: str | None,
    *,
    column: str = "customer_id",
    also: str = "",
) -> None:
    """Set ``customer_id`` to ``to`` (or delete, for None) in the rows whose ``column`` is in ``ids``."""
    values = list(ids)
    for part in _chunks(values):
        where = f"{column} IN ({_marks(len(part))}){also}"
        if to is None:
            conn.execute(f"DELETE FROM {table} WHERE {where}", part)
        else:
            conn.execute(f"UPDATE {table} SET customer_id = ? WHERE {where}", (to, *part))


def _in(conn: sqlite3.Connection, sql: str, ids: Sequence[Any], *args: Any) -> list[Any]:
    """Run ``sql`` with ``{ids}`` replaced by chunks of placeholders; concatenate the rows."""
    rows: list[Any] = []
    for part in _chunks(ids):
        rows.extend(conn.execute(sql.format(ids=_marks(len(part))), (*part, *args)).fetchall())
    return rows


def _survivors(conn: sqlite3.Connection, customer_ids: Sequence[str]) -> dict[str, str]:
    """The surviving id of each known id in ``customer_ids`` (unknown ids are left out)."""
    wanted = list(dict.fromkeys(customer_ids))
    return dict(
        _in(
            conn,
            "SELECT c.id, coalesce(s.id, c.id) FROM customers c "
            "LEFT JOIN customers s ON s.pk = c.survivor_pk WHERE c.id IN ({ids})",
            wanted,
        )
    )


# --------------------------------------------------------------------------------------
# repositories


class SqliteCustomers(_Base, sh.BaseCustomerRepository):
    """Customer profiles in the ``customers`` and ``identities`` tables."""

    def _identities(
        self, conn: sqlite3.Connection, pks: Sequence[int]
    ) -> dict[int, list[Identity]]:
        out: dict[int, list[Identity]] = {}
        for pk, kind, value in _in(
            conn,
            "SELECT customer_pk, kind, value FROM identities WHERE customer_pk IN ({ids}) "
            "ORDER BY customer_pk, position",
            pks,
        ):
            out.setdefault(pk, []).append(Identity(kind=kind, value=value))
        return out

    def _load(self, conn: sqlite3.Connection, pk: int) -> Customer:
        row = conn.execute(
            f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE pk = ?", (pk,)
        ).fetchone()
        return _customer_from(row, self._identities(conn, [pk]).get(pk, []))

    def _check_identities(
        self, conn: sqlite3.Connection, customer: Customer, own_pk: int | None
    ) -> None:
        def suppressed(key: str) -> bool:
            return (
                conn.execute("SELECT 1 FROM suppressed WHERE hash = ?", (key,)).fetchone()
                is not None
            )

        sh.check_not_suppressed(customer.identities, suppressed, entity="Customer")
        sh.check_id_not_erased(customer.id, suppressed)
        keys = [i.key for i in customer.identities]
        for key, pk, cid in _in(
            conn,
            "SELECT i.key, i.customer_pk, c.id FROM identities i JOIN customers c "
            "ON c.pk = i.customer_pk WHERE i.key IN ({ids})",
            keys,
        ):
            if pk != own_pk:
                raise ConflictError(
                    f"identity belongs to customer {cid!r}",
                    entity="Customer",
                    field="identities",
                    value=key,
                )

    def _write_identities(self, conn: sqlite3.Connection, pk: int, customer: Customer) -> None:
        conn.execute("DELETE FROM identities WHERE customer_pk = ?", (pk,))
        conn.executemany(
            "INSERT INTO identities (key, customer_pk, kind, value, position) VALUES (?,?,?,?,?)",
            [(i.key, pk, i.kind.value, i.value, n) for n, i in enumerate(customer.identities)],
        )

    def _insert(self, conn: sqlite3.Connection, customer: Customer) -> int:
        cur = conn.execute(f"{_CUSTOMER_INSERT} VALUES ({_marks(12)})", _customer_values(customer))
        pk = cur.lastrowid
        assert pk is not None
        self._write_identities(conn, pk, customer)
        return pk

    def _replace(self, conn: sqlite3.Connection, pk: int, customer: Customer) -> None:
        values = _customer_values(customer)
        conn.execute(
            "UPDATE customers SET created_at = ?, first_name = ?, last_name = ?, birthday = ?, "
            "timezone = ?, locale = ?, country = ?, acquisition_channel = ?, addresses = ?, "
            "tags = ?, attributes = ? WHERE pk = ?",
            (*values[1:], pk),
        )
        self._write_identities(conn, pk, customer)

    def put(self, customer: Customer) -> None:
        """Insert a new customer (ConflictError when the id or an identity is taken)."""
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer.id,)).fetchone():
                raise ConflictError(
                    "customer exists", entity="Customer", field="id", value=customer.id
                )
            self._check_identities(conn, customer, None)
            self._insert(conn, customer)
            self._touch_facts(conn)

    def _upsert(self, conn: sqlite3.Connection, customer: Customer) -> bool:
        row = conn.execute(
            "SELECT pk, survivor_pk FROM customers WHERE id = ?", (customer.id,)
        ).fetchone()
        if row is not None and row[1] is not None:
            raise ConflictError(
                "customer was merged into another; write the survivor instead",
                entity="Customer",
                field="id",
                value=customer.id,
            )
        own = None if row is None else int(row[0])
        self._check_identities(conn, customer, own)
        if own is None:
            self._insert(conn, customer)
            return True
        self._replace(conn, own, customer)
        return False

    def upsert(self, customer: Customer) -> bool:
        """Insert or replace the profile with this id; True when it was created."""
        with self._db.write() as conn:
            created = self._upsert(conn, customer)
            self._touch_facts(conn)
            return created

    def put_many(self, customers: Iterable[Customer]) -> int:
        """Upsert many customers in one transaction; returns how many were written."""
        batch = list(customers)
        with self._db.write() as conn:
            for start in range(0, len(batch), 5_000):
                part = batch[start : start + 5_000]
                if not self._insert_new(conn, part):
                    for customer in part:
                        self._upsert(conn, customer)
            self._touch_facts(conn)
        return len(batch)

    def _insert_new(self, conn: sqlite3.Connection, batch: Sequence[Customer]) -> bool:
        """Insert ``batch`` with a few statements when every customer in it is new.

        New means: distinct ids and identities within the batch, none of them stored, no
        identity suppressed. Otherwise nothing is written and False is returned, so that
        the caller upserts one by one (which raises the precise error, in order).
        """
        ids = [c.id for c in batch]
        keys = [i.key for c in batch for i in c.identities]
        if len(set(ids)) != len(ids) or len(set(keys)) != len(keys):
            return False
        if _in(conn, "SELECT 1 FROM customers WHERE id IN ({ids})", ids):
            return False
        if keys and _in(conn, "SELECT 1 FROM identities WHERE key IN ({ids})", keys):
            return False
        if conn.execute("SELECT 1 FROM suppressed LIMIT 1").fetchone() is not None:
            hashes = sh.erasure_tombstones([i for c in batch for i in c.identities], ids)
            if _in(conn, "SELECT 1 FROM suppressed WHERE hash IN ({ids})", hashes):
                return False
        _insert_rows(conn, _CUSTOMER_INSERT, [_customer_values(c) for c in batch])
        pks = dict(_in(conn, "SELECT id, pk FROM customers WHERE id IN ({ids})", ids))
        _insert_rows(
            conn,
            _IDENTITY_INSERT,
            [
                (i.key, pks[c.id], i.kind._value_, i.value, n)
                for c in batch
                for n, i in enumerate(c.identities)
            ],
        )
        return True

    def get(self, customer_id: str) -> Customer:
        """The customer (following merges); NotFoundError when there is none."""
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError(
                "no such customer", entity="Customer", field="id", value=customer_id
            )
        return found

    def find(self, customer_id: str) -> Customer | None:
        """The customer (following merges), or None."""
        with self._db.read() as conn:
            found = self._survivor(conn, customer_id)
            return None if found is None else self._load(conn, found[0])

    def find_by_identity(self, identity: Identity) -> Customer | None:
        """The customer holding ``identity``, or None."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT customer_pk FROM identities WHERE key = ?", (identity.key,)
            ).fetchone()
            return None if row is None else self._load(conn, int(row[0]))

    def iterate(self) -> Iterator[Customer]:
        """Every live customer, ordered by id (read in pages of 1,000)."""
        last: str | None = None
        while True:
            with self._db.read() as conn:
                rows = conn.execute(
                    f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE survivor_pk IS NULL "
                    + ("AND id > ? " if last is not None else "")
                    + "ORDER BY id LIMIT 1000",
                    (last,) if last is not None else (),
                ).fetchall()
                identities = self._identities(conn, [r[0] for r in rows])
            if not rows:
                return
            for row in rows:
                yield _customer_from(row, identities.get(row[0], []))
            last = rows[-1][1]

    def count(self) -> int:
        """How many live customers there are."""
        with self._db.read() as conn:
            return int(
                conn.execute("SELECT count(*) FROM customers WHERE survivor_pk IS NULL").fetchone()[
                    0
                ]
            )

    def remove(self, customer_ids: Collection[str]) -> None:
        """Delete the profiles and identities of these ids (a merge and erasure primitive).

        A row that the merge log or another row still points at (the id stays resolvable)
        keeps only its id: every profile field is cleared.
        """
        with self._db.write() as conn:
            pks = [
                r[0]
                for r in _in(
                    conn, "SELECT pk FROM customers WHERE id IN ({ids})", list(customer_ids)
                )
            ]
            if not pks:
                return
            _in(conn, "DELETE FROM identities WHERE customer_pk IN ({ids})", pks)
            _in(conn, "UPDATE customers SET survivor_pk = NULL WHERE pk IN ({ids})", pks)
            referenced = {
                r[0]
                for sql in (
                    "SELECT survivor_pk FROM customers WHERE survivor_pk IN ({ids})",
                    "SELECT merged_pk FROM merges WHERE merged_pk IN ({ids})",
                    "SELECT survivor_pk FROM merges WHERE survivor_pk IN ({ids})",
                )
                for r in _in(conn, sql, pks)
            }
            _in(
                conn,
                "DELETE FROM customers WHERE pk IN ({ids})",
                [p for p in pks if p not in referenced],
            )
            _in(
                conn,
                "UPDATE customers SET first_name = '', last_name = '', birthday = NULL, "
                "timezone = NULL, locale = NULL, country = NULL, acquisition_channel = NULL, "
                "addresses = NULL, tags = NULL, attributes = NULL WHERE pk IN ({ids})",
                [p for p in pks if p in referenced],
            )
            self._touch_facts(conn)


class SqliteOrders(_Base, sh.BaseOrderRepository):
    """Orders in ``orders`` and ``order_lines``, refunds in ``refunds``."""

    def _merged_map(self, conn: sqlite3.Connection) -> dict[str, str]:
        merged = "SELECT 1 FROM customers WHERE survivor_pk IS NOT NULL LIMIT 1"
        if conn.execute(merged).fetchone() is None:  # an index probe: nobody was merged
            return {}
        return dict(
            conn.execute(
                "SELECT c.id, s.id FROM customers c JOIN customers s ON s.pk = c.survivor_pk"
            ).fetchall()
        )

    def prepare_many(self, orders: Iterable[Order]) -> Sequence[Order]:
        """The orders, with their table rows computed now, for a later :meth:`put_many`.

        An importer calls it before opening its transaction, so the conversion to rows
        does not hold the database's write lock (which other processes may be waiting for).

        Example:
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.domain import Order, OrderLine
            >>> store = SqliteStore(":memory:")
            >>> o = Order(id="1", customer_id="c1", currency="EUR",
            ...           placed_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
            ...           lines=[OrderLine(sku="A", quantity=1, unit_price="5.00")])
            >>> len(store.orders.prepare_many([o]))
            1
        """
        return _prepare(orders)

    def _write(
        self, conn: sqlite3.Connection, orders: Sequence[Order], merged: Mapping[str, str]
    ) -> None:
        prepared = orders if isinstance(orders, _PreparedOrders) else _prepare(orders)
        rows = prepared.rows
        if merged:
            rows = [(r[0], merged.get(r[1], r[1]), *r[2:]) for r in rows]
        line_rows = prepared.line_rows
        existing = [
            r[0]
            for r in _in(conn, "SELECT id FROM orders WHERE id IN ({ids})", [o.id for o in orders])
        ]
        try:
            _insert_rows(conn, _ORDER_INSERT, rows, _ORDER_ON_CONFLICT)
        except sqlite3.IntegrityError as exc:
            self._explain(conn, orders, merged, exc)
            raise
        for part in _chunks(existing):
            conn.execute(f"DELETE FROM order_lines WHERE order_id IN ({_marks(len(part))})", part)
        _insert_rows(conn, _LINE_INSERT, line_rows)

    def _explain(
        self,
        conn: sqlite3.Connection,
        orders: Sequence[Order],
        merged: Mapping[str, str],
        exc: sqlite3.IntegrityError,
    ) -> None:
        """Turn a foreign-key failure into NotFoundError naming the first unknown customer."""
        wanted = sorted({merged.get(o.customer_id, o.customer_id) for o in orders})
        known = {r[0] for r in _in(conn, "SELECT id FROM customers WHERE id IN ({ids})", wanted)}
        for row, order in enumerate(orders):
            cid = merged.get(order.customer_id, order.customer_id)
            if cid not in known:
                raise NotFoundError(
                    "no such customer",
                    entity="Order",
                    field="customer_id",
                    value=order.customer_id,
                    row=row if len(orders) > 1 else None,
                ) from exc

    def upsert(self, order: Order) -> bool:
        """Insert or replace the order (lines included); True when created."""
        with self._db.write() as conn:
            _, cid = self._require(conn, order.customer_id, "Order")
            created = (
                conn.execute("SELECT 1 FROM orders WHERE id = ?", (order.id,)).fetchone() is None
            )
            self._write(conn, [order], {order.customer_id: cid})
            self._touch_facts(conn)
            return created

    def put_many(self, orders: Iterable[Order], *, batch_size: int = 50_000) -> int:
        """Upsert many orders in one transaction (written in batches); returns the count."""
        n = 0
        with self._db.write() as conn:
            merged = self._merged_map(conn)
            if isinstance(orders, _PreparedOrders):
                self._write(conn, orders, merged)
                self._touch_facts(conn)
                return len(orders)
            batch: list[Order] = []
            for order in orders:
                batch.append(order)
                if len(batch) >= batch_size:
                    self._write(conn, batch, merged)
                    n += len(batch)
                    batch = []
            if batch:
                self._write(conn, batch, merged)
                n += len(batch)
            self._touch_facts(conn)
        return n

    def _lines(
        self, conn: sqlite3.Connection, order_ids: Sequence[str]
    ) -> dict[str, list[OrderLine]]:
        out: dict[str, list[OrderLine]] = {}
        for row in _in(
            conn,
            "SELECT order_id, position, sku, title, quantity, unit_price, discount, category "
            "FROM order_lines WHERE order_id IN ({ids}) ORDER BY order_id, position",
            order_ids,
        ):
            out.setdefault(row[0], []).append(_line_from(row))
        return out

    def _build(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> list[Order]:
        lines = self._lines(conn, [r[0] for r in rows])
        return [_order_from(r, r[-1], lines.get(r[0], [])) for r in rows]

    _SELECT = (
        "SELECT o.id, o.customer_id, o.placed_at, o.currency, o.subtotal, o.discount, o.shipping, "
        "o.tax, o.taxes_included, o.total, o.status, o.sales_channel, o.discount_codes, "
        "o.shipping_address, o.cancelled_at, o.shipped_at, o.delivered_at, "
        "coalesce(s.id, c.id) FROM orders o JOIN customers c ON c.id = o.customer_id "
        "LEFT JOIN customers s ON s.pk = c.survivor_pk "
    )

    def get(self, order_id: str) -> Order:
        """The order; NotFoundError when there is none."""
        with self._db.read() as conn:
            rows = conn.execute(self._SELECT + "WHERE o.id = ?", (order_id,)).fetchall()
            if not rows:
                raise NotFoundError("no such order", entity="Order", field="id", value=order_id)
            return self._build(conn, rows)[0]

    def for_customer(self, customer_id: str) -> list[Order]:
        """The customer's orders (following merges), by ``placed_at`` then id."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = _in(conn, self._SELECT + "WHERE o.customer_id IN ({ids})", ids)
            rows.sort(key=lambda r: (r[2], r[0]))
            return self._build(conn, rows)

    def count(self) -> int:
        """How many orders there are."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])

    def add_refund(self, refund: Refund) -> bool:
        """Record a refund or return; False when its id exists. NotFoundError without order."""
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT customer_id FROM orders WHERE id = ?", (refund.order_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    "no such order", entity="Refund", field="order_id", value=refund.order_id
                )
            if conn.execute("SELECT 1 FROM refunds WHERE id = ?", (refund.id,)).fetchone():
                return False
            found = self._survivor(conn, refund.customer_id)
            cid = found[1] if found is not None else str(row[0])
            conn.execute(
                f"INSERT INTO refunds ({_REFUND_COLUMNS}) VALUES ({_marks(11)})",
                _refund_values(refund, cid),
            )
            self._touch_facts(conn)
            return True

    def add_refunds(self, refunds: Iterable[Refund]) -> int:
        """Record many refunds (multi-row inserts); returns how many were new."""
        batch = list(refunds)
        with self._db.write() as conn:
            order_ids = list(dict.fromkeys(r.order_id for r in batch))
            buyers = dict(
                _in(conn, "SELECT id, customer_id FROM orders WHERE id IN ({ids})", order_ids)
            )
            for row, refund in enumerate(batch):
                if refund.order_id not in buyers:
                    raise NotFoundError(
                        "no such order",
                        entity="Refund",
                        field="order_id",
                        value=refund.order_id,
                        row=row,
                    )
            seen = {
                r[0]
                for r in _in(
                    conn, "SELECT id FROM refunds WHERE id IN ({ids})", [r.id for r in batch]
                )
            }
            owners = _survivors(conn, [r.customer_id for r in batch])
            rows = []
            for refund in batch:
                if refund.id in seen:
                    continue
                seen.add(refund.id)
                cid = owners.get(refund.customer_id, str(buyers[refund.order_id]))
                rows.append(_refund_values(refund, cid))
            if rows:
                _insert_rows(conn, f"INSERT INTO refunds ({_REFUND_COLUMNS})", rows)
                self._touch_facts(conn)
            return len(rows)

    _REFUNDS = (
        "SELECT r.id, r.order_id, r.customer_id, r.at, r.amount, r.amount_real, r.currency, "
        "r.reason, r.returned, r.lines, coalesce(s.id, c.id) FROM refunds r "
        "JOIN customers c ON c.id = r.customer_id LEFT JOIN customers s ON s.pk = c.survivor_pk "
    )

    def refunds_for_order(self, order_id: str) -> list[Refund]:
        """The refunds of one order, by ``at``."""
        with self._db.read() as conn:
            rows = conn.execute(
                self._REFUNDS + "WHERE r.order_id = ? ORDER BY r.at, r.pk", (order_id,)
            ).fetchall()
            return [_refund_from(r, r[-1]) for r in rows]

    def refunds_for_customer(self, customer_id: str) -> list[Refund]:
        """The customer's refunds (following merges), by ``at``."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = _in(conn, self._REFUNDS + "WHERE r.customer_id IN ({ids})", ids)
            rows.sort(key=lambda r: (r[3], r[0]))
            return [_refund_from(r, r[-1]) for r in rows]

    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymise: bool = False
    ) -> None:
        """Re-point, delete or anonymise the orders and refunds of these ids (set-based)."""
        ids = list(customer_ids)
        with self._db.write() as conn:
            if to is not None and not anonymise:
                _reassign_rows(conn, "orders", ids, to)
                _reassign_rows(conn, "refunds", ids, to)
                self._touch_facts(conn)
                return
            order_ids = [
                r[0] for r in _in(conn, "SELECT id FROM orders WHERE customer_id IN ({ids})", ids)
            ]
            orders = [self.get(order_id) for order_id in order_ids] if to is not None else []
            refunds = (
                {
                    r.id: r
                    for r in itertools.chain(
                        (r for oid in order_ids for r in self.refunds_for_order(oid)),
                        (r for cid in ids for r in self.refunds_for_customer(cid)),
                    )
                }
                if to is not None
                else {}
            )
            _reassign_rows(conn, "refunds", ids, None)
            _reassign_rows(conn, "refunds", order_ids, None, column="order_id")
            _reassign_rows(conn, "orders", order_ids, None, column="id")
            if to is not None:
                self._write(conn, [sh.anonymise_order(o, to) for o in orders], {})
                conn.executemany(
                    f"INSERT INTO refunds ({_REFUND_COLUMNS}) VALUES ({_marks(11)})",
                    [_refund_values(sh.anonymise_refund(r, to), to) for r in refunds.values()],
                )
            self._touch_facts(conn)


class SqliteEvents(_Base, sh.BaseEventRepository):
    """Behavioural events in ``events``."""

    _INSERT = f"INSERT OR IGNORE INTO events ({_EVENT_COLUMNS})"

    def append(self, event: Event) -> bool:
        """Store an event; False when its id is already stored."""
        with self._db.write() as conn:
            return (
                conn.execute(f"{self._INSERT} VALUES ({_marks(8)})", _event_values(event)).rowcount
                == 1
            )

    def append_many(self, events: Iterable[Event]) -> int:
        """Store many events in one transaction; returns how many were new."""
        rows = [_event_values(e) for e in events]
        with self._db.write() as conn:
            before = conn.total_changes
            _insert_rows(conn, self._INSERT, rows)
            return conn.total_changes - before

    _SELECT = (
        "SELECT e.id, e.name, e.at, e.customer_id, e.anonymous_id, e.properties, e.source, "
        "coalesce(s.id, c.id, e.customer_id) FROM events e "
        "LEFT JOIN customers c ON c.id = e.customer_id "
        "LEFT JOIN customers s ON s.pk = c.survivor_pk "
    )

    def for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        names: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The customer's events (following merges and linked anonymous ids), by ``at``."""
        found = sh.event_names(names)
        wanted = None if found is None else sorted(found)
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            anon = [
                r[0]
                for r in _in(
                    conn,
                    "SELECT i.value FROM identities i JOIN customers c ON c.pk = i.customer_pk "
                    "WHERE c.id IN ({ids}) AND i.kind = 'anonymous'",
                    ids,
                )
            ]
            pks: set[int] = set()
            for r in _in(conn, "SELECT pk FROM events WHERE customer_id IN ({ids})", ids):
                pks.add(r[0])
            for r in _in(
                conn,
                "SELECT pk FROM events WHERE anonymous_id IN ({ids}) AND customer_id IS NULL",
                anon,
            ):
                pks.add(r[0])
            where = ["e.pk IN ({ids})"]
            args: list[Any] = []
            if since is not None:
                where.append("e.at >= ?")
                args.append(_micros(since))
            if wanted is not None:
                if not wanted:
                    return []
                where.append(f"e.name IN ({_marks(len(wanted))})")
                args.extend(wanted)
            rows = _in(conn, self._SELECT + "WHERE " + " AND ".join(where), sorted(pks), *args)
        rows.sort(key=lambda r: (r[2], r[0]))
        if limit is not None:
            rows = rows[-limit:] if limit > 0 else []
        return [_event_from(r, cid if r[3] is not None else None) for r in rows]

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        """Events carrying this anonymous id, by ``at``."""
        with self._db.read() as conn:
            rows = conn.execute(
                self._SELECT + "WHERE e.anonymous_id = ? ORDER BY e.at, e.id", (anonymous_id,)
            ).fetchall()
        return [_event_from(r, r[-1]) for r in rows]

    def count(self) -> int:
        """How many events are stored."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def iterate(self) -> Iterator[Event]:
        """Every stored event (customer ids resolved through merges)."""
        with self._db.read() as conn:
            rows = conn.execute(self._SELECT).fetchall()
        return iter([_event_from(r, r[-1]) for r in rows])

    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymous_ids: Collection[str] = ()
    ) -> None:
        """Re-point or delete the events of these ids and the unowned events of the cookies."""
        with self._db.write() as conn:
            _reassign_rows(conn, "events", customer_ids, to)
            _reassign_rows(
                conn,
                "events",
                anonymous_ids,
                to,
                column="anonymous_id",
                also=" AND customer_id IS NULL",
            )


class SqliteConsents(_Base, sh.BaseConsentRepository):
    """The append-only consent ledger in ``consents``."""

    def record(self, consent: Consent) -> None:
        """Append a consent decision. NotFoundError when the customer does not exist."""
        with self._db.write() as conn:
            _, cid = self._require(conn, consent.customer_id, "Consent")
            conn.execute(
                "INSERT INTO consents (customer_id, channel, purpose, granted, at, source) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    cid,
                    consent.channel.value,
                    consent.purpose.value,
                    int(consent.granted),
                    _micros(consent.at),
                    consent.source,
                ),
            )

    def record_many(self, consents: Iterable[Consent]) -> int:
        """Append many decisions in one transaction (multi-row inserts); returns how many."""
        batch = list(consents)
        with self._db.write() as conn:
            owners = _survivors(conn, [c.customer_id for c in batch])
            rows = []
            for row, consent in enumerate(batch):
                cid = owners.get(consent.customer_id)
                if cid is None:
                    raise NotFoundError(
                        "no such customer",
                        entity="Consent",
                        field="customer_id",
                        value=consent.customer_id,
                        row=row,
                    )
                rows.append(
                    (
                        cid,
                        consent.channel.value,
                        consent.purpose.value,
                        int(consent.granted),
                        _micros(consent.at),
                        consent.source,
                    )
                )
            _insert_rows(
                conn,
                "INSERT INTO consents (customer_id, channel, purpose, granted, at, source)",
                rows,
            )
        return len(rows)

    def history(self, customer_id: str) -> list[Consent]:
        """Every decision for the customer, by ``at`` then insertion order."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            rows = _in(
                conn,
                "SELECT customer_id, channel, purpose, granted, at, source, pk FROM consents "
                "WHERE customer_id IN ({ids})",
                ids,
            )
        rows.sort(key=lambda r: (r[4], r[6]))
        return [_consent_from(r, cid) for r in rows]

    def current(self, customer_id: str) -> dict[tuple[Channel, Purpose], Consent]:
        """The latest decision per (channel, purpose)."""
        return sh.latest_consents(self.history(customer_id))

    def is_granted(self, customer_id: str, channel: Channel | str, purpose: Purpose | str) -> bool:
        """True when the latest decision for (channel, purpose) is a grant."""
        latest = self.current(customer_id).get((Channel(channel), Purpose(purpose)))
        return latest is not None and latest.granted

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Re-point (or delete, for None) the rows of these ids (one statement per 500 ids)."""
        with self._db.write() as conn:
            _reassign_rows(conn, "consents", customer_ids, to)


class SqliteTickets(_Base, sh.BaseTicketRepository):
    """Support tickets in ``tickets``."""

    _ON_CONFLICT = " ON CONFLICT(id) DO UPDATE SET " + ", ".join(
        f"{c} = excluded.{c}" for c in _TICKET_COLUMNS.split(", ")[1:]
    )
    _UPSERT = f"INSERT INTO tickets ({_TICKET_COLUMNS}) VALUES ({_marks(11)})" + _ON_CONFLICT
    _SELECT = (
        "SELECT t.id, t.customer_id, t.channel, t.subject, t.tags, t.status, t.opened_at, "
        "t.first_response_at, t.closed_at, t.satisfaction, t.order_id, coalesce(s.id, c.id) "
        "FROM tickets t JOIN customers c ON c.id = t.customer_id "
        "LEFT JOIN customers s ON s.pk = c.survivor_pk "
    )

    def upsert(self, ticket: SupportTicket) -> bool:
        """Insert or replace a ticket; True when created. NotFoundError for unknown customers."""
        with self._db.write() as conn:
            _, cid = self._require(conn, ticket.customer_id, "SupportTicket")
            created = (
                conn.execute("SELECT 1 FROM tickets WHERE id = ?", (ticket.id,)).fetchone() is None
            )
            conn.execute(self._UPSERT, _ticket_values(ticket, cid))
            return created

    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        """Upsert many tickets in one transaction (multi-row upserts); returns the count."""
        batch = list(tickets)
        with self._db.write() as conn:
            owners = _survivors(conn, [t.customer_id for t in batch])
            rows = []
            for row, ticket in enumerate(batch):
                cid = owners.get(ticket.customer_id)
                if cid is None:
                    raise NotFoundError(
                        "no such customer",
                        entity="SupportTicket",
                        field="customer_id",
                        value=ticket.customer_id,
                        row=row,
                    )
                rows.append(_ticket_values(ticket, cid))
            _insert_rows(conn, f"INSERT INTO tickets ({_TICKET_COLUMNS})", rows, self._ON_CONFLICT)
        return len(rows)

    def get(self, ticket_id: str) -> SupportTicket:
        """The ticket; NotFoundError when there is none."""
        with self._db.read() as conn:
            row = conn.execute(self._SELECT + "WHERE t.id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                "no such ticket", entity="SupportTicket", field="id", value=ticket_id
            )
        return _ticket_from(row, row[-1])

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        """The customer's tickets (following merges), by ``opened_at``."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = _in(conn, self._SELECT + "WHERE t.customer_id IN ({ids})", ids)
        rows.sort(key=lambda r: (r[6], r[0]))
        return [_ticket_from(r, r[-1]) for r in rows]

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Re-point (or delete, for None) the rows of these ids (one statement per 500 ids)."""
        with self._db.write() as conn:
            _reassign_rows(conn, "tickets", customer_ids, to)


class SqliteLoyalty(_Base, sh.BaseLoyaltyRepository):
    """The loyalty points ledger in ``loyalty``, idempotent by entry id."""

    def append(self, entry: LoyaltyEntry) -> bool:
        """Append an entry; False when an entry with its id exists."""
        with self._db.write() as conn:
            found = self._survivor(conn, entry.customer_id)
            cid = found[1] if found is not None else entry.customer_id
            cur = conn.execute(
                f"INSERT OR IGNORE INTO loyalty ({_LOYALTY_COLUMNS}) VALUES ({_marks(8)})",
                (
                    entry.id,
                    cid,
                    entry.kind.value,
                    entry.points,
                    _micros(entry.at),
                    _opt_micros(entry.expires_at),
                    entry.source,
                    entry.description,
                ),
            )
            return cur.rowcount == 1

    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        """Append many entries in one transaction (multi-row inserts); returns how many were new."""
        batch = list(entries)
        with self._db.write() as conn:
            owners = _survivors(conn, [e.customer_id for e in batch])
            rows = [
                (
                    e.id,
                    owners.get(e.customer_id, e.customer_id),
                    e.kind.value,
                    e.points,
                    _micros(e.at),
                    _opt_micros(e.expires_at),
                    e.source,
                    e.description,
                )
                for e in batch
            ]
            before = conn.total_changes
            _insert_rows(conn, f"INSERT OR IGNORE INTO loyalty ({_LOYALTY_COLUMNS})", rows)
            return conn.total_changes - before

    def has(self, entry_id: str) -> bool:
        """True when an entry with this id is in the ledger."""
        with self._db.read() as conn:
            return (
                conn.execute("SELECT 1 FROM loyalty WHERE id = ?", (entry_id,)).fetchone()
                is not None
            )

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        """The customer's entries (following merges), by ``at`` then insertion."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            rows = _in(
                conn,
                f"SELECT {_LOYALTY_COLUMNS}, pk FROM loyalty WHERE customer_id IN ({{ids}})",
                ids,
            )
        rows.sort(key=lambda r: (r[4], r[8]))
        return [_loyalty_from(r, cid) for r in rows]

    def balance(self, customer_id: str) -> int:
        """The sum of the customer's entries' points."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            return sum(
                int(r[0] or 0)
                for r in _in(
                    conn, "SELECT sum(points) FROM loyalty WHERE customer_id IN ({ids})", ids
                )
            )

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Re-point (or delete, for None) the rows of these ids (one statement per 500 ids)."""
        with self._db.write() as conn:
            _reassign_rows(conn, "loyalty", customer_ids, to)


class SqliteMessages(_Base, sh.BaseMessageRepository):
    """The message log in ``messages``."""

    _UPSERT = (
        f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ({_marks(11)}) ON CONFLICT(id) DO "
        "UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in _MESSAGE_COLUMNS.split(", ")[1:])
    )

    def upsert(self, message: Message) -> bool:
        """Insert or replace a message; True when created."""
        with self._db.write() as conn:
            found = self._survivor(conn, message.customer_id)
            cid = found[1] if found is not None else message.customer_id
            created = (
                conn.execute("SELECT 1 FROM messages WHERE id = ?", (message.id,)).fetchone()
                is None
            )
            conn.execute(self._UPSERT, _message_values(message, cid))
            return created

    def get(self, message_id: str) -> Message:
        """The message; NotFoundError when there is none."""
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    "no such message", entity="Message", field="id", value=message_id
                )
            found = self._survivor(conn, row[1])
        return _message_from(row, found[1] if found is not None else row[1])

    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        """The customer's messages (following merges), by ``at``."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            sql = f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE customer_id IN ({{ids}})"
            args: tuple[Any, ...] = ()
            if since is not None:
                sql += " AND at >= ?"
                args = (_micros(since),)
            rows = _in(conn, sql, ids, *args)
        rows.sort(key=lambda r: (r[3], r[0]))
        return [_message_from(r, cid) for r in rows]

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Re-point (or delete, for None) the rows of these ids (one statement per 500 ids)."""
        with self._db.write() as conn:
            _reassign_rows(conn, "messages", customer_ids, to)


_STATE_UPSERT = (
    "INSERT INTO state (key, value, version, owner) VALUES (?, ?, ?, ?) ON CONFLICT(key) "
    "DO UPDATE SET value = excluded.value, version = excluded.version, owner = excluded.owner"
)


class SqliteState(_Base, sh.BaseStateRepository):
    """Versioned JSON records with compare-and-set, in ``state`` (the owner in its column).

    Besides the protocol, two batch operations for the rules engine: ``get_many`` (one
    query per 500 keys) and ``apply`` (a batch of compare-and-set writes checked with one
    query and written with ``executemany``, all or nothing).
    """

    def get(self, key: str) -> StateRecord | None:
        """The record, or None."""
        sh.check_state_key(key)
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT value, version, owner FROM state WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return StateRecord(key=key, value=json.loads(row[0]), version=row[1], owner=row[2])

    def get_many(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        """The records of these keys that exist, by key."""
        wanted = list(dict.fromkeys(sh.check_state_key(k) for k in keys))
        if not wanted:
            return {}
        with self._db.read() as conn:
            rows = _in(
                conn, "SELECT key, value, version, owner FROM state WHERE key IN ({ids})", wanted
            )
        return {
            k: StateRecord(key=k, value=json.loads(v), version=n, owner=o) for k, v, n, o in rows
        }

    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        expected_version: int | None,
        owner: str | None = None,
    ) -> StateRecord:
        """Write ``value`` if the stored version equals ``expected_version`` (else ConflictError)."""
        sh.check_state_key(key)
        sh.check_state_owner(owner)
        text = _state_json(value)
        with self._db.write() as conn:
            row = conn.execute("SELECT version FROM state WHERE key = ?", (key,)).fetchone()
            version = sh.check_expected_version(
                key, None if row is None else int(row[0]), expected_version
            )
            conn.execute(_STATE_UPSERT, (key, text, version, owner))
        return StateRecord(key=key, value=json.loads(text), version=version, owner=owner)

    def delete(self, key: str, *, expected_version: int) -> None:
        """Delete if the stored version matches; ConflictError otherwise."""
        sh.check_state_key(key)
        with self._db.write() as conn:
            row = conn.execute("SELECT version FROM state WHERE key = ?", (key,)).fetchone()
            sh.check_expected_version(key, None if row is None else int(row[0]), expected_version)
            conn.execute("DELETE FROM state WHERE key = ?", (key,))

    def apply(self, changes: Iterable[StateChange]) -> None:
        """Several compare-and-set writes at once: all are applied, or none.

        Each change is ``(key, value, expected_version[, owner])``; a value of None deletes
        the record (its expected version is then required). Every version is checked
        (ConflictError naming the first stale key) before anything changes; keys must be
        distinct.
        """
        batch: list[tuple[str, str | None, int | None, str | None]] = []
        seen: set[str] = set()
        for change in changes:
            key, value, expected = change[0], change[1], change[2]
            owner = change[3] if len(change) > 3 else None
            sh.check_state_key(key)
            if key in seen:
                raise ValidationError(
                    "given twice in one batch", entity="state", field="key", value=key
                )
            seen.add(key)
            if value is None and expected is None:
                raise ValidationError(
                    "a delete needs the expected version",
                    entity="state",
                    field="expected_version",
                    value=key,
                )
            text = None if value is None else _state_json(value)
            batch.append((key, text, expected, sh.check_state_owner(owner)))
        if not batch:
            return
        with self._db.write() as conn:
            sql = "SELECT key, version FROM state WHERE key IN ({ids})"
            stored: dict[str, int] = dict(_in(conn, sql, [change[0] for change in batch]))
            upserts: list[tuple[str, str, int, str | None]] = []
            deletes: list[tuple[str]] = []
            for key, text, expected, owner in batch:
                version = sh.check_expected_version(key, stored.get(key), expected)
                if text is None:
                    deletes.append((key,))
                else:
                    upserts.append((key, text, version, owner))
            if upserts:
                conn.executemany(_STATE_UPSERT, upserts)
            if deletes:
                conn.executemany("DELETE FROM state WHERE key = ?", deletes)

    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        """Records whose key starts with ``prefix`` and lies in ``[start, stop)``, by key."""
        where = ["key >= ?", "substr(key, 1, ?) = ?"]
        args: list[Any] = [max(prefix, start) if start is not None else prefix, len(prefix), prefix]
        if stop is not None:
            where.append("key < ?")
            args.append(stop)
        sql = (
            f"SELECT key, value, version, owner FROM state WHERE {' AND '.join(where)} ORDER BY key"
        )
        if limit is not None:
            if limit <= 0:
                return []
            sql += " LIMIT ?"
            args.append(limit)
        with self._db.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [StateRecord(key=k, value=json.loads(v), version=n, owner=o) for k, v, n, o in rows]

    # --------------------------------------------------------------------------------------
    # the store

    def delete_owned(self, owners: Collection[str]) -> int:
        """Delete the records owned by any of ``owners``; how many (an erasure primitive)."""
        deleted = 0
        with self._db.write() as conn:
            for part in _chunks(list(owners)):
                sql = f"DELETE FROM state WHERE owner IN ({_marks(len(part))})"
                deleted += conn.execute(sql, part).rowcount
        return deleted


class SqliteStore(_Base, sh.BaseStore):
    """A complete ecomcrm store in one SQLite file (WAL mode, foreign keys, versioned schema).

    Args:
        path: The database file; created with the newest schema when missing or empty,
            migrated forward when older. ``":memory:"`` gives a private in-memory database.
        timeout: Seconds to wait for another connection's write lock before StorageError.
        facts_cache: Persist the columns of :meth:`order_facts` in the file after a read,
            so later reads (from any process) load arrays instead of rows until the next
            write that changes orders, refunds or customers.

    Raises:
        StorageError: The file is not an ecomcrm database (nothing is written to it).
        SchemaVersionError: The file was written by a newer schema (nothing is written).

    Example:
        >>> import tempfile, os
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer, Identity
        >>> path = os.path.join(tempfile.mkdtemp(), "crm.db")
        >>> store = SqliteStore(path)
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...                              identities=[Identity.email("ada@example.com")]))
        >>> store.customers.find_by_identity(Identity.email("ADA@example.com")).id
        'c1'
        >>> store.close()

    The store may be shared by threads: writes are serialised, and a thread that reads
    while another holds the connection reads the last committed state on a read-only
    connection of its own instead of waiting.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 5.0, facts_cache: bool = True
    ) -> None:
        self.path = os.fspath(path)
        super().__init__(_Db(self.path, timeout))
        self.facts_cache = facts_cache
        self._customers = SqliteCustomers(self._db, self)
        self._orders = SqliteOrders(self._db, self)
        self.customers = self._customers
        self.orders = self._orders
        self.events = SqliteEvents(self._db, self)
        self.consents = SqliteConsents(self._db, self)
        self.tickets = SqliteTickets(self._db, self)
        self.loyalty = SqliteLoyalty(self._db, self)
        self.messages = SqliteMessages(self._db, self)
        self.state = SqliteState(self._db, self)

    @property
    def url(self) -> str | None:
        """The ``sqlite://`` URL of the file, for :func:`ecomcrm.open_store` in another process.

        None for an in-memory database, which no other connection can see. The path is
        percent-encoded, so a file named ``a%41?.db`` is that file again through
        :func:`ecomcrm.open_store` (which decodes the escapes).

        Example:
            >>> SqliteStore(":memory:").url is None
            True
        """
        if self.path == ":memory:":
            return None
        return "sqlite:///" + quote(os.path.abspath(self.path))

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose writes, across all repositories, are applied atomically.

        The block holds the database's write lock from its start. Nested blocks are
        savepoints of the outer one: an exception rolls back the innermost block.
        """
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._db.write():
            yield

    # --- identity resolution ----------------------------------------------------------

    def link_identity(self, customer_id: str, identity: Identity) -> None:
        """Attach an identity to a customer (anonymous ids also re-point their events)."""
        with self._db.write() as conn:
            pk, cid = self._require(conn, customer_id, "Identity")
            row = conn.execute(
                "SELECT customer_pk FROM identities WHERE key = ?", (identity.key,)
            ).fetchone()
            if row is not None:
                if int(row[0]) == pk:
                    return
                owner = conn.execute("SELECT id FROM customers WHERE pk = ?", (row[0],)).fetchone()
                raise ConflictError(
                    f"identity belongs to customer {owner[0]!r}",
                    entity="Identity",
                    field="value",
                    value=identity.key,
                )
            sh.check_not_suppressed(
                [identity],
                lambda key: (
                    conn.execute("SELECT 1 FROM suppressed WHERE hash = ?", (key,)).fetchone()
                    is not None
                ),
                entity="Identity",
            )
            position = conn.execute(
                "SELECT coalesce(max(position) + 1, 0) FROM identities WHERE customer_pk = ?", (pk,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO identities (key, customer_pk, kind, value, position) VALUES (?,?,?,?,?)",
                (identity.key, pk, identity.kind.value, identity.value, position),
            )
            if identity.kind is IdentityKind.ANONYMOUS:
                conn.execute(
                    "UPDATE events SET customer_id = ? WHERE anonymous_id = ? AND customer_id IS NULL",
                    (cid, identity.value),
                )

    def resolve(self, customer_id: str) -> str:
        """The surviving id after any chain of merges (the id itself when unmerged)."""
        with self._db.read() as conn:
            found = self._survivor(conn, customer_id)
        return customer_id if found is None else found[1]

    # merge itself is the toolkit's (BaseStore.merge) over these primitives

    def record_merge(self, record: MergeRecord) -> None:
        """Keep a merge record; the merged id's row (and its group) point at the survivor.

        A merged id whose profile row was removed gets back a row holding only its id, so
        that it keeps resolving.
        """
        with self._db.write() as conn:
            s_pk = conn.execute(
                "SELECT pk FROM customers WHERE id = ?", (record.survivor_id,)
            ).fetchone()[0]
            row = conn.execute(
                "SELECT pk FROM customers WHERE id = ?", (record.merged_id,)
            ).fetchone()
            m_pk = (
                row[0]
                if row is not None
                else conn.execute(
                    "INSERT INTO customers (id, created_at) VALUES (?, 0)", (record.merged_id,)
                ).lastrowid
            )
            conn.execute(
                "UPDATE customers SET survivor_pk = ? WHERE pk = ? OR survivor_pk = ?",
                (s_pk, m_pk, m_pk),
            )
            conn.execute(
                "INSERT INTO merges (merged_pk, survivor_pk, survivor_id, merged_id, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (m_pk, s_pk, record.survivor_id, record.merged_id, _micros(record.at)),
            )
            self._touch_facts(conn)

    def merge_records(self) -> list[MergeRecord]:
        """Every merge record, in the order they were recorded."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT survivor_id, merged_id, at FROM merges ORDER BY seq")
            return [MergeRecord(survivor_id=a, merged_id=b, at=_from_micros(t)) for a, b, t in rows]

    def merge_record(self, merged_id: str) -> MergeRecord | None:
        """The merge record of ``merged_id``, or None (one indexed lookup)."""
        row = self._db.query_one(
            "SELECT survivor_id, merged_id, at FROM merges WHERE merged_id = ?", (merged_id,)
        )
        return (
            None
            if row is None
            else MergeRecord(survivor_id=row[0], merged_id=row[1], at=_from_micros(row[2]))
        )

    def forget_merges(self, customer_ids: Collection[str]) -> None:
        """Drop the merge records of these merged ids and unlink their rows (erasure)."""
        ids = list(customer_ids)
        with self._db.write() as conn:
            _in(conn, "DELETE FROM merges WHERE merged_id IN ({ids})", ids)
            _in(conn, "UPDATE customers SET survivor_pk = NULL WHERE id IN ({ids})", ids)

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """The merges into this customer (and into ids merged into it), oldest first."""
        with self._db.read() as conn:
            found = self._survivor(conn, customer_id)
            if found is None:
                return []
            pk = found[0]
            rows = conn.execute(
                "SELECT survivor_id, merged_id, at FROM merges WHERE survivor_pk IN "
                "(SELECT pk FROM customers WHERE pk = ? OR survivor_pk = ?) ORDER BY at, seq",
                (pk, pk),
            ).fetchall()
        return [MergeRecord(survivor_id=s, merged_id=m, at=_from_micros(t)) for s, m, t in rows]

    # --- privacy ------------------------------------------------------------------------

    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything stored about the person, as one JSON-serialisable document."""
        with self._db.read():
            return sh.build_export(self, customer_id)

    # erase itself is the toolkit's (BaseStore.erase) over these primitives

    def add_tombstones(self, keys: Iterable[str]) -> None:
        """Keep these tombstone keys: an erasure is under way.

        The persisted facts cache goes (it may hold the person's rows), and once the
        transaction commits the write-ahead log is checkpointed and truncated; with
        ``secure_delete`` on, the erased bytes are then gone from the database files.
        """
        with self._db.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO suppressed (hash, at) VALUES (?, 0)", [(k,) for k in keys]
            )
            conn.execute("DELETE FROM facts_cache")
            self._touch_facts(conn)
            self._db.cleanup_pending = True

    def has_tombstone(self, key: str) -> bool:
        """True when this tombstone key is kept."""
        return self._db.query_one("SELECT 1 FROM suppressed WHERE hash = ?", (key,)) is not None

    def has_suppressions(self) -> bool:
        """True when any identity is suppressed (an optional fast path for importers).

        Example:
            >>> SqliteStore(":memory:").has_suppressions()
            False
        """
        return self._db.query_one("SELECT 1 FROM suppressed LIMIT 1") is not None

    def is_suppressed(self, identity: Identity) -> bool:
        """True when this identity belonged to an erased person."""
        if identity.kind not in sh.SUPPRESSED_KINDS:
            return False
        row = self._db.query_one(
            "SELECT 1 FROM suppressed WHERE hash = ?", (sh.tombstone_key(identity),)
        )
        return row is not None

    # --- analytics ----------------------------------------------------------------------

    def customer_table(self) -> CustomerTable:
        """All live customers as columns, ordered by id."""
        with self._db.read() as conn:
            return col.customer_table(conn)

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """All orders of live customers as columns, by ``placed_at`` then order id.

        Served from the persisted columnar cache when no write changed the data since it
        was built; otherwise read from the tables (and the cache rebuilt when enabled).
        """
        return col.order_facts(self._db, currency=currency, rates=rates, cache=self.facts_cache)

    def line_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> LineFacts:
        """All order lines of live customers' orders as columns (one read snapshot)."""
        with self._db.read() as conn:
            return _sqlite_lines.line_facts(conn, currency=currency, rates=rates)

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """All events (optionally only these names) as columns, by ``at`` then id."""
        with self._db.read() as conn:
            return col.event_facts(conn, names=names)

    def consent_facts(self) -> ConsentFacts:
        """Every consent decision of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(SqliteStore(":memory:").consent_facts())
            0
        """
        with self._db.read() as conn:
            return col.consent_facts(conn)

    def loyalty_facts(self) -> LoyaltyFacts:
        """Every loyalty entry of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(SqliteStore(":memory:").loyalty_facts())
            0
        """
        with self._db.read() as conn:
            return col.loyalty_facts(conn)

    def customer_360(
        self, customer_id: str, *, recent_events: int = 50, messages: int = 50
    ) -> Customer360:
        """The whole view of one customer for a support agent (one read snapshot)."""
        with self._db.read():
            return sh.build_customer_360(
                self, customer_id, recent_events=recent_events, messages=messages
            )

    # --- maintenance --------------------------------------------------------------------

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A block of many large write batches (an import): the log is checkpointed less often.

        SQLite copies the write-ahead log into the database (a checkpoint) once it passes
        1,000 pages, which a large batch always does, so every batch paid for one; random
        index pages dirtied by consecutive batches were copied again each time. Inside the
        block the threshold is 100,000 pages (about 400 MB of log); at its end the log is
        checkpointed and the threshold restored. Importers enter it by themselves.

        Example:
            >>> import os, tempfile
            >>> store = SqliteStore(os.path.join(tempfile.mkdtemp(), "crm.db"))
            >>> with store.bulk_load():
            ...     pass
        """
        with self._db.lock:
            self._db.conn.execute("PRAGMA wal_autocheckpoint = 100000").fetchall()
        try:
            yield
        finally:
            with self._db.lock:
                if self._db._conn is not None:
                    conn = self._db.conn
                    conn.execute("PRAGMA wal_autocheckpoint = 1000").fetchall()
                    if not conn.in_transaction:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def vacuum(self) -> None:
        """Rebuild the file compactly (VACUUM) and truncate the write-ahead log.

        Example:
            >>> SqliteStore(":memory:").vacuum()
        """
        with self._db.lock:
            if self._db.depth:
                raise StorageError("vacuum() cannot run inside a transaction", entity=self.path)
            try:
                self._db.conn.execute("VACUUM")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            self._db.scrub()

    @property
    def schema_version(self) -> int:
        """The schema version of the open file.

        Example:
            >>> SqliteStore(":memory:").schema_version == SCHEMA_VERSION
            True
        """
        with self._db.read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection; further use raises StorageError."""
        self._db.close()
