"""SQL text helpers: placeholder lists, chunked ``IN (...)`` queries, multi-row inserts.

Also the set-based statements behind the merge and erasure primitives (re-point or delete
the rows of some customer ids) and the resolution of many ids through merges.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

_CHUNK = 500  # bound on host parameters per IN (...) list


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
