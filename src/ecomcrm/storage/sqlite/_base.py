"""What every SQLite repository shares: the connection, customer ids resolved through merges."""

from __future__ import annotations

import sqlite3
from typing import Any

from ecomcrm.errors import (
    NotFoundError,
)
from ecomcrm.storage.sqlite._connection import _Db


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
