"""Line facts of :class:`~ecomcrm.storage.SqliteStore`: ``order_lines`` straight into arrays.

One query per block of orders joins ``orders`` to ``order_lines`` and returns each column
as one ``group_concat`` string that numpy parses (no Python object per line). SKUs and
category paths come back as integer codes into their sorted distinct values (a window
function over ``SELECT DISTINCT``), so only the vocabularies are decoded in Python; the
category paths are stored as JSON lists and joined with ``" > "`` once per distinct
path. Returns are summed per (order, SKU) in SQL from the refunds' JSON lines. The shared
builder (:func:`ecomcrm.storage.toolkit.line_facts_from_columns`) sorts, converts and
allocates returned units.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

import ecomcrm.storage.toolkit as sh
from ecomcrm.storage._records import LineFacts

_SEP = "\x1f"
_BLOCK = 2_000_000  # orders per query (bounds the group_concat strings)

# Codes of SKUs and category paths: their rank among the distinct values (BINARY
# collation, i.e. code point order, the order of the vocabulary queries below).
_CODES = (
    "WITH s(sku, code) AS (SELECT sku, row_number() OVER (ORDER BY sku) - 1 "
    "FROM (SELECT DISTINCT sku FROM order_lines)), "
    "k(category, code) AS (SELECT category, row_number() OVER (ORDER BY category) - 1 "
    "FROM (SELECT DISTINCT category FROM order_lines WHERE category IS NOT NULL)) "
)
_SKUS = "SELECT sku FROM (SELECT DISTINCT sku FROM order_lines) ORDER BY sku"
_CATEGORIES = (
    "SELECT category FROM (SELECT DISTINCT category FROM order_lines "
    "WHERE category IS NOT NULL) ORDER BY category"
)


def _parse(text: str | None, dtype: Any) -> NDArray[Any]:
    if not text:
        return np.empty(0, dtype=dtype)
    return np.fromstring(text, dtype=dtype, sep=",")


def _concat(parts: list[NDArray[Any]], dtype: Any) -> NDArray[Any]:
    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _orders(
    conn: sqlite3.Connection, ranges: list[int], currencies: list[str]
) -> dict[str, NDArray[Any]]:
    """The order columns in ``pk`` order: pk, id, placed_at, owner pk, cancelled, currency."""
    if len(currencies) > 1:
        cases = " ".join(
            f"WHEN '{c.replace(chr(39), chr(39) * 2)}' THEN {i}" for i, c in enumerate(currencies)
        )
        currency = f"CASE o.currency {cases} END"
    else:
        currency = "0"
    sql = (
        "SELECT count(*), group_concat(x, char(31)), group_concat(pk), group_concat(t), "
        "group_concat(owner), group_concat(cancelled), group_concat(cur) FROM ("
        "SELECT o.id AS x, o.pk AS pk, o.placed_at AS t, "
        "coalesce(c.survivor_pk, c.pk, -1) AS owner, o.cancelled AS cancelled, "
        f"{currency} AS cur FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
        "WHERE o.pk BETWEEN ? AND ? ORDER BY o.pk)"
    )
    names = ("pk", "placed_at", "owner", "cancelled", "currency")
    parts: dict[str, list[NDArray[Any]]] = {name: [] for name in names}
    ids: list[str] = []
    for start in ranges:
        count, text, *columns = conn.execute(sql, (start, start + _BLOCK - 1)).fetchone()
        if not count:
            continue
        chunk = text.split(_SEP)
        if len(chunk) != count:  # an id holds the separator: read this block's ids by row
            chunk = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM orders WHERE pk BETWEEN ? AND ? ORDER BY pk",
                    (start, start + _BLOCK - 1),
                )
            ]
        ids.extend(chunk)
        for name, value in zip(names, columns, strict=True):
            parts[name].append(_parse(value, np.int64))
    order_id = np.empty(len(ids), dtype=object)
    order_id[:] = ids
    out = {name: _concat(parts[name], np.int64) for name in names}
    out["order_id"] = order_id
    return out


def _lines(conn: sqlite3.Connection, ranges: list[int]) -> dict[str, NDArray[Any]]:
    """The line columns ordered by (order pk, position), with SKU and category codes."""
    sql = (
        _CODES + "SELECT group_concat(opk), group_concat(sc), group_concat(kc), "
        "group_concat(q), group_concat(up), group_concat(d) FROM ("
        "SELECT o.pk AS opk, s.code AS sc, coalesce(k.code, -1) AS kc, l.quantity AS q, "
        "l.unit_price AS up, l.discount AS d "
        "FROM orders o CROSS JOIN order_lines l ON l.order_id = o.id "
        "LEFT JOIN s ON s.sku = l.sku LEFT JOIN k ON k.category = l.category "
        "WHERE o.pk BETWEEN ? AND ? ORDER BY o.pk, l.position)"
    )
    names = ("order_pk", "sku", "category", "quantity", "unit_price", "discount")
    types = (np.int64, np.int64, np.int64, np.int64, np.float64, np.float64)
    parts: dict[str, list[NDArray[Any]]] = {name: [] for name in names}
    for start in ranges:
        row = conn.execute(sql, (start, start + _BLOCK - 1)).fetchone()
        for name, dtype, value in zip(names, types, row, strict=True):
            parts[name].append(_parse(value, dtype))
    return {name: _concat(parts[name], dtype) for name, dtype in zip(names, types, strict=True)}


def _returns(conn: sqlite3.Connection) -> list[tuple[int, int, int]]:
    """Returned units per (order pk, SKU code) of the SKUs that are on some line."""
    rows = conn.execute(
        _CODES + "SELECT o.pk, s.code, sum(json_extract(j.value, '$.quantity')) "
        "FROM refunds r CROSS JOIN orders o ON o.id = r.order_id "
        "CROSS JOIN json_each(r.lines) j LEFT JOIN s ON s.sku = json_extract(j.value, '$.sku') "
        "WHERE r.returned = 1 AND r.lines IS NOT NULL AND s.code IS NOT NULL "
        "GROUP BY o.pk, s.code"
    ).fetchall()
    return [(int(a), int(b), int(c)) for a, b, c in rows]


def line_facts(
    conn: sqlite3.Connection, *, currency: str | None, rates: Mapping[str, float] | None
) -> LineFacts:
    """Line facts of live customers' orders, read inside the caller's snapshot."""
    live = conn.execute("SELECT pk, id FROM customers WHERE survivor_pk IS NULL ORDER BY id")
    live_rows = live.fetchall()
    customer_pk = np.fromiter((r[0] for r in live_rows), dtype=np.int64, count=len(live_rows))
    customer_ids = [r[1] for r in live_rows]
    lo, hi = conn.execute("SELECT min(pk), max(pk) FROM orders").fetchone()
    ranges = [] if lo is None else list(range(lo, hi + 1, _BLOCK))
    currencies = sorted(r[0] for r in conn.execute("SELECT DISTINCT currency FROM orders"))
    orders = _orders(conn, ranges, currencies)
    lines = _lines(conn, ranges)
    skus = [r[0] for r in conn.execute(_SKUS)]
    categories = [" > ".join(json.loads(r[0])) for r in conn.execute(_CATEGORIES)]
    returns = _returns(conn)

    lookup = np.full(int(customer_pk.max(initial=0)) + 2, -1, dtype=np.int64)
    lookup[customer_pk] = np.arange(customer_pk.shape[0], dtype=np.int64)
    owner = orders["owner"]
    order_pk = orders["pk"]  # ascending: the blocks and each block are in pk order
    r_pk = np.array([r[0] for r in returns], dtype=np.int64)
    return sh.line_facts_from_columns(
        customer_ids=np.asarray(customer_ids, dtype=str),
        order_id=orders["order_id"],
        order_customer_index=np.where(
            (owner >= 0) & (owner < lookup.shape[0]),
            lookup[np.clip(owner, 0, lookup.shape[0] - 1)],
            -1,
        ),
        placed_at_us=orders["placed_at"],
        order_currency=np.asarray(currencies or ["XXX"], dtype=str)[orders["currency"]],
        cancelled=orders["cancelled"].astype(bool),
        line_order=np.searchsorted(order_pk, lines["order_pk"]),
        sku_code=lines["sku"],
        skus=skus,
        category_code=lines["category"],
        categories=categories,
        quantity=lines["quantity"],
        unit_price=lines["unit_price"],
        line_discount=lines["discount"],
        return_order=np.searchsorted(order_pk, r_pk),
        return_sku=np.array([r[1] for r in returns], dtype=np.int64),
        return_quantity=np.array([r[2] for r in returns], dtype=np.int64),
        currency=currency,
        rates=rates,
    )
