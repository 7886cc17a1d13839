"""Columnar reads of :class:`~ecomcrm.storage.PostgresStore`: tables streamed into numpy.

Numeric columns come out of ``COPY (SELECT ...) TO STDOUT (FORMAT BINARY)``. With every
selected column of a fixed width and never NULL (``coalesce`` sees to that), each row of
the binary stream has the same layout: a 16-bit field count, then per field a 32-bit
length and the big-endian value. The stream is one numpy structured array; its fields
are the columns, byte-swapped once, with no Python object per row. Text columns (ids,
names) come out of a text-format COPY of that one column, split on newlines (one
Python string per value is what an object array of ids holds anyway); when a value
needs COPY's escapes (a backslash, a tab, a newline) that column is read with a cursor
instead. Every read of one call runs in one REPEATABLE READ snapshot, so the columns of
separate statements describe the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

import attrs
import numpy as np
import psycopg
from numpy.typing import NDArray

import ecomcrm.storage.toolkit as sh
from ecomcrm.errors import StorageError
from ecomcrm.storage._records import (
    ConsentFacts,
    CustomerTable,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
)

Conn = psycopg.Connection[Any]

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_WIDTH = {"i8": 8, "f8": 8, "b1": 1, "i4": 4}
_NATIVE: dict[str, Any] = {"i8": np.int64, "f8": np.float64, "b1": np.bool_, "i4": np.int32}


def stream(conn: Conn, sql: str, binary: bool) -> bytes:
    fmt = " (FORMAT BINARY)" if binary else ""
    out = bytearray()
    with conn.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT{fmt}".encode()) as copy:
        for block in copy:
            out += block
    return bytes(out)


def binary_columns(conn: Conn, sql: str, columns: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The columns of ``sql`` (each ``(name, kind)``, kind ``i8``, ``i4``, ``f8`` or ``b1``).

    Every selected value must be non-NULL and of the kind's type (``bigint``,
    ``integer``, ``double precision``, ``boolean``).
    """
    data = stream(conn, sql, binary=True)
    if not data.startswith(_SIGNATURE):
        raise StorageError("unexpected binary COPY header", entity="columnar read")
    extension = int.from_bytes(data[15:19], "big")
    body = memoryview(data)[19 + extension : len(data) - 2]  # the trailer is int16 -1
    fields: list[tuple[str, str]] = [("count", ">i2")]
    for name, kind in columns:
        fields.append((f"len_{name}", ">i4"))
        fields.append((name, "?" if kind == "b1" else f">{kind}"))
    dtype = np.dtype(fields)
    if len(body) % dtype.itemsize:
        raise StorageError(
            "a column of the binary COPY is NULL or of another width",
            entity="columnar read",
            value=sql[:80],
        )
    rows = np.frombuffer(body, dtype=dtype)
    expected = np.array([_WIDTH[kind] for _, kind in columns], dtype=np.int32)
    if rows.shape[0] and (
        np.any(rows["count"] != len(columns))
        or any(np.any(rows[f"len_{n}"] != w) for (n, _), w in zip(columns, expected, strict=True))
    ):
        raise StorageError(
            "a column of the binary COPY is NULL or of another width",
            entity="columnar read",
            value=sql[:80],
        )
    out: dict[str, Any] = {}
    for name, kind in columns:
        out[name] = rows[name].astype(_NATIVE[kind])
    return out


def text_column(conn: Conn, sql: str) -> NDArray[np.object_]:
    """The one text column of ``sql`` (NULLs as None), in the statement's order."""
    data = stream(conn, sql, binary=False)
    if b"\\" in data:  # COPY escaped something (or a NULL): read this column by rows
        values: list[Any] = [r[0] for r in conn.execute(sql.encode()).fetchall()]
    else:
        values = data.decode("utf-8").split("\n")
        values.pop()  # after the last newline
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _array(data: bytes | None, kind: str) -> NDArray[Any]:
    """A one-dimensional array from ``array_send`` bytes (no NULL elements)."""
    native = _NATIVE[kind]
    if data is None or int.from_bytes(data[:4], "big") == 0:
        return np.empty(0, dtype=native)
    if int.from_bytes(data[4:8], "big"):
        raise StorageError("a column of the aggregate read is NULL", entity="columnar read")
    item = np.dtype([("len", ">i4"), ("value", "?" if kind == "b1" else f">{kind}")])
    rows = np.frombuffer(data, dtype=item, offset=20)
    if np.any(rows["len"] != _WIDTH[kind]):
        raise StorageError(
            "a column of the aggregate read has another width", entity="columnar read"
        )
    return rows["value"].astype(native)


def aggregate_columns(
    conn: Conn,
    source: str,
    numeric: Sequence[tuple[str, str, str]],
    text: Sequence[tuple[str, str]] = (),
    args: Sequence[Any] = (),
) -> dict[str, Any]:
    """Columns of ``source`` (``FROM ... [WHERE ...]``) read by one aggregating statement.

    ``numeric`` holds ``(name, expression, kind)`` (kinds as for :func:`binary_columns`,
    never NULL), ``text`` ``(name, expression)``. Each column is one ``array_agg``: the
    server sends it as one value (``array_send`` for numbers, parsed by numpy without a
    Python object per row; a text array for strings), instead of one COPY message per
    row. Every aggregate of one statement reads the rows in the same order, so the
    columns line up without sorting on the server. ``args`` fill the ``%s`` of ``source``.
    The server sends the whole row as one message of at most 1 GB: a caller reading
    millions of rows reads them in slices (:func:`chunked_columns`).
    """
    parts = [f"array_send(array_agg({expr}))" for _, expr, _ in numeric]
    parts += [f"array_agg({expr})" for _, expr in text]
    with conn.cursor(binary=True) as cur:
        row = cur.execute(f"SELECT {', '.join(parts)} {source}".encode(), args).fetchone()
    assert row is not None
    out: dict[str, Any] = {}
    for (name, _, kind), data in zip(numeric, row, strict=False):
        out[name] = _array(data, kind)
    for (name, _), values in zip(text, row[len(numeric) :], strict=True):
        column = np.empty(0 if values is None else len(values), dtype=object)
        if values:
            column[:] = values
        out[name] = column
    return out


_LIVE = 'SELECT {col} FROM customers WHERE survivor_pk IS NULL ORDER BY id COLLATE "C"'
CURRENCIES = (
    'SELECT currency FROM (SELECT DISTINCT currency FROM orders) d ORDER BY currency COLLATE "C"'
)
_CODES = (
    'SELECT currency, (row_number() OVER (ORDER BY currency COLLATE "C") - 1)::int8 AS code '
    "FROM (SELECT DISTINCT currency FROM orders) d"
)
CHUNK_ROWS = 1_000_000
"""Rows per aggregating statement of the order facts, consent decisions and loyalty
entries (keys ``[lo, lo + CHUNK_ROWS)``).

One statement's row must stay under PostgreSQL's 1 GB message limit: about 100 bytes
per order, so 10M orders in one statement failed ("out of memory").
"""


def chunked_columns(
    conn: Conn,
    table: str,
    source: str,
    numeric: Sequence[tuple[str, str, str]],
    text: Sequence[tuple[str, str]] = (),
    args: Sequence[Any] = (),
) -> dict[str, Any]:
    """:func:`aggregate_columns` over slices of ``table``'s keys, the slices concatenated.

    ``source`` ends with a ``WHERE`` (or ``AND``) that the key range completes: it is
    followed by ``pk BETWEEN lo AND hi`` for each slice of at most :data:`CHUNK_ROWS`
    keys. The slices come in key order; rows within one follow the statement's order.
    """
    bounds = conn.execute(f"SELECT min(pk), max(pk) FROM {table}".encode()).fetchone()
    names = [n for n, _, _ in numeric] + [n for n, _ in text]
    if bounds is None or bounds[0] is None:
        return aggregate_columns(conn, source + " false", numeric, text, args)
    low, high = int(bounds[0]), int(bounds[1])
    parts: list[dict[str, Any]] = []
    for start in range(low, high + 1, CHUNK_ROWS):
        parts.append(
            aggregate_columns(
                conn,
                source + " o.pk BETWEEN %s AND %s",
                numeric,
                text,
                (*args, start, min(start + CHUNK_ROWS - 1, high)),
            )
        )
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([part[name] for part in parts]) for name in names}


def live_customers(conn: Conn) -> tuple[NDArray[np.int64], NDArray[np.object_]]:
    """Keys and ids of the live customers, ordered by id (code point order)."""
    cols = aggregate_columns(
        conn,
        'FROM (SELECT pk, id FROM customers WHERE survivor_pk IS NULL ORDER BY id COLLATE "C") x',
        [("pk", "x.pk", "i8")],
        [("id", "x.id")],
    )
    return cols["pk"], cols["id"]


def index_of(customer_pk: NDArray[np.int64], owner: NDArray[np.int64]) -> NDArray[np.int64]:
    """The position in ``customer_pk`` of each owner pk (-1 for none)."""
    size = int(max(customer_pk.max(initial=0), owner.max(initial=0))) + 2
    lookup = np.full(size, -1, dtype=np.int64)
    lookup[customer_pk] = np.arange(customer_pk.shape[0], dtype=np.int64)
    return lookup[np.where(owner >= 0, owner, size - 1)]


_EVENT_OWNER = (
    "FROM events e "
    "LEFT JOIN customers c ON c.id = e.customer_id "
    "LEFT JOIN customers s ON s.pk = c.survivor_pk "
    "LEFT JOIN identities i ON e.customer_id IS NULL AND i.key = 'anonymous:' || e.anonymous_id "
    "LEFT JOIN customers l ON l.pk = i.customer_pk "
    "LEFT JOIN customers ls ON ls.pk = l.survivor_pk "
)


def _or_none(values: NDArray[np.object_]) -> NDArray[np.object_]:
    """The column with its empty strings (the NULL stand-ins) as None."""
    values[values == ""] = None
    return values


def event_facts(conn: Conn, *, names: Iterable[str] | None) -> EventFacts:
    """All events as columns; anonymous events of linked visitors count for the customer.

    Each column is one COPY of the events in ``pk`` order (NULLs as empty strings:
    customer ids and SKUs are never empty), so no Python tuple is built per row.
    """
    wanted = sh.event_names(names)
    where = ""
    if wanted is not None:
        if not wanted:
            return attrs.evolve(
                EventFacts.empty(), customer_ids=text_column(conn, _LIVE.format(col="id"))
            )
        quoted = ", ".join("'" + n.replace("'", "''") + "'" for n in sorted(wanted))
        where = f"WHERE e.name IN ({quoted}) "

    def column(expr: str, joins: str = "") -> NDArray[np.object_]:
        return text_column(conn, f"SELECT {expr} FROM events e {joins}{where}ORDER BY e.pk")

    at = binary_columns(conn, f"SELECT e.at FROM events e {where}ORDER BY e.pk", [("at", "i8")])[
        "at"
    ]
    owner_joins = _EVENT_OWNER[len("FROM events e ") :]
    return sh.event_facts_from_columns(
        customer_ids=text_column(conn, _LIVE.format(col="id")),
        event_id=column("e.id"),
        event_customer=_or_none(column("coalesce(s.id, c.id, ls.id, l.id, '')", owner_joins)),
        name=column("e.name"),
        at_us=at,
        product=_or_none(column("coalesce(e.product, '')")),
        names=None,
    )


_LINE_CODES = (
    'WITH s AS (SELECT sku, (row_number() OVER (ORDER BY sku COLLATE "C") - 1)::int8 AS code '
    "FROM (SELECT DISTINCT sku FROM order_lines) d), "
    'k AS (SELECT category, (row_number() OVER (ORDER BY category COLLATE "C") - 1)::int8 AS code '
    "FROM (SELECT DISTINCT category FROM order_lines WHERE category IS NOT NULL) d) "
)


def line_facts(conn: Conn, *, currency: str | None, rates: Mapping[str, float] | None) -> LineFacts:
    """Line facts of live customers' orders (one snapshot)."""
    customer_pk, customer_ids = live_customers(conn)
    currencies = [r[0] for r in conn.execute(CURRENCIES).fetchall()]
    orders = binary_columns(
        conn,
        "SELECT o.pk, o.placed_at, coalesce(c.survivor_pk, c.pk, -1), o.cancelled, k.code "
        f"FROM orders o LEFT JOIN customers c ON c.id = o.customer_id "
        f"JOIN ({_CODES}) k ON k.currency = o.currency ORDER BY o.pk",
        [("pk", "i8"), ("placed_at", "i8"), ("owner", "i8"), ("cancelled", "b1"), ("code", "i8")],
    )
    order_id = text_column(conn, "SELECT id FROM orders ORDER BY pk")
    lines = binary_columns(
        conn,
        _LINE_CODES + "SELECT o.pk, s.code, coalesce(k.code, -1), l.quantity, "
        "l.unit_price::float8, l.discount::float8 FROM order_lines l "
        "JOIN orders o ON o.id = l.order_id JOIN s ON s.sku = l.sku "
        "LEFT JOIN k ON k.category = l.category ORDER BY o.pk, l.position",
        [
            ("order_pk", "i8"),
            ("sku", "i8"),
            ("category", "i8"),
            ("quantity", "i8"),
            ("unit_price", "f8"),
            ("discount", "f8"),
        ],
    )
    skus = [
        r[0]
        for r in conn.execute(
            'SELECT sku FROM (SELECT DISTINCT sku FROM order_lines) d ORDER BY sku COLLATE "C"'
        )
    ]
    categories = [
        " > ".join(json.loads(r[0]))
        for r in conn.execute(
            "SELECT category FROM (SELECT DISTINCT category FROM order_lines "
            'WHERE category IS NOT NULL) d ORDER BY category COLLATE "C"'
        )
    ]
    returns = conn.execute(
        _LINE_CODES + "SELECT o.pk, s.code, sum((j->>'quantity')::int8)::int8 FROM refunds r "
        "JOIN orders o ON o.id = r.order_id "
        "CROSS JOIN LATERAL json_array_elements(r.lines::json) j "
        "JOIN s ON s.sku = j->>'sku' WHERE r.returned AND r.lines IS NOT NULL "
        "GROUP BY o.pk, s.code"
    ).fetchall()
    order_pk = orders["pk"]
    r_pk = np.array([r[0] for r in returns], dtype=np.int64)
    return sh.line_facts_from_columns(
        customer_ids=np.asarray(customer_ids.tolist(), dtype=str),
        order_id=order_id,
        order_customer_index=index_of(customer_pk, orders["owner"]),
        placed_at_us=orders["placed_at"],
        order_currency=np.asarray(currencies or ["XXX"], dtype=str)[orders["code"]],
        cancelled=orders["cancelled"],
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


def customer_table(conn: Conn) -> CustomerTable:
    """All live customers as columns, ordered by id."""
    rows = conn.execute(
        "SELECT id, created_at, country, timezone, birthday, acquisition_channel, tags, "
        "addresses::json->0->>'city', "
        "(SELECT value FROM identities i WHERE i.customer_pk = c.pk AND i.kind = 'email' "
        " ORDER BY i.position LIMIT 1) "
        'FROM customers c WHERE survivor_pk IS NULL ORDER BY id COLLATE "C"'
    ).fetchall()
    consents = conn.execute(
        "SELECT customer_id, channel || ':' || purpose, granted FROM ("
        " SELECT customer_id, channel, purpose, granted, row_number() OVER ("
        "  PARTITION BY customer_id, channel, purpose ORDER BY at DESC, pk DESC) AS rn"
        " FROM consents WHERE topic = '') x WHERE rn = 1"
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


# Rows of merged-away ids count for their final survivor (``survivor_pk`` is always the
# final one). A ledger is read like the order facts, in slices of keys (one statement's
# row must stay under PostgreSQL's 1 GB message limit), then put in its order (``at``,
# then as recorded) in numpy.
_LEDGER = (
    "FROM {table} o JOIN customers c ON c.id = o.customer_id "
    "LEFT JOIN customers s ON s.pk = c.survivor_pk WHERE"
)
_OWNER = ("customer_id", "coalesce(s.id, c.id)")


def _ledger(
    conn: Conn,
    table: str,
    numeric: Sequence[tuple[str, str, str]],
    text: Sequence[tuple[str, str]],
    condition: str = "",
) -> dict[str, Any]:
    """The columns of a ledger's rows of known customers, by ``at`` then ``pk``.

    ``condition`` (ending with ``AND``) keeps only some rows of the table ``o``.
    """
    cols = chunked_columns(
        conn,
        table,
        f"{_LEDGER.format(table=table)} {condition}",
        [("pk", "o.pk", "i8"), ("at", "o.at", "i8"), *numeric],
        [_OWNER, *text],
    )
    perm = np.lexsort((cols["pk"], cols["at"]))
    return {name: values[perm] for name, values in cols.items()}


def consent_facts(conn: Conn) -> ConsentFacts:
    """Every purpose-wide consent decision of live customers as columns, by ``at`` then insertion."""
    cols = _ledger(
        conn,
        "consents",
        [("granted", "o.granted", "b1")],
        [("channel", "o.channel"), ("purpose", "o.purpose")],
        condition="o.topic = '' AND",
    )
    return ConsentFacts.from_columns(
        customer_id=cols["customer_id"],
        channel=cols["channel"],
        purpose=cols["purpose"],
        granted=cols["granted"],
        at_us=cols["at"],
    )


def loyalty_facts(conn: Conn) -> LoyaltyFacts:
    """Every loyalty entry of live customers as columns, by ``at`` then insertion."""
    cols = _ledger(conn, "loyalty", [("points", "o.points", "i8")], [])
    return LoyaltyFacts.from_columns(
        customer_id=cols["customer_id"], points=cols["points"], at_us=cols["at"]
    )
