"""The repositories of :class:`~ecomcrm.storage.PostgresStore`: one class per table group.

Semantics are the SQLite store's (the contract in ``ecomcrm.storage._protocols``); what
differs is concurrency. Many processes write at once, so:

- writers of the customer graph (customer upserts, identity links, merges, erasure) take
  one transaction-scoped advisory lock per schema, which makes identity checks and merge
  re-pointing correct across processes;
- other records resolve their customer inside their transaction and are read back
  following merges, so they need no lock;
- state records use row versions: existing rows are locked (``FOR UPDATE``, in key
  order, so two batches never deadlock on each other) and checked, new keys are plain
  inserts, so a concurrent insert of the same key fails with a unique violation, which
  is a ConflictError. Every batch runs in a savepoint: a failed compare-and-set writes
  nothing and leaves the surrounding transaction usable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import psycopg

import ecomcrm.storage.postgres._rows as rw
import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    Event,
    Identity,
    LoyaltyEntry,
    Message,
    Order,
    OrderLine,
    Purpose,
    Refund,
    SupportTicket,
)
from ecomcrm.errors import ConflictError, NotFoundError, ValidationError
from ecomcrm.storage._records import StateRecord
from ecomcrm.storage.postgres._bulk import copy_rows, last_of_each, unnest_insert
from ecomcrm.storage.postgres._connection import Db

Conn = psycopg.Connection[Any]

_ORDER_TYPES = (
    "text", "text", "bigint", "text", "text", "text", "text", "text", "boolean", "text", "text",
    "text", "text", "text", "bigint", "bigint", "bigint", "float8", "float8", "bigint", "boolean",
)  # fmt: skip
_LINE_TYPES = ("text", "int", "text", "text", "bigint", "text", "text", "text")
_REFUND_TYPES = (
    "text", "text", "text", "bigint", "text", "float8", "text", "text", "boolean", "text",
    "bigint",
)  # fmt: skip
_EVENT_TYPES = ("text", "text", "bigint", "text", "text", "text", "text", "text")
_CONSENT_TYPES = ("text", "text", "text", "boolean", "bigint", "text")
_TICKET_TYPES = (
    "text", "text", "text", "text", "text", "text", "bigint", "bigint", "bigint", "int", "text",
)  # fmt: skip
_LOYALTY_TYPES = ("text", "text", "text", "bigint", "bigint", "bigint", "text", "text")
_CUSTOMER_TYPES = (
    "text", "bigint", "text", "text", "text", "text", "text", "text", "text", "text", "text",
    "text",
)  # fmt: skip


class Base:
    """Customer resolution shared by every repository."""

    def __init__(self, db: Db) -> None:
        self._db = db

    @staticmethod
    def _survivor(conn: Conn, customer_id: str) -> tuple[int, str] | None:
        """(pk, id) of the customer ``customer_id`` resolves to, or None."""
        row = conn.execute(
            "SELECT coalesce(s.pk, c.pk), coalesce(s.id, c.id) FROM customers c "
            "LEFT JOIN customers s ON s.pk = c.survivor_pk WHERE c.id = %s",
            (customer_id,),
        ).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def _require(self, conn: Conn, customer_id: str, entity: str) -> tuple[int, str]:
        found = self._survivor(conn, customer_id)
        if found is None:
            raise NotFoundError(
                "no such customer", entity=entity, field="customer_id", value=customer_id
            )
        return found

    def _group(self, conn: Conn, customer_id: str) -> tuple[str, list[str]]:
        """(resolved id, every id that resolves to it); an unknown id stands for itself.

        One statement (a hot path: every per-customer read starts with it).
        """
        row = conn.execute(
            "SELECT t.id, array(SELECT g.id FROM customers g WHERE g.pk = t.pk "
            "OR g.survivor_pk = t.pk) FROM customers c "
            "JOIN customers t ON t.pk = coalesce(c.survivor_pk, c.pk) WHERE c.id = %s",
            (customer_id,),
        ).fetchone()
        if row is None:
            return customer_id, [customer_id]
        return str(row[0]), list(row[1])


def survivors(conn: Conn, customer_ids: Iterable[str]) -> dict[str, str]:
    """The surviving id of each known id in ``customer_ids`` (unknown ids are left out)."""
    wanted = list(dict.fromkeys(customer_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        "SELECT c.id, coalesce(s.id, c.id) FROM customers c "
        "LEFT JOIN customers s ON s.pk = c.survivor_pk WHERE c.id = ANY(%s)",
        (wanted,),
    ).fetchall()
    return {str(a): str(b) for a, b in rows}


def merged_map(conn: Conn) -> dict[str, str]:
    """Every merged id and its survivor (empty, after one index probe, when none was)."""
    if conn.execute("SELECT 1 FROM customers WHERE survivor_pk IS NOT NULL LIMIT 1").fetchone():
        rows = conn.execute(
            "SELECT c.id, s.id FROM customers c JOIN customers s ON s.pk = c.survivor_pk"
        ).fetchall()
        return {str(a): str(b) for a, b in rows}
    return {}


# --------------------------------------------------------------------------------------


class PostgresCustomers(Base):
    """Customer profiles in the ``customers`` and ``identities`` tables."""

    _SELECT = f"SELECT pk, {rw.CUSTOMER_COLUMNS} FROM customers "

    def _identities(self, conn: Conn, pks: Sequence[int]) -> dict[int, list[Identity]]:
        out: dict[int, list[Identity]] = {}
        if not pks:
            return out
        for pk, kind, value in conn.execute(
            "SELECT customer_pk, kind, value FROM identities WHERE customer_pk = ANY(%s) "
            "ORDER BY customer_pk, position",
            (list(pks),),
        ):
            out.setdefault(pk, []).append(Identity(kind=kind, value=value))
        return out

    # the profile and its identities in one statement
    _LOAD = (
        "SELECT t.pk, "
        + ", ".join(f"t.{c}" for c in rw.CUSTOMER_COLUMNS.split(", "))
        + ", array(SELECT i.kind FROM identities i WHERE i.customer_pk = t.pk ORDER BY i.position)"
        ", array(SELECT i.value FROM identities i WHERE i.customer_pk = t.pk ORDER BY i.position) "
    )

    @staticmethod
    def _loaded(row: Sequence[Any] | None) -> Customer | None:
        if row is None:
            return None
        identities = [Identity(kind=k, value=v) for k, v in zip(row[-2], row[-1], strict=True)]
        return rw.customer_from(row, identities)

    def load(self, conn: Conn, pk: int) -> Customer:
        """The customer stored under ``pk``."""
        found = self._loaded(
            conn.execute(self._LOAD + "FROM customers t WHERE t.pk = %s", (pk,)).fetchone()
        )
        assert found is not None
        return found

    @staticmethod
    def _suppressed(conn: Conn) -> Any:
        def suppressed(key: str) -> bool:
            return (
                conn.execute("SELECT 1 FROM suppressed WHERE hash = %s", (key,)).fetchone()
                is not None
            )

        return suppressed

    def _check_identities(self, conn: Conn, customer: Customer, own_pk: int | None) -> None:
        suppressed = self._suppressed(conn)
        sh.check_not_suppressed(customer.identities, suppressed, entity="Customer")
        sh.check_id_not_erased(customer.id, suppressed)
        keys = [i.key for i in customer.identities]
        if not keys:
            return
        for key, pk, cid in conn.execute(
            "SELECT i.key, i.customer_pk, c.id FROM identities i JOIN customers c "
            "ON c.pk = i.customer_pk WHERE i.key = ANY(%s)",
            (keys,),
        ):
            if pk != own_pk:
                raise ConflictError(
                    f"identity belongs to customer {cid!r}",
                    entity="Customer",
                    field="identities",
                    value=key,
                )

    @staticmethod
    def _write_identities(conn: Conn, pk: int, customer: Customer) -> None:
        conn.execute("DELETE FROM identities WHERE customer_pk = %s", (pk,))
        rows = [(i.key, pk, i.kind.value, i.value, n) for n, i in enumerate(customer.identities)]
        if rows:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO identities (key, customer_pk, kind, value, position) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )

    def insert(self, conn: Conn, customer: Customer) -> int:
        """Insert a customer row and its identities (no checks); returns its pk."""
        row = conn.execute(
            f"INSERT INTO customers ({rw.CUSTOMER_COLUMNS}) "
            f"VALUES ({rw.placeholders(rw.CUSTOMER_COLUMNS)}) RETURNING pk",
            rw.customer_values(customer),
        ).fetchone()
        assert row is not None
        pk = int(row[0])
        self._write_identities(conn, pk, customer)
        return pk

    def replace(self, conn: Conn, pk: int, customer: Customer) -> None:
        """Overwrite the profile stored under ``pk`` (its id stays) and its identities."""
        values = rw.customer_values(customer)
        conn.execute(
            "UPDATE customers SET created_at = %s, first_name = %s, last_name = %s, "
            "birthday = %s, timezone = %s, locale = %s, country = %s, acquisition_channel = %s, "
            "addresses = %s, tags = %s, attributes = %s WHERE pk = %s",
            (*values[1:], pk),
        )
        self._write_identities(conn, pk, customer)

    def put(self, customer: Customer) -> None:
        """Insert a new customer (ConflictError when the id or an identity is taken)."""
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            if conn.execute("SELECT 1 FROM customers WHERE id = %s", (customer.id,)).fetchone():
                raise ConflictError(
                    "customer exists", entity="Customer", field="id", value=customer.id
                )
            self._check_identities(conn, customer, None)
            self.insert(conn, customer)

    def _upsert(self, conn: Conn, customer: Customer) -> bool:
        row = conn.execute(
            "SELECT pk, survivor_pk FROM customers WHERE id = %s", (customer.id,)
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
            self.insert(conn, customer)
            return True
        self.replace(conn, own, customer)
        return False

    def upsert(self, customer: Customer) -> bool:
        """Insert or replace the profile with this id; True when it was created."""
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            return self._upsert(conn, customer)

    def put_many(self, customers: Iterable[Customer]) -> int:
        """Upsert many customers in one transaction (COPY when all are new); the count."""
        batch = list(customers)
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            for start in range(0, len(batch), 50_000):
                part = batch[start : start + 50_000]
                if not self._insert_new(conn, part):
                    for customer in part:
                        self._upsert(conn, customer)
        return len(batch)

    def _insert_new(self, conn: Conn, batch: Sequence[Customer]) -> bool:
        """COPY ``batch`` in when every customer in it is new (else write nothing, False).

        New means: distinct ids and identities within the batch, none of them stored, no
        identity suppressed. Otherwise the caller upserts one by one (which raises the
        precise error, in order).
        """
        ids = [c.id for c in batch]
        keys = [i.key for c in batch for i in c.identities]
        if len(set(ids)) != len(ids) or len(set(keys)) != len(keys):
            return False
        if conn.execute("SELECT 1 FROM customers WHERE id = ANY(%s) LIMIT 1", (ids,)).fetchone():
            return False
        if (
            keys
            and conn.execute(
                "SELECT 1 FROM identities WHERE key = ANY(%s) LIMIT 1", (keys,)
            ).fetchone()
        ):
            return False
        if conn.execute("SELECT 1 FROM suppressed LIMIT 1").fetchone() is not None:
            hashes = sh.erasure_tombstones([i for c in batch for i in c.identities], ids)
            if conn.execute(
                "SELECT 1 FROM suppressed WHERE hash = ANY(%s) LIMIT 1", (hashes,)
            ).fetchone():
                return False
        copy_rows(conn, "customers", rw.CUSTOMER_COLUMNS, (rw.customer_values(c) for c in batch))
        pks = dict(conn.execute("SELECT id, pk FROM customers WHERE id = ANY(%s)", (ids,)))
        copy_rows(
            conn,
            "identities",
            "key, customer_pk, kind, value, position",
            (
                (i.key, pks[c.id], i.kind._value_, i.value, n)
                for c in batch
                for n, i in enumerate(c.identities)
            ),
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
        rows = self._db.query(
            self._LOAD + "FROM customers c JOIN customers t "
            "ON t.pk = coalesce(c.survivor_pk, c.pk) WHERE c.id = %s",
            (customer_id,),
        )
        return self._loaded(rows[0] if rows else None)

    def find_by_identity(self, identity: Identity) -> Customer | None:
        """The customer holding ``identity``, or None."""
        rows = self._db.query(
            self._LOAD + "FROM identities k JOIN customers t ON t.pk = k.customer_pk "
            "WHERE k.key = %s",
            (identity.key,),
        )
        return self._loaded(rows[0] if rows else None)

    def iterate(self) -> Iterator[Customer]:
        """Every live customer, ordered by id (read in pages of 1,000)."""
        last: str | None = None
        while True:
            with self._db.read() as conn:
                rows = conn.execute(
                    self._SELECT
                    + "WHERE survivor_pk IS NULL "
                    + ('AND id > %s COLLATE "C" ' if last is not None else "")
                    + 'ORDER BY id COLLATE "C" LIMIT 1000',
                    (last,) if last is not None else (),
                ).fetchall()
                identities = self._identities(conn, [r[0] for r in rows])
            if not rows:
                return
            for row in rows:
                yield rw.customer_from(row, identities.get(row[0], []))
            last = rows[-1][1]

    def count(self) -> int:
        """How many live customers there are."""
        rows = self._db.query("SELECT count(*) FROM customers WHERE survivor_pk IS NULL")
        return int(rows[0][0])


class PreparedOrders(list[Order]):
    """Orders with their ``orders`` and ``order_lines`` rows (see ``prepare_many``)."""

    def __init__(
        self, orders: list[Order], rows: list[tuple[Any, ...]], line_rows: list[tuple[Any, ...]]
    ) -> None:
        super().__init__(orders)
        self.rows = rows
        self.line_rows = line_rows


def prepare(orders: Iterable[Order]) -> PreparedOrders:
    """The orders with their table rows computed now (outside any transaction)."""
    batch = list(orders)
    return PreparedOrders(
        batch,
        [rw.order_values(o, o.customer_id) for o in batch],
        [v for o in batch for v in rw.line_values(o)],
    )


class PostgresOrders(Base):
    """Orders in ``orders`` and ``order_lines``, refunds in ``refunds``."""

    _UPSERT_TAIL = f"ON CONFLICT (id) DO UPDATE SET {rw.excluded(rw.ORDER_COLUMNS)}"

    def prepare_many(self, orders: Iterable[Order]) -> Sequence[Order]:
        """The orders, with their table rows computed now, for a later :meth:`put_many`.

        An importer calls it before opening its transaction, so the conversion to rows
        does not run while the transaction holds its locks.

        Example:
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.domain import Order, OrderLine
            >>> o = Order(id="1", customer_id="c1", currency="EUR",
            ...           placed_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
            ...           lines=[OrderLine(sku="A", quantity=1, unit_price="5.00")])
            >>> len(PostgresOrders.prepare_many(None, [o]))  # doctest: +SKIP
            1
        """
        return prepare(orders)

    def write(self, conn: Conn, orders: Sequence[Order], merged: Mapping[str, str]) -> None:
        """Upsert ``orders`` (lines replaced); COPY when none of them is stored yet."""
        prepared = orders if isinstance(orders, PreparedOrders) else prepare(orders)
        rows: list[Sequence[Any]] = list(prepared.rows)
        if merged:
            rows = [(r[0], merged.get(r[1], r[1]), *r[2:]) for r in rows]
        ids = [r[0] for r in rows]
        unique = len(set(ids)) == len(ids)
        existing = [r[0] for r in conn.execute("SELECT id FROM orders WHERE id = ANY(%s)", (ids,))]
        fresh = unique and not existing
        try:
            # a savepoint: after a failure, the lookup that explains it can still run
            with conn.transaction():
                if fresh:
                    copy_rows(conn, "orders", rw.ORDER_COLUMNS, rows)
                    copy_rows(conn, "order_lines", rw.LINE_COLUMNS, prepared.line_rows)
                else:
                    latest = last_of_each(rows)
                    unnest_insert(
                        conn, "orders", rw.ORDER_COLUMNS, _ORDER_TYPES, latest, self._UPSERT_TAIL
                    )
        except psycopg.errors.ForeignKeyViolation as exc:
            self._explain(conn, orders, merged, exc)
            raise
        if fresh:
            return
        conn.execute("DELETE FROM order_lines WHERE order_id = ANY(%s)", (ids,))
        final = {o.id: o for o in prepared}  # each id's last version
        lines = [v for o in final.values() for v in rw.line_values(o)]
        unnest_insert(conn, "order_lines", rw.LINE_COLUMNS, _LINE_TYPES, lines)

    def _explain(
        self, conn: Conn, orders: Sequence[Order], merged: Mapping[str, str], exc: Exception
    ) -> None:
        """Turn a foreign-key failure into NotFoundError naming the first unknown customer."""
        wanted = sorted({merged.get(o.customer_id, o.customer_id) for o in orders})
        known = {
            r[0] for r in conn.execute("SELECT id FROM customers WHERE id = ANY(%s)", (wanted,))
        }
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
                conn.execute("SELECT 1 FROM orders WHERE id = %s", (order.id,)).fetchone() is None
            )
            self.write(conn, [order], {order.customer_id: cid})
            return created

    def put_many(self, orders: Iterable[Order], *, batch_size: int = 50_000) -> int:
        """Upsert many orders in one transaction (written in batches); returns the count."""
        n = 0
        with self._db.write() as conn:
            merged = merged_map(conn)
            if isinstance(orders, PreparedOrders):
                self.write(conn, orders, merged)
                return len(orders)
            batch: list[Order] = []
            for order in orders:
                batch.append(order)
                if len(batch) >= batch_size:
                    self.write(conn, batch, merged)
                    n += len(batch)
                    batch = []
            if batch:
                self.write(conn, batch, merged)
                n += len(batch)
        return n

    def _build(self, conn: Conn, rows: Sequence[Sequence[Any]]) -> list[Order]:
        lines: dict[str, list[OrderLine]] = {}
        if rows:
            for row in conn.execute(
                f"SELECT {rw.LINE_COLUMNS} FROM order_lines WHERE order_id = ANY(%s) "
                "ORDER BY order_id, position",
                ([r[0] for r in rows],),
            ):
                lines.setdefault(row[0], []).append(rw.line_from(row))
        return [rw.order_from(r, r[-1], lines.get(r[0], [])) for r in rows]

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
            rows = conn.execute(self._SELECT + "WHERE o.id = %s", (order_id,)).fetchall()
            if not rows:
                raise NotFoundError("no such order", entity="Order", field="id", value=order_id)
            return self._build(conn, rows)[0]

    def for_customer(self, customer_id: str) -> list[Order]:
        """The customer's orders (following merges), by ``placed_at`` then id."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = conn.execute(
                self._SELECT
                + 'WHERE o.customer_id = ANY(%s) ORDER BY o.placed_at, o.id COLLATE "C"',
                (ids,),
            ).fetchall()
            return self._build(conn, rows)

    def count(self) -> int:
        """How many orders there are."""
        return int(self._db.query("SELECT count(*) FROM orders")[0][0])

    def add_refund(self, refund: Refund) -> bool:
        """Record a refund or return; False when its id exists. NotFoundError without order."""
        return self.add_refunds([refund], single=True) == 1

    def add_refunds(self, refunds: Iterable[Refund], *, single: bool = False) -> int:
        """Record many refunds (one array insert); returns how many were new."""
        batch = list(refunds)
        if not batch:
            return 0
        with self._db.write() as conn:
            order_ids = list(dict.fromkeys(r.order_id for r in batch))
            buyers = dict(
                conn.execute(
                    "SELECT id, customer_id FROM orders WHERE id = ANY(%s)", (order_ids,)
                ).fetchall()
            )
            for row, refund in enumerate(batch):
                if refund.order_id not in buyers:
                    raise NotFoundError(
                        "no such order",
                        entity="Refund",
                        field="order_id",
                        value=refund.order_id,
                        row=None if single else row,
                    )
            owners = survivors(conn, [r.customer_id for r in batch])
            rows = []
            for refund in batch:
                cid = owners.get(refund.customer_id, str(buyers[refund.order_id]))
                rows.append(rw.refund_values(refund, cid))
            return unnest_insert(
                conn,
                "refunds",
                rw.REFUND_COLUMNS,
                _REFUND_TYPES,
                rows,
                "ON CONFLICT (id) DO NOTHING",
            )

    _REFUNDS = (
        "SELECT r.id, r.order_id, r.customer_id, r.at, r.amount, r.amount_real, r.currency, "
        "r.reason, r.returned, r.lines, coalesce(s.id, c.id) FROM refunds r "
        "JOIN customers c ON c.id = r.customer_id LEFT JOIN customers s ON s.pk = c.survivor_pk "
    )

    def refunds_for_order(self, order_id: str) -> list[Refund]:
        """The refunds of one order, by ``at``."""
        with self._db.read() as conn:
            rows = conn.execute(
                self._REFUNDS + "WHERE r.order_id = %s ORDER BY r.at, r.pk", (order_id,)
            ).fetchall()
        return [rw.refund_from(r, r[-1]) for r in rows]

    def refunds_for_customer(self, customer_id: str) -> list[Refund]:
        """The customer's refunds (following merges), by ``at``."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = conn.execute(
                self._REFUNDS + 'WHERE r.customer_id = ANY(%s) ORDER BY r.at, r.id COLLATE "C"',
                (ids,),
            ).fetchall()
        return [rw.refund_from(r, r[-1]) for r in rows]


class PostgresEvents(Base):
    """Behavioural events in ``events``."""

    def append(self, event: Event) -> bool:
        """Store an event; False when its id is already stored."""
        return self.append_many([event]) == 1

    def append_many(self, events: Iterable[Event]) -> int:
        """Store many events in one statement; returns how many were new."""
        rows = [rw.event_values(e) for e in events]
        with self._db.write() as conn:
            return unnest_insert(
                conn, "events", rw.EVENT_COLUMNS, _EVENT_TYPES, rows, "ON CONFLICT (id) DO NOTHING"
            )

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
        if wanted is not None and not wanted:
            return []
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            anon = [
                r[0]
                for r in conn.execute(
                    "SELECT i.value FROM identities i JOIN customers c ON c.pk = i.customer_pk "
                    "WHERE c.id = ANY(%s) AND i.kind = 'anonymous'",
                    (ids,),
                )
            ]
            where = [
                "(e.customer_id = ANY(%s) OR (e.customer_id IS NULL AND e.anonymous_id = ANY(%s)))"
            ]
            args: list[Any] = [ids, anon]
            if since is not None:
                where.append("e.at >= %s")
                args.append(rw.micros(since))
            if wanted is not None:
                where.append("e.name = ANY(%s)")
                args.append(wanted)
            sql = self._SELECT + "WHERE " + " AND ".join(where)
            if limit is not None:
                if limit <= 0:
                    return []
                sql = (
                    f'SELECT * FROM ({sql} ORDER BY e.at DESC, e.id COLLATE "C" DESC '
                    f'LIMIT {int(limit)}) x ORDER BY x.at, x.id COLLATE "C"'
                )
            else:
                sql += ' ORDER BY e.at, e.id COLLATE "C"'
            rows = conn.execute(sql.encode(), args).fetchall()
        return [rw.event_from(r, cid if r[3] is not None else None) for r in rows]

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        """Events carrying this anonymous id, by ``at``."""
        with self._db.read() as conn:
            rows = conn.execute(
                self._SELECT + 'WHERE e.anonymous_id = %s ORDER BY e.at, e.id COLLATE "C"',
                (anonymous_id,),
            ).fetchall()
        return [rw.event_from(r, r[-1]) for r in rows]

    def count(self) -> int:
        """How many events are stored."""
        return int(self._db.query("SELECT count(*) FROM events")[0][0])


class PostgresConsents(Base):
    """The append-only consent ledger in ``consents``."""

    def record(self, consent: Consent) -> None:
        """Append a consent decision. NotFoundError when the customer does not exist."""
        with self._db.write() as conn:
            _, cid = self._require(conn, consent.customer_id, "Consent")
            conn.execute(
                f"INSERT INTO consents ({rw.CONSENT_COLUMNS}) "
                f"VALUES ({rw.placeholders(rw.CONSENT_COLUMNS)})",
                rw.consent_values(consent, cid),
            )

    def record_many(self, consents: Iterable[Consent]) -> int:
        """Append many decisions in one transaction (COPY, in order); returns how many."""
        batch = list(consents)
        with self._db.write() as conn:
            owners = survivors(conn, [c.customer_id for c in batch])
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
                rows.append(rw.consent_values(consent, cid))
            if rows:
                copy_rows(conn, "consents", rw.CONSENT_COLUMNS, rows)
        return len(rows)

    def history(self, customer_id: str) -> list[Consent]:
        """Every decision for the customer, by ``at`` then insertion order."""
        # one statement (consent checks are on the rules engine's hot path): the customer's
        # surviving id and every id merged into it, then their decisions
        rows = self._db.query(
            "SELECT k.customer_id, k.channel, k.purpose, k.granted, k.at, k.source, t.id "
            "FROM customers c JOIN customers t ON t.pk = coalesce(c.survivor_pk, c.pk) "
            "JOIN consents k ON k.customer_id = ANY(array(SELECT g.id FROM customers g "
            "WHERE g.pk = t.pk OR g.survivor_pk = t.pk)) WHERE c.id = %s ORDER BY k.at, k.pk",
            (customer_id,),
        )
        return [rw.consent_from(r, r[6]) for r in rows]

    def current(self, customer_id: str) -> dict[tuple[Channel, Purpose], Consent]:
        """The latest decision per (channel, purpose)."""
        return sh.latest_consents(self.history(customer_id))

    def is_granted(self, customer_id: str, channel: Channel | str, purpose: Purpose | str) -> bool:
        """True when the latest decision for (channel, purpose) is a grant."""
        latest = self.current(customer_id).get((Channel(channel), Purpose(purpose)))
        return latest is not None and latest.granted


class PostgresTickets(Base):
    """Support tickets in ``tickets``."""

    _TAIL = f"ON CONFLICT (id) DO UPDATE SET {rw.excluded(rw.TICKET_COLUMNS)}"
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
            row = conn.execute(
                f"INSERT INTO tickets ({rw.TICKET_COLUMNS}) "
                f"VALUES ({rw.placeholders(rw.TICKET_COLUMNS)}) {self._TAIL} "
                "RETURNING (xmax = 0)",
                rw.ticket_values(ticket, cid),
            ).fetchone()
            return bool(row and row[0])

    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        """Upsert many tickets in one statement; returns the count."""
        batch = list(tickets)
        with self._db.write() as conn:
            owners = survivors(conn, [t.customer_id for t in batch])
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
                rows.append(rw.ticket_values(ticket, cid))
            unnest_insert(
                conn, "tickets", rw.TICKET_COLUMNS, _TICKET_TYPES, last_of_each(rows), self._TAIL
            )
        return len(rows)

    def get(self, ticket_id: str) -> SupportTicket:
        """The ticket; NotFoundError when there is none."""
        with self._db.read() as conn:
            row = conn.execute(self._SELECT + "WHERE t.id = %s", (ticket_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                "no such ticket", entity="SupportTicket", field="id", value=ticket_id
            )
        return rw.ticket_from(row, row[-1])

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        """The customer's tickets (following merges), by ``opened_at``."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = conn.execute(
                self._SELECT
                + 'WHERE t.customer_id = ANY(%s) ORDER BY t.opened_at, t.id COLLATE "C"',
                (ids,),
            ).fetchall()
        return [rw.ticket_from(r, r[-1]) for r in rows]


class PostgresLoyalty(Base):
    """The loyalty points ledger in ``loyalty``, idempotent by entry id."""

    def append(self, entry: LoyaltyEntry) -> bool:
        """Append an entry; False when an entry with its id exists."""
        return self.append_many([entry]) == 1

    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        """Append many entries in one statement (in order); returns how many were new."""
        batch = list(entries)
        with self._db.write() as conn:
            owners = survivors(conn, [e.customer_id for e in batch])
            rows = [rw.loyalty_values(e, owners.get(e.customer_id, e.customer_id)) for e in batch]
            return unnest_insert(
                conn,
                "loyalty",
                rw.LOYALTY_COLUMNS,
                _LOYALTY_TYPES,
                rows,
                "ON CONFLICT (id) DO NOTHING",
            )

    def has(self, entry_id: str) -> bool:
        """True when an entry with this id is in the ledger."""
        return bool(self._db.query("SELECT 1 FROM loyalty WHERE id = %s", (entry_id,)))

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        """The customer's entries (following merges), by ``at`` then insertion."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            rows = conn.execute(
                f"SELECT {rw.LOYALTY_COLUMNS} FROM loyalty WHERE customer_id = ANY(%s) "
                "ORDER BY at, pk",
                (ids,),
            ).fetchall()
        return [rw.loyalty_from(r, cid) for r in rows]

    def balance(self, customer_id: str) -> int:
        """The sum of the customer's entries' points."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            row = conn.execute(
                "SELECT coalesce(sum(points), 0) FROM loyalty WHERE customer_id = ANY(%s)", (ids,)
            ).fetchone()
        return int(row[0]) if row else 0


class PostgresMessages(Base):
    """The message log in ``messages``."""

    _UPSERT = (
        f"INSERT INTO messages ({rw.MESSAGE_COLUMNS}) VALUES "
        f"({rw.placeholders(rw.MESSAGE_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET "
        f"{rw.excluded(rw.MESSAGE_COLUMNS)} RETURNING (xmax = 0)"
    )

    def upsert(self, message: Message) -> bool:
        """Insert or replace a message; True when created."""
        with self._db.write() as conn:
            found = self._survivor(conn, message.customer_id)
            cid = found[1] if found is not None else message.customer_id
            row = conn.execute(self._UPSERT, rw.message_values(message, cid)).fetchone()
            return bool(row and row[0])

    def get(self, message_id: str) -> Message:
        """The message; NotFoundError when there is none."""
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {rw.MESSAGE_COLUMNS} FROM messages WHERE id = %s", (message_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    "no such message", entity="Message", field="id", value=message_id
                )
            found = self._survivor(conn, row[1])
        return rw.message_from(row, found[1] if found is not None else row[1])

    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        """The customer's messages (following merges), by ``at``."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            sql = f"SELECT {rw.MESSAGE_COLUMNS} FROM messages WHERE customer_id = ANY(%s)"
            args: list[Any] = [ids]
            if since is not None:
                sql += " AND at >= %s"
                args.append(rw.micros(since))
            rows = conn.execute((sql + ' ORDER BY at, id COLLATE "C"').encode(), args).fetchall()
        return [rw.message_from(r, cid) for r in rows]


# --------------------------------------------------------------------------------------
# state


def _state_json(value: Any) -> str:
    """A state value as JSON text; ValidationError when it is not a JSON-compatible mapping."""
    frozen = sh.freeze_state_value(value)
    return json.dumps(frozen, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _record(key: str, text: str, version: int, owner: str | None) -> StateRecord:
    return StateRecord(key=key, value=json.loads(text), version=version, owner=owner)


class PostgresState(Base):
    """Versioned JSON records with compare-and-set, in ``state`` (row versions).

    Besides the protocol, two batch operations for the rules engine: ``get_many`` (one
    statement) and ``apply`` (a batch of compare-and-set writes: the stored rows locked
    in key order and checked, then written with two array statements, all or nothing).
    """

    def get(self, key: str) -> StateRecord | None:
        """The record, or None."""
        sh.check_state_key(key)
        rows = self._db.query("SELECT value, version, owner FROM state WHERE key = %s", (key,))
        return None if not rows else _record(key, *rows[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        """The records of these keys that exist, by key."""
        wanted = list(dict.fromkeys(sh.check_state_key(k) for k in keys))
        if not wanted:
            return {}
        rows = self._db.query(
            "SELECT key, value, version, owner FROM state WHERE key = ANY(%s)", (wanted,)
        )
        return {k: _record(k, v, n, o) for k, v, n, o in rows}

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
        self.apply([(key, value, expected_version, owner)])
        version = 1 if expected_version is None else expected_version + 1
        return _record(key, _state_json(value), version, owner)

    def delete(self, key: str, *, expected_version: int) -> None:
        """Delete if the stored version matches; ConflictError otherwise."""
        sh.check_state_key(key)
        self.apply([(key, None, expected_version, None)])

    def apply(self, changes: Iterable[sh.StateChange]) -> None:
        """Several compare-and-set writes at once: all are applied, or none.

        Each change is ``(key, value, expected_version[, owner])``; a value of None deletes
        the record (its expected version is then required). Every version is checked
        (ConflictError naming the first stale key) before anything changes; keys must be
        distinct. Safe across processes: stored rows are locked, new keys inserted (a
        concurrent insert of the same key is a ConflictError).
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
        batch.sort(key=lambda change: change[0])
        with self._db.write() as conn:
            stored: dict[str, int] = dict(
                conn.execute(
                    "SELECT key, version FROM state WHERE key = ANY(%s) ORDER BY key FOR UPDATE",
                    ([change[0] for change in batch],),
                ).fetchall()
            )
            inserts: list[tuple[str, str, int, str | None]] = []
            updates: list[tuple[str, str, int, str | None]] = []
            deletes: list[str] = []
            for key, text, expected, owner in batch:
                version = sh.check_expected_version(key, stored.get(key), expected)
                if text is None:
                    deletes.append(key)
                elif expected is None:
                    inserts.append((key, text, version, owner))
                else:
                    updates.append((key, text, version, owner))
            if updates:
                conn.execute(
                    "UPDATE state SET value = u.value, version = u.version, owner = u.owner "
                    "FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) "
                    "AS u(key, value, version, owner) WHERE state.key = u.key",
                    [list(c) for c in zip(*updates, strict=True)],
                )
            if deletes:
                conn.execute("DELETE FROM state WHERE key = ANY(%s)", (deletes,))
            if inserts:
                unnest_insert(
                    conn,
                    "state",
                    "key, value, version, owner",
                    ("text", "text", "bigint", "text"),
                    inserts,
                )

    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        """Records whose key starts with ``prefix`` and lies in ``[start, stop)``, by key."""
        low = max(prefix, start) if start is not None else prefix
        where = ["key >= %s"]
        args: list[Any] = [low]
        if prefix:
            where.append("left(key, %s) = %s")
            args.extend([len(prefix), prefix])
        if stop is not None:
            where.append("key < %s")
            args.append(stop)
        sql = (
            f"SELECT key, value, version, owner FROM state WHERE {' AND '.join(where)} ORDER BY key"
        )
        if limit is not None:
            if limit <= 0:
                return []
            sql += f" LIMIT {int(limit)}"
        rows = self._db.query(sql, args)
        return [_record(k, v, n, o) for k, v, n, o in rows]
