"""Columnar reads of :class:`~ecomcrm.storage.SqliteStore`: tables straight into numpy arrays.

Order facts are the hot path of analytics. Reading them from the tables is slow on big
files (each column is one ``group_concat`` scan parsed by numpy, then everything is sorted
in numpy: a few hundred thousand rows a second at ten million orders), so the store keeps
a *columnar cache*: after a
read from rows it saves the sorted raw columns (order ids, customer keys, microsecond
timestamps, float amounts, unit counts, currency codes) as binary blobs in the
``facts_cache`` table, stamped with the ``facts_generation`` counter of ``meta``. Every
write that can change the facts (customers, orders, refunds, merges, erasure) bumps the
counter in its own transaction, so a stale cache is never served, in this process or
another. Later reads load the blobs with :func:`numpy.frombuffer` and only apply the
currency conversion of the call.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

import ecomcrm.storage.toolkit as sh
from ecomcrm.errors import EcomcrmError
from ecomcrm.storage._records import (
    ConsentFacts,
    CustomerTable,
    EventFacts,
    LoyaltyFacts,
    OrderFacts,
    TicketFacts,
)
from ecomcrm.storage._sql_rows import TICKET_FACTS_SELECT, ticket_facts_from
from ecomcrm.storage.toolkit._columnar import sort_by_time_then_id

if TYPE_CHECKING:
    from ecomcrm.storage.sqlite._connection import _Db

_SEP = "\x1f"
_CHUNK_ROWS = 4_000_000


@attrs.frozen
class _Raw:
    """The currency-independent order columns of live customers, sorted by (at, id)."""

    customer_pk: NDArray[np.int64]  # live customers' keys, ordered by id
    customer_ids: NDArray[np.object_]
    order_id: NDArray[np.object_]
    order_pk: NDArray[np.int64]  # customer key of each order
    placed_at: NDArray[np.int64]
    currency_code: NDArray[np.int16]
    currencies: tuple[str, ...]
    amount: NDArray[np.float64]
    discount: NDArray[np.float64]
    refunded: NDArray[np.float64]
    units: NDArray[np.int64]
    returned_units: NDArray[np.int64]
    cancelled: NDArray[np.bool_]


_NUMERIC: dict[str, Any] = {
    "customer_pk": np.int64,
    "order_pk": np.int64,
    "placed_at": np.int64,
    "currency_code": np.int16,
    "amount": np.float64,
    "discount": np.float64,
    "refunded": np.float64,
    "units": np.int64,
    "returned_units": np.int64,
    "cancelled": np.bool_,
}
_TEXT = ("customer_ids", "order_id")

_LIVE = "SELECT pk, id FROM customers WHERE survivor_pk IS NULL ORDER BY id"
_OWNERS = "SELECT id, coalesce(survivor_pk, pk) FROM customers"
# A scan in storage order (sequential pages); sorting happens in numpy afterwards.
_ORDERS = (
    "SELECT pk, id, customer_id, placed_at, currency, amount, discount_amount, units, cancelled "
    "FROM orders"
)
_REFUNDS = (
    "SELECT o.pk, sum(r.amount_real), sum(r.returned_units) FROM refunds r "
    "JOIN orders o ON o.id = r.order_id GROUP BY o.pk"
)


def _generation(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key = 'facts_generation'").fetchone()
    return int(row[0])


def _objects(values: list[Any]) -> NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


_SCAN_ROWS = 2_000_000  # orders per group_concat string (bounded by SQLite's max length)


def _read_columns(conn: sqlite3.Connection) -> _Raw | None:
    """The raw columns read one column at a time as text, parsed by numpy.

    Each column is one ``group_concat`` over ranges of the rowid, in rowid order (a scan
    in storage order, inside the caller's read snapshot), parsed with
    :func:`numpy.fromstring`: no Python object per row except the order ids. Returns
    None when an order id contains the separator (then the row path is used).
    """
    lo, hi = conn.execute("SELECT min(pk), max(pk) FROM orders").fetchone()
    live = conn.execute(_LIVE).fetchall()
    customer_pk = np.fromiter((r[0] for r in live), dtype=np.int64, count=len(live))
    customer_ids = _objects([r[1] for r in live])
    currencies = tuple(sorted(r[0] for r in conn.execute("SELECT DISTINCT currency FROM orders")))
    ranges = [] if lo is None else list(range(lo, hi + 1, _SCAN_ROWS))

    def column(expr: str, dtype: Any) -> NDArray[Any]:
        parts = []
        for start in ranges:
            text = conn.execute(
                f"SELECT group_concat(x) FROM (SELECT {expr} AS x FROM orders o "
                "WHERE o.pk BETWEEN ? AND ? ORDER BY o.pk)",
                (start, start + _SCAN_ROWS - 1),
            ).fetchone()[0]
            if text:
                parts.append(np.fromstring(text, dtype=dtype, sep=","))
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)

    ids: list[str] = []
    for start in ranges:
        count, text = conn.execute(
            "SELECT count(*), group_concat(x, char(31)) FROM (SELECT id AS x FROM orders "
            "WHERE pk BETWEEN ? AND ? ORDER BY pk)",
            (start, start + _SCAN_ROWS - 1),
        ).fetchone()
        if count:
            chunk = text.split(_SEP)
            if len(chunk) != count:
                return None
            ids.extend(chunk)
    order_id = _objects(ids)
    del ids
    order_pk = column("o.pk", np.int64)
    owner = column(
        "coalesce((SELECT c.pk FROM customers c WHERE c.id = o.customer_id), -1)", np.int64
    )
    merged = conn.execute(
        "SELECT pk, survivor_pk FROM customers WHERE survivor_pk IS NOT NULL"
    ).fetchall()
    if merged:
        remap = np.arange(max(int(owner.max(initial=0)), max(r[0] for r in merged)) + 1)
        remap[[r[0] for r in merged]] = [r[1] for r in merged]
        owner = remap[owner]
    if len(currencies) > 1:
        cases = " ".join(
            f"WHEN '{c.replace(chr(39), chr(39) * 2)}' THEN {i}" for i, c in enumerate(currencies)
        )
        code = column(f"CASE o.currency {cases} END", np.int64).astype(np.int16)
    else:
        code = np.zeros(order_pk.shape[0], dtype=np.int16)
    flags = column("o.units * 2 + o.cancelled", np.int64)
    return _finish(
        customer_pk,
        customer_ids,
        order_pk,
        order_id,
        owner,
        column("o.placed_at", np.int64),
        code,
        currencies,
        column("o.amount", np.float64),
        column("o.discount_amount", np.float64),
        flags >> 1,
        (flags & 1).astype(np.bool_),
        conn,
    )


def _finish(
    customer_pk: NDArray[np.int64],
    customer_ids: NDArray[np.object_],
    order_pk: NDArray[np.int64],
    order_id: NDArray[np.object_],
    owner: NDArray[np.int64],
    placed_at: NDArray[np.int64],
    code: NDArray[np.int16],
    currencies: tuple[str, ...],
    amount: NDArray[np.float64],
    discount: NDArray[np.float64],
    units: NDArray[np.int64],
    cancelled: NDArray[np.bool_],
    conn: sqlite3.Connection,
) -> _Raw:
    """Add the refund columns and sort every column by (placed_at, order id)."""
    n = order_pk.shape[0]
    refunded = np.zeros(n, dtype=np.float64)
    returned = np.zeros(n, dtype=np.int64)
    refunds = conn.execute(_REFUNDS).fetchall()
    if refunds:
        rows = np.searchsorted(order_pk, np.array([r[0] for r in refunds], dtype=np.int64))
        refunded[rows] = [r[1] for r in refunds]
        returned[rows] = [r[2] for r in refunds]
    perm = sort_by_time_then_id(placed_at, order_id)
    return _Raw(
        customer_pk=customer_pk,
        customer_ids=customer_ids,
        order_id=order_id[perm],
        order_pk=owner[perm],
        placed_at=placed_at[perm],
        currency_code=code[perm],
        currencies=currencies,
        amount=amount[perm],
        discount=discount[perm],
        refunded=refunded[perm],
        units=units[perm],
        returned_units=returned[perm],
        cancelled=cancelled[perm],
    )


def _read_rows(conn: sqlite3.Connection) -> _Raw:
    live = conn.execute(_LIVE).fetchall()
    owner_of = dict(conn.execute(_OWNERS).fetchall())
    code_of: dict[str, int] = {}
    cursor = conn.execute(_ORDERS)
    # Each batch becomes numpy arrays at once: holding millions of rows in Python lists
    # makes every full garbage collection walk them, which turns the read quadratic.
    chunks: list[list[NDArray[Any]]] = []
    while rows := cursor.fetchmany(262_144):
        pk, oid, cust, at, cur, amount, discount, units, cancelled = zip(*rows, strict=True)
        chunks.append(
            [
                np.array(pk, dtype=np.int64),
                _objects(list(oid)),
                np.array([owner_of[c] for c in cust], dtype=np.int64),
                np.array(at, dtype=np.int64),
                np.array([code_of.setdefault(c, len(code_of)) for c in cur], dtype=np.int16),
                np.array(amount, dtype=np.float64),
                np.array(discount, dtype=np.float64),
                np.array(units, dtype=np.int64),
                np.array(cancelled, dtype=np.bool_),
            ]
        )
        del rows, pk, oid, cust, at, cur, amount, discount, units, cancelled
    empty = [np.empty(0, dtype=d) for d in (np.int64, object, np.int64, np.int64, np.int16)]
    empty += [np.empty(0, dtype=d) for d in (np.float64, np.float64, np.int64, np.bool_)]
    columns = [np.concatenate([c[i] for c in chunks]) if chunks else empty[i] for i in range(9)]
    order_pk, order_id, owner, placed_at, code, amount_, discount_, units_, cancelled_ = columns
    n = order_pk.shape[0]
    # currency codes in first-seen order -> sorted vocabulary
    currencies = tuple(sorted(code_of))
    remap = np.array([currencies.index(c) for c in code_of], dtype=np.int16)
    return _finish(
        np.fromiter((r[0] for r in live), dtype=np.int64, count=len(live)),
        _objects([r[1] for r in live]),
        order_pk,
        order_id,
        owner,
        placed_at,
        remap[code] if n else code,
        currencies,
        amount_,
        discount_,
        units_,
        cancelled_,
        conn,
    )


def _encode_text(values: NDArray[np.object_]) -> bytes | None:
    text = _SEP.join(values.tolist())
    if len(values) and text.count(_SEP) != len(values) - 1:
        return None  # an id contains the separator: do not cache
    return text.encode("utf-8")


def _decode_text(blobs: list[bytes], n: int) -> NDArray[np.object_]:
    out = np.empty(n, dtype=object)
    if n:
        out[:] = b"".join(blobs).decode("utf-8").split(_SEP)
    return out


def _save(conn: sqlite3.Connection, raw: _Raw, generation: int) -> None:
    rows: list[tuple[str, int, int, bytes]] = []
    for name in _TEXT:
        values: NDArray[np.object_] = getattr(raw, name)
        for chunk, start in enumerate(range(0, max(len(values), 1), _CHUNK_ROWS)):
            part = values[start : start + _CHUNK_ROWS]
            encoded = _encode_text(part)
            if encoded is None:
                return
            # chunks of text are joined back with the separator between them
            rows.append((name, chunk, generation, (_SEP.encode() if chunk else b"") + encoded))
    for name in _NUMERIC:
        array: NDArray[Any] = getattr(raw, name)
        for chunk, start in enumerate(range(0, max(len(array), 1), _CHUNK_ROWS)):
            rows.append((name, chunk, generation, array[start : start + _CHUNK_ROWS].tobytes()))
    manifest = {
        "orders": len(raw.order_id),
        "customers": len(raw.customer_ids),
        "currencies": list(raw.currencies),
    }
    rows.append(("manifest", 0, generation, json.dumps(manifest).encode()))
    conn.execute("DELETE FROM facts_cache")
    conn.executemany(
        "INSERT INTO facts_cache (name, chunk, generation, data) VALUES (?, ?, ?, ?)", rows
    )


def _load(conn: sqlite3.Connection, generation: int) -> _Raw | None:
    row = conn.execute(
        "SELECT data FROM facts_cache WHERE name = 'manifest' AND generation = ?", (generation,)
    ).fetchone()
    if row is None:
        return None
    manifest = json.loads(row[0])
    blobs: dict[str, list[bytes]] = {}
    for rowid, name in conn.execute(
        "SELECT rowid, name FROM facts_cache WHERE generation = ? AND name != 'manifest' "
        "ORDER BY name, chunk",
        (generation,),
    ).fetchall():
        # Incremental blob I/O reads the pages straight into one buffer (with mmap on,
        # without a read() call per page), several times faster than SELECT data.
        with conn.blobopen("facts_cache", "data", rowid, readonly=True) as blob:
            blobs.setdefault(name, []).append(blob.read())
    n, m = int(manifest["orders"]), int(manifest["customers"])
    columns: dict[str, Any] = {}
    for name, dtype in _NUMERIC.items():
        parts = [np.frombuffer(b, dtype=dtype) for b in blobs.get(name, [])]
        columns[name] = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
    columns["customer_ids"] = _decode_text(blobs.get("customer_ids", []), m)
    columns["order_id"] = _decode_text(blobs.get("order_id", []), n)
    return _Raw(currencies=tuple(manifest["currencies"]), **columns)


def _facts(raw: _Raw, currency: str | None, rates: Mapping[str, float] | None) -> OrderFacts:
    n = len(raw.order_id)
    present = sorted({raw.currencies[c] for c in np.unique(raw.currency_code).tolist()})
    target, table = sh.conversion_rates(present, currency, rates)
    if n == 0:
        return attrs.evolve(OrderFacts.empty(target), customer_ids=raw.customer_ids)
    lookup = np.full(int(raw.customer_pk.max(initial=0)) + 1, -1, dtype=np.int64)
    lookup[raw.customer_pk] = np.arange(len(raw.customer_pk), dtype=np.int64)
    factors = np.array([table.get(c, 1.0) for c in raw.currencies], dtype=np.float64)
    factor: NDArray[np.float64] | np.float64 | None = None
    if not np.all(factors == 1.0):
        # one currency: a scalar multiply; several: one factor per row
        factor = factors[0] if factors.shape[0] == 1 else factors[raw.currency_code]

    def money(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return values * factor if factor is not None else values

    # ``raw`` is built afresh by every call (decoded or read), so its arrays are handed
    # over without copies.
    return OrderFacts(
        currency=target,
        customer_ids=raw.customer_ids,
        customer_index=lookup[raw.order_pk],
        order_id=raw.order_id,
        placed_at=raw.placed_at.view("datetime64[us]"),
        amount=money(raw.amount),
        discount=money(raw.discount),
        refunded=money(raw.refunded),
        units=raw.units,
        returned_units=raw.returned_units,
        cancelled=raw.cancelled,
    )


def order_facts(
    db: _Db, *, currency: str | None, rates: Mapping[str, float] | None, cache: bool
) -> OrderFacts:
    """Order facts of live customers, from the cache when it is current, else from rows."""
    with db.read() as conn:
        generation = _generation(conn)
        raw = _load(conn, generation) if cache else None
        fresh = raw is None
        if raw is None:
            raw = _read_columns(conn) or _read_rows(conn)
    if fresh and cache and db.depth == 0:
        try:
            with db.write() as conn:
                if _generation(conn) == generation:
                    _save(conn, raw, generation)
        except EcomcrmError:
            pass  # another writer holds the lock: serve the rows, cache next time
    return _facts(raw, currency, rates)


def customer_table(conn: sqlite3.Connection) -> CustomerTable:
    """All live customers as columns, ordered by id."""
    # city of the first address; email of the first email identity (as Customer.email)
    rows = conn.execute(
        "SELECT id, created_at, country, timezone, birthday, acquisition_channel, tags, "
        "json_extract(addresses, '$[0].city'), "
        "(SELECT value FROM identities i WHERE i.customer_pk = c.pk AND i.kind = 'email' "
        " ORDER BY i.position LIMIT 1) "
        "FROM customers c WHERE survivor_pk IS NULL ORDER BY id"
    ).fetchall()
    consents = conn.execute(
        "SELECT customer_id, channel || ':' || purpose, granted FROM ("
        " SELECT customer_id, channel, purpose, granted, row_number() OVER ("
        "  PARTITION BY customer_id, channel, purpose ORDER BY at DESC, pk DESC) AS rn"
        " FROM consents WHERE topic = '') WHERE rn = 1"
    ).fetchall()
    return sh.customer_table_from_columns(
        ids=[r[0] for r in rows],
        created_at_us=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
        country=[r[2] for r in rows],
        timezone=[r[3] for r in rows],
        birthday=[date.fromisoformat(r[4]) if r[4] else None for r in rows],
        acquisition_channel=[r[5] for r in rows],
        tags=[json.loads(r[6]) if r[6] else () for r in rows],
        consents=[(c, k, bool(g)) for c, k, g in consents],
        city=[r[7] for r in rows],
        email=[r[8] for r in rows],
    )


def event_facts(conn: sqlite3.Connection, *, names: Iterable[str] | None) -> EventFacts:
    """All events as columns; anonymous events of linked visitors count for the customer."""
    live = [
        r[0] for r in conn.execute("SELECT id FROM customers WHERE survivor_pk IS NULL ORDER BY id")
    ]
    rows = conn.execute(
        "SELECT e.id, e.name, e.at, e.product, coalesce(s.id, c.id, ls.id, l.id) FROM events e "
        "LEFT JOIN customers c ON c.id = e.customer_id "
        "LEFT JOIN customers s ON s.pk = c.survivor_pk "
        "LEFT JOIN identities i ON e.customer_id IS NULL AND i.key = 'anonymous:' || e.anonymous_id "
        "LEFT JOIN customers l ON l.pk = i.customer_pk "
        "LEFT JOIN customers ls ON ls.pk = l.survivor_pk"
    ).fetchall()
    return sh.event_facts_from_columns(
        customer_ids=live,
        event_id=[r[0] for r in rows],
        event_customer=[r[4] for r in rows],
        name=[r[1] for r in rows],
        at_us=np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows)),
        product=[r[3] for r in rows],
        names=names,
    )


# Rows of merged-away ids count for their final survivor (``survivor_pk`` is always the
# final one); every other customer row reached is live, as in :func:`customer_table`.
_SURVIVOR = "JOIN customers c ON c.id = k.customer_id LEFT JOIN customers s ON s.pk = c.survivor_pk"


def consent_facts(conn: sqlite3.Connection) -> ConsentFacts:
    """Every purpose-wide consent decision of live customers as columns, by ``at`` then insertion."""
    rows = conn.execute(
        "SELECT coalesce(s.id, c.id), k.channel, k.purpose, k.granted, k.at "
        f"FROM consents k {_SURVIVOR} WHERE k.topic = '' ORDER BY k.at, k.pk"
    ).fetchall()
    return ConsentFacts.from_columns(
        customer_id=[r[0] for r in rows],
        channel=[r[1] for r in rows],
        purpose=[r[2] for r in rows],
        granted=[bool(r[3]) for r in rows],
        at_us=np.fromiter((r[4] for r in rows), dtype=np.int64, count=len(rows)),
    )


def loyalty_facts(conn: sqlite3.Connection) -> LoyaltyFacts:
    """Every loyalty entry of live customers as columns, by ``at`` then insertion."""
    rows = conn.execute(
        f"SELECT coalesce(s.id, c.id), k.points, k.at FROM loyalty k {_SURVIVOR} "
        "ORDER BY k.at, k.pk"
    ).fetchall()
    return LoyaltyFacts.from_columns(
        customer_id=[r[0] for r in rows],
        points=np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)),
        at_us=np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows)),
    )


def ticket_facts(conn: sqlite3.Connection) -> TicketFacts:
    """Every ticket of live customers as columns, by ``opened_at`` then ticket id."""
    rows = conn.execute(TICKET_FACTS_SELECT + " ORDER BY k.opened_at, k.id").fetchall()
    return ticket_facts_from(rows)
