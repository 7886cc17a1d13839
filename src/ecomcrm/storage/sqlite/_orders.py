"""SQLite orders, their lines, refunds and returns."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Order,
    OrderLine,
    Refund,
)
from ecomcrm.errors import (
    NotFoundError,
)
from ecomcrm.storage._sql_rows import (
    REFUND_COLUMNS,
    PreparedOrders,
    line_from,
    order_from,
    prepare_orders,
    refund_from,
    refund_values,
)
from ecomcrm.storage.sqlite._base import _Base
from ecomcrm.storage.sqlite._rows import (
    _LINE_INSERT,
    _ORDER_INSERT,
    _ORDER_ON_CONFLICT,
)
from ecomcrm.storage.sqlite._sql import (
    _chunks,
    _in,
    _insert_rows,
    _marks,
    _reassign_rows,
    _survivors,
)


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
            >>> from ecomcrm.storage.sqlite import SqliteStore
            >>> store = SqliteStore(":memory:")
            >>> o = Order(id="1", customer_id="c1", currency="EUR",
            ...           placed_at=datetime(2024, 3, 1, tzinfo=timezone.utc),
            ...           lines=[OrderLine(sku="A", quantity=1, unit_price="5.00")])
            >>> len(store.orders.prepare_many([o]))
            1
        """
        return prepare_orders(orders)

    def _write(
        self, conn: sqlite3.Connection, orders: Sequence[Order], merged: Mapping[str, str]
    ) -> None:
        prepared = orders if isinstance(orders, PreparedOrders) else prepare_orders(orders)
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
            if isinstance(orders, PreparedOrders):
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
            out.setdefault(row[0], []).append(line_from(row))
        return out

    def _build(self, conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> list[Order]:
        lines = self._lines(conn, [r[0] for r in rows])
        return [order_from(r, r[-1], lines.get(r[0], [])) for r in rows]

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
                f"INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ({_marks(11)})",
                refund_values(refund, cid),
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
                rows.append(refund_values(refund, cid))
            if rows:
                _insert_rows(conn, f"INSERT INTO refunds ({REFUND_COLUMNS})", rows)
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
            return [refund_from(r, r[-1]) for r in rows]

    def refunds_for_customer(self, customer_id: str) -> list[Refund]:
        """The customer's refunds (following merges), by ``at``."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = _in(conn, self._REFUNDS + "WHERE r.customer_id IN ({ids})", ids)
            rows.sort(key=lambda r: (r[3], r[0]))
            return [refund_from(r, r[-1]) for r in rows]

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
                    f"INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ({_marks(11)})",
                    [refund_values(sh.anonymise_refund(r, to), to) for r in refunds.values()],
                )
            self._touch_facts(conn)
