"""What every PostgreSQL repository shares: the connection type and customer resolution."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from ecomcrm.errors import NotFoundError
from ecomcrm.storage.postgres._connection import Db

Conn = psycopg.Connection[Any]


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
