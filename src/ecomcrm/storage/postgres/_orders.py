"""Orders in ``orders`` and ``order_lines``, refunds in ``refunds``.

New orders go in with COPY; a batch that may meet stored orders is one array upsert.
Records resolve their customer inside their transaction and are read back following
merges, so they need no lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import psycopg

import ecomcrm.storage._sql_rows as rw
import ecomcrm.storage.postgres._rows as pg
from ecomcrm.domain import (
    Order,
    OrderLine,
    Refund,
)
from ecomcrm.errors import NotFoundError
from ecomcrm.storage.postgres._base import Base, Conn, merged_map, survivors
from ecomcrm.storage.postgres._bulk import copy_rows, last_of_each, unnest_insert
from ecomcrm.storage.postgres._connection import retry_races


class PostgresOrders(Base):
    """Orders in ``orders`` and ``order_lines``, refunds in ``refunds``."""

    _UPSERT_TAIL = f"ON CONFLICT (id) DO UPDATE SET {pg.excluded(rw.ORDER_COLUMNS)}"

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
        return rw.prepare_orders(orders)

    def write(self, conn: Conn, orders: Sequence[Order], merged: Mapping[str, str]) -> None:
        """Upsert ``orders`` (lines replaced); COPY when none of them is stored yet."""
        prepared = orders if isinstance(orders, rw.PreparedOrders) else rw.prepare_orders(orders)
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
                        conn, "orders", rw.ORDER_COLUMNS, pg.ORDER_TYPES, latest, self._UPSERT_TAIL
                    )
        except psycopg.errors.ForeignKeyViolation as exc:
            self._explain(conn, orders, merged, exc)
            raise
        if fresh:
            return
        conn.execute("DELETE FROM order_lines WHERE order_id = ANY(%s)", (ids,))
        final = {o.id: o for o in prepared}  # each id's last version
        lines = [v for o in final.values() for v in rw.line_values(o)]
        unnest_insert(conn, "order_lines", rw.LINE_COLUMNS, pg.LINE_TYPES, lines)

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

    @retry_races
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
        """Upsert many orders in one transaction (written in batches); returns the count.

        Not run again on a lost race: ``orders`` is streamed, never held whole.
        """
        n = 0
        with self._db.write() as conn:
            merged = merged_map(conn)
            if isinstance(orders, rw.PreparedOrders):
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

    @retry_races
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
                pg.REFUND_TYPES,
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
