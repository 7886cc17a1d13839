"""Bulk writes for PostgreSQL: COPY for rows known to be new, one array statement otherwise.

``COPY ... FROM STDIN`` is the server's fastest way in, but it cannot skip or update
rows that exist. Batches that may meet stored rows are written with one
``INSERT ... SELECT * FROM unnest(%s::type[], ...) ON CONFLICT ...`` statement: the rows
travel as one array per column (a single round trip whatever the batch size), and the
conflict clause keeps upserts and insert-if-absent atomic against concurrent writers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg


def copy_rows(
    conn: psycopg.Connection[Any], table: str, columns: str, rows: Iterable[Sequence[Any]]
) -> None:
    """``COPY table (columns) FROM STDIN`` the rows (in order)."""
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN".encode()) as copy:
        write = copy.write_row
        for row in rows:
            write(row)


def unnest_insert(
    conn: psycopg.Connection[Any],
    table: str,
    columns: str,
    types: Sequence[str],
    rows: Sequence[Sequence[Any]],
    tail: str = "",
) -> int:
    """``INSERT INTO table (columns) SELECT * FROM unnest(...) tail``; returns the row count.

    ``types`` are the SQL types of the columns (``text``, ``bigint``...); ``tail`` an
    ``ON CONFLICT`` clause. Rows are inserted in the order given.
    """
    if not rows:
        return 0
    arrays = [list(column) for column in zip(*rows, strict=True)]
    unnest = ", ".join(f"%s::{t}[]" for t in types)
    sql = f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({unnest}) {tail}"
    cur = conn.execute(sql.encode(), arrays)
    return max(cur.rowcount, 0)


def last_of_each(rows: Sequence[Sequence[Any]], key: int = 0) -> list[Sequence[Any]]:
    """The rows with duplicate keys removed, keeping each key's last row at its first place.

    An upsert of a batch that holds one id twice ends with the later version, as row-by-row
    upserts would; ``ON CONFLICT DO UPDATE`` refuses to touch one row twice in a statement.

    Example:
        >>> last_of_each([("a", 1), ("b", 2), ("a", 3)])
        [('a', 3), ('b', 2)]
    """
    latest: dict[Any, Sequence[Any]] = {}
    for row in rows:
        latest[row[key]] = row
    if len(latest) == len(rows):
        return list(rows)
    return list(latest.values())
