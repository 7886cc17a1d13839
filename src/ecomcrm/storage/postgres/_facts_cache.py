"""The order-facts cache of :class:`~ecomcrm.storage.PostgresStore`, kept in the database.

Reading order facts from the tables costs the server an aggregate per column (about
20 seconds per 10 million orders on the development machine, more under load). After
such a read the store saves the sorted columns as a few ``bytea`` chunks per column in
``facts_cache``: numbers as little-endian arrays in a compact exact form named in the
manifest (:mod:`._facts_codec`), ids as UTF-8 text joined by NUL (PostgreSQL
text cannot hold NUL, so an id never contains the separator). A warm read is then one
statement that sends those chunks; numpy takes each with :func:`numpy.frombuffer`.

When is a cache current? Every transaction that writes the source tables leaves one
row in ``facts_changes`` holding its transaction id (statement triggers; see
:mod:`._facts_schema`). The cache records the snapshot its columns were read in (``S``,
``pg_current_snapshot()`` of that REPEATABLE READ transaction). A reader's statement
sees the markers committed before its own snapshot ``R``; the cache is served only when
each of them is visible in ``S`` as well (``pg_visible_in_snapshot``), i.e. when the
cache holds every committed write the reader would see. Writes the cache holds but the
reader does not see cannot happen: the cache rows were committed after ``S`` was taken,
so a reader that sees them started after every transaction ``S`` sees had committed. A
sequence number or ``max(id)`` could not do this: transactions commit in another order
than they take numbers, and a reader would miss a write committed late with a low one.

Saving (after a read from the tables, outside the caller's transactions) runs under a
transaction-scoped advisory lock and only when the new cache is current at that moment
(no committed marker outside ``S``), when no current cache is there already, and when
the stored cache's snapshot is contained in ``S``. The save deletes the markers ``S``
sees, so the marker table stays as small as the writes since the last read; the
containment rule keeps a slow builder with an older snapshot from installing its cache
after those markers are gone. Erasure takes the same lock and deletes the cache, so a
cache read before an erasure can never be written back after it. The cache also names
the OID of its own meta table: restored by ``pg_dump`` into another cluster (another
numbering of transactions), it is ignored and rebuilt.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.errors import EcomcrmError
from ecomcrm.storage.postgres._base import Conn
from ecomcrm.storage.postgres._connection import Db
from ecomcrm.storage.postgres._facts_codec import decode, encode

CACHE_ROWS = 2_000_000
"""Rows per stored chunk of a column (16 MB for 64-bit numbers): each value far below
PostgreSQL's 1 GB limit for one field and one message."""

_SEP = "\x00"
FORMAT = 1
"""The layout of the cache's chunks and manifest; a cache of another layout is rebuilt."""


@attrs.frozen
class RawFacts:
    """The currency-independent order columns of live customers, sorted by (at, id)."""

    customer_ids: NDArray[np.object_]  # live customers, ordered by id (code point order)
    customer_index: NDArray[np.int64]  # position of each order's owner in customer_ids
    order_id: NDArray[np.object_]
    placed_at: NDArray[np.int64]
    amount: NDArray[np.float64]
    discount: NDArray[np.float64]
    refunded: NDArray[np.float64]
    units: NDArray[np.int64]
    returned_units: NDArray[np.int64]
    cancelled: NDArray[np.bool_]
    code: NDArray[np.int16]  # position of each order's currency in ``currencies``
    currencies: tuple[str, ...]  # every currency of the orders, in code point order


_NUMERIC: dict[str, Any] = {
    "customer_index": np.int64,
    "placed_at": np.int64,
    "amount": np.float64,
    "discount": np.float64,
    "refunded": np.float64,
    "units": np.int64,
    "returned_units": np.int64,
    "cancelled": np.bool_,
    "code": np.int16,
}
_TEXT = ("customer_ids", "order_id")

# The cache as one statement (one snapshot whatever the isolation level): the manifest
# and every chunk when no committed marker is outside the cache's snapshot, else nothing.
_LOAD = (
    "WITH m AS MATERIALIZED (SELECT manifest FROM facts_cache_meta m "
    "WHERE m.relation = 'facts_cache_meta'::regclass AND NOT EXISTS ("
    "SELECT 1 FROM facts_changes x WHERE NOT pg_visible_in_snapshot(x.xid, m.snapshot))) "
    "SELECT '', 0, convert_to(manifest, 'UTF8') FROM m UNION ALL "
    "SELECT c.name, c.chunk, c.data FROM facts_cache c WHERE EXISTS (SELECT 1 FROM m)"
)
_CURRENT = (
    "SELECT NOT EXISTS (SELECT 1 FROM facts_changes x "
    "WHERE NOT pg_visible_in_snapshot(x.xid, %(s)s::pg_snapshot)), "
    # a current cache of this layout is there already
    "EXISTS (SELECT 1 FROM facts_cache_meta m WHERE (m.manifest::json->>'format') = %(f)s "
    "AND m.relation = 'facts_cache_meta'::regclass "
    "AND NOT EXISTS (SELECT 1 FROM facts_changes x "
    "WHERE NOT pg_visible_in_snapshot(x.xid, m.snapshot))), "
    # every transaction the stored snapshot sees, the new one sees too
    "NOT EXISTS (SELECT 1 FROM facts_cache_meta m WHERE "
    "pg_snapshot_xmax(m.snapshot) > pg_snapshot_xmax(%(s)s::pg_snapshot) OR EXISTS ("
    "SELECT 1 FROM pg_snapshot_xip(%(s)s::pg_snapshot) x "
    "WHERE x < pg_snapshot_xmax(m.snapshot) AND pg_visible_in_snapshot(x, m.snapshot)))"
)


def lock_key(db: Db) -> int:
    """The advisory-lock key of the cache's writers (savers and erasure)."""
    return db.lock_key ^ 0x0FAC75


def snapshot_of(conn: Conn) -> str:
    """The snapshot of the connection's REPEATABLE READ transaction, as text."""
    row = conn.execute(b"SELECT pg_current_snapshot()::text").fetchone()
    assert row is not None
    return str(row[0])


def _chunks(raw: RawFacts) -> tuple[list[tuple[str, int, bytes]], dict[str, Any]]:
    rows: list[tuple[str, int, bytes]] = []
    specs: dict[str, Any] = {}
    for name in _TEXT:
        values: NDArray[np.object_] = getattr(raw, name)
        for chunk, start in enumerate(range(0, values.shape[0], CACHE_ROWS)):
            text = _SEP.join(values[start : start + CACHE_ROWS].tolist())
            rows.append((name, chunk, ((_SEP if chunk else "") + text).encode("utf-8")))
    for name in _NUMERIC:
        stored, specs[name] = encode(getattr(raw, name))
        for chunk, start in enumerate(range(0, stored.shape[0], CACHE_ROWS)):
            rows.append((name, chunk, stored[start : start + CACHE_ROWS].tobytes()))
    manifest = {
        "format": FORMAT,
        "orders": int(raw.order_id.shape[0]),
        "customers": int(raw.customer_ids.shape[0]),
        "currencies": list(raw.currencies),
        "columns": specs,
    }
    return rows, manifest


def _text(parts: list[bytes], n: int) -> NDArray[np.object_] | None:
    out = np.empty(n, dtype=object)
    if n:
        values = b"".join(parts).decode("utf-8").split(_SEP)
        if len(values) != n:
            return None
        out[:] = values
    return out


def load(conn: Conn) -> RawFacts | None:
    """The cached columns when the cache holds every write this statement sees, else None."""
    with conn.cursor(binary=True) as cur:
        rows = cur.execute(_LOAD.encode()).fetchall()
    found: dict[tuple[str, int], bytes] = {(name, chunk): data for name, chunk, data in rows}
    del rows
    manifest_bytes = found.pop(("", 0), None)
    if manifest_bytes is None:
        return None
    manifest = json.loads(manifest_bytes)
    if manifest.get("format") != FORMAT:
        return None  # written by another version of ecomcrm: built again
    n, m = int(manifest["orders"]), int(manifest["customers"])
    parts: dict[str, list[bytes]] = {}
    for name, _ in sorted(found):
        parts.setdefault(name, []).append(found[(name, _)])
    columns: dict[str, Any] = {}
    for name, native in _NUMERIC.items():
        column = decode(parts.get(name, []), manifest["columns"][name], np.dtype(native), n)
        if column is None:
            return None
        columns[name] = column
    for name, count in (("customer_ids", m), ("order_id", n)):
        text = _text(parts.get(name, []), count)
        if text is None:
            return None
        columns[name] = text
    return RawFacts(currencies=tuple(manifest["currencies"]), **columns)


def save(db: Db, raw: RawFacts, snapshot: str) -> bool:
    """Store ``raw`` (read in ``snapshot``) as the cache when that is safe; True if stored.

    Called outside any scope of the thread. A save that cannot be made (another writer
    holds a lock too long, the connection failed) is given up: the facts were served,
    the next read builds the cache again.
    """
    rows, manifest = _chunks(raw)
    try:
        with db.write() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(db),))
            state = conn.execute(_CURRENT.encode(), {"s": snapshot, "f": str(FORMAT)}).fetchone()
            assert state is not None
            current, stored_current, contained = state
            if not current or stored_current or not contained:
                return False
            clear(conn)
            with (
                conn.cursor() as cur,
                cur.copy(
                    b"COPY facts_cache (name, chunk, data) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["text", "int4", "bytea"])
                for row in rows:
                    copy.write_row(row)
            conn.execute(
                "INSERT INTO facts_cache_meta (relation, snapshot, manifest) "
                "VALUES ('facts_cache_meta'::regclass, %s::pg_snapshot, %s)",
                (snapshot, json.dumps(manifest)),
            )
            conn.execute(
                "DELETE FROM facts_changes WHERE pg_visible_in_snapshot(xid, %s::pg_snapshot)",
                (snapshot,),
            )
        return True
    except EcomcrmError:
        return False


def clear(conn: Conn) -> None:
    """Delete the cache (the caller holds the cache's lock, or is an erasure: see below)."""
    conn.execute(b"DELETE FROM facts_cache")
    conn.execute(b"DELETE FROM facts_cache_meta")


def clear_for_erasure(db: Db, conn: Conn) -> None:
    """Delete the cache inside an erasure's transaction, holding the savers' lock.

    A save waiting for the lock then finds the erasure's marker committed and gives up,
    so the erased person's ids never return to the cache's bytes.
    """
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(db),))
    clear(conn)
