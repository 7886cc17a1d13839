"""The SQLite schema of :class:`~ecomcrm.storage.SqliteStore`, its versions and migrations.

A database is recognised as ecomcrm's by ``PRAGMA application_id`` (``APPLICATION_ID``)
and its version by ``PRAGMA user_version`` (mirrored in the ``meta`` table). Opening
follows these rules, checked before anything is written:

- a missing or zero-length file is initialised with the newest schema;
- a file with our application id and an older version is migrated forward, one step at a
  time, each step in the same transaction as the version bump;
- a newer version raises :class:`~ecomcrm.errors.SchemaVersionError`;
- anything else (another application's database, a text file) raises
  :class:`~ecomcrm.errors.StorageError`. In both error cases the file is left untouched.

Conventions of the tables: timestamps are INTEGER microseconds since the Unix epoch (UTC);
money is the exact Decimal as TEXT plus a REAL copy for analytics; customer ids are stored
as written and followed through ``customers.survivor_pk`` (always the final survivor, so
chains have length one) at read time; merges also re-point child rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from ecomcrm.storage.sqlite._audit_schema import AUDIT_VERSION, migrate_audit, record_migration

APPLICATION_ID = 0x45434D43  # "ECMC"
"""``PRAGMA application_id`` of every ecomcrm SQLite database."""

_V1 = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE customers (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    survivor_pk INTEGER REFERENCES customers(pk),
    created_at INTEGER NOT NULL,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    birthday TEXT,
    timezone TEXT,
    locale TEXT,
    country TEXT,
    acquisition_channel TEXT,
    addresses TEXT,
    tags TEXT,
    attributes TEXT
);
CREATE INDEX customers_survivor ON customers(survivor_pk);

CREATE TABLE identities (
    key TEXT PRIMARY KEY,
    customer_pk INTEGER NOT NULL REFERENCES customers(pk),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    position INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX identities_customer ON identities(customer_pk, position);

CREATE TABLE suppressed (
    hash TEXT PRIMARY KEY,
    at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE merges (
    seq INTEGER PRIMARY KEY,
    merged_pk INTEGER NOT NULL UNIQUE REFERENCES customers(pk),
    survivor_pk INTEGER NOT NULL REFERENCES customers(pk),
    survivor_id TEXT NOT NULL,
    merged_id TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX merges_survivor ON merges(survivor_pk, at);
CREATE INDEX merges_merged_id ON merges(merged_id);

CREATE TABLE orders (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    placed_at INTEGER NOT NULL,
    currency TEXT NOT NULL,
    subtotal TEXT NOT NULL,
    discount TEXT NOT NULL,
    shipping TEXT NOT NULL,
    tax TEXT NOT NULL,
    taxes_included INTEGER NOT NULL,
    total TEXT NOT NULL,
    status TEXT NOT NULL,
    sales_channel TEXT,
    discount_codes TEXT,
    shipping_address TEXT,
    cancelled_at INTEGER,
    shipped_at INTEGER,
    delivered_at INTEGER,
    amount REAL NOT NULL,
    discount_amount REAL NOT NULL,
    units INTEGER NOT NULL,
    cancelled INTEGER NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id, placed_at);
CREATE INDEX orders_placed ON orders(placed_at, id);

CREATE TABLE order_lines (
    order_id TEXT NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    sku TEXT NOT NULL,
    title TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    unit_price TEXT NOT NULL,
    discount TEXT NOT NULL,
    category TEXT,
    PRIMARY KEY (order_id, position)
) WITHOUT ROWID;

CREATE TABLE refunds (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL REFERENCES orders(id),
    customer_id TEXT NOT NULL REFERENCES customers(id),
    at INTEGER NOT NULL,
    amount TEXT NOT NULL,
    amount_real REAL NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT,
    returned INTEGER NOT NULL,
    lines TEXT,
    returned_units INTEGER NOT NULL
);
CREATE INDEX refunds_order ON refunds(order_id, at);
CREATE INDEX refunds_customer ON refunds(customer_id, at);

CREATE TABLE events (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    at INTEGER NOT NULL,
    customer_id TEXT,
    anonymous_id TEXT,
    properties TEXT,
    source TEXT,
    product TEXT
);
CREATE INDEX events_customer ON events(customer_id, at);
CREATE INDEX events_anonymous ON events(anonymous_id, at);
CREATE INDEX events_at ON events(at, id);

CREATE TABLE consents (
    pk INTEGER PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    channel TEXT NOT NULL,
    purpose TEXT NOT NULL,
    granted INTEGER NOT NULL,
    at INTEGER NOT NULL,
    source TEXT NOT NULL
);
CREATE INDEX consents_customer ON consents(customer_id, at);

CREATE TABLE tickets (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    channel TEXT NOT NULL,
    subject TEXT NOT NULL,
    tags TEXT,
    status TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    first_response_at INTEGER,
    closed_at INTEGER,
    satisfaction INTEGER,
    order_id TEXT
);
CREATE INDEX tickets_customer ON tickets(customer_id, opened_at);

CREATE TABLE loyalty (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    points INTEGER NOT NULL,
    at INTEGER NOT NULL,
    expires_at INTEGER,
    source TEXT,
    description TEXT NOT NULL
);
CREATE INDEX loyalty_customer ON loyalty(customer_id, at);

CREATE TABLE messages (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    customer_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    at INTEGER NOT NULL,
    template TEXT NOT NULL,
    direction TEXT NOT NULL,
    purpose TEXT NOT NULL,
    outcome TEXT NOT NULL,
    flow_id TEXT,
    action_id TEXT,
    params TEXT
);
CREATE INDEX messages_customer ON messages(customer_id, at);

CREATE TABLE state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
"""

_V2 = """
CREATE TABLE facts_cache (
    name TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (name, chunk)
);
INSERT INTO meta(key, value) VALUES ('facts_generation', '0');
"""

Migration = Callable[[sqlite3.Connection], None]


def _script(sql: str) -> Migration:
    statements = [s.strip() for s in sql.split(";") if s.strip()]

    def apply(conn: sqlite3.Connection) -> None:
        # executescript() would COMMIT the surrounding transaction; run one by one.
        for statement in statements:
            conn.execute(statement)

    return apply


# No statement reads orders or events by time alone (columnar reads sort in numpy; a
# customer's orders and events use orders_customer and events_customer), but every insert
# paid for these two indexes: a 1,000,000-order import wrote ~1M random index entries for
# nothing (35.1 s instead of 39.0 s with two workers).
_V3 = """
DROP INDEX IF EXISTS orders_placed;
DROP INDEX IF EXISTS events_at;
"""


def legacy_state_owner(key: str, value: str) -> str | None:
    """The owner of a state record written before version 4, read from the engine's keys.

    Up to version 3 a record's person was only in its key, and erasure matched any
    ``:``-separated part of it (so erasing a customer ``"enr"`` or ``"timer"`` deleted
    everybody's records). The rules engine's layouts were: ``enr|trg|seg|cnt:<flow>:<id>``
    (flow ids hold no ``:``, so the id is everything after the second ``:``, colons
    included), ``cap:<id>``, ``timer:<17 digits>:<target key>`` (the target's owner) and
    ``act:<action id>`` (the ``customer_id`` of the stored action). Anything else (flow
    definitions, an app's own records) is about nobody.

    Example:
        >>> legacy_state_owner("enr:welcome:c:1", "{}"), legacy_state_owner("flowdef:x:000001", "{}")
        ('c:1', None)
        >>> legacy_state_owner("timer:00000000000000001:cap:bob", "{}")
        'bob'
    """
    kind, _, rest = key.partition(":")
    if kind in ("enr", "trg", "seg", "cnt"):
        flow, sep, owner = rest.partition(":")
        return owner if sep and flow and owner else None
    if kind == "cap":
        return rest or None
    if kind == "timer" and len(rest) > 18 and rest[17] == ":" and rest[:17].isdigit():
        return legacy_state_owner(rest[18:], "{}")
    if kind == "act":
        try:
            found = json.loads(value).get("customer_id")
        except (ValueError, AttributeError):
            return None
        return found if isinstance(found, str) and found else None
    return None


def _v4(conn: sqlite3.Connection) -> None:
    conn.execute("ALTER TABLE state ADD COLUMN owner TEXT")
    rows = conn.execute("SELECT key, value FROM state").fetchall()
    owned = [(owner, key) for key, value in rows if (owner := legacy_state_owner(key, value))]
    conn.executemany("UPDATE state SET owner = ? WHERE key = ?", owned)
    conn.execute("CREATE INDEX state_owner ON state(owner) WHERE owner IS NOT NULL")


# Consent topics and proof (issue 20): a decision may be about one topic of its purpose
# ('' for the whole purpose, as every earlier row) and carries its proof as JSON (NULL for
# earlier rows, which so read back unchanged).
_V6 = """
ALTER TABLE consents ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE consents ADD COLUMN proof TEXT
"""


MIGRATIONS: Sequence[Migration] = (
    _script(_V1),  # -> 1: the tables of every repository
    _script(_V2),  # -> 2: the persisted columnar cache of order facts
    _script(_V3),  # -> 3: drop the unused orders_placed and events_at indexes
    _v4,  # -> 4: state records name their owner (erasure compares it, never parses keys)
    migrate_audit,  # -> 5: the append-only audit log
    _script(_V6),  # -> 6: consent topics and proof of consent
)
"""Forward migrations; ``MIGRATIONS[i]`` takes a database from version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this ecomcrm writes."""


def migrate(conn: sqlite3.Connection, current: int, target: int = SCHEMA_VERSION) -> None:
    """Apply the migrations from ``current`` to ``target`` inside the open transaction."""
    for version in range(current, target):
        MIGRATIONS[version](conn)
        conn.execute(f"PRAGMA user_version = {version + 1}")
        conn.execute(
            "INSERT INTO meta(key, value) VALUES ('schema_version', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(version + 1),),
        )
    if target >= AUDIT_VERSION and target > current:
        record_migration(conn, current, target, datetime.now(UTC))
    if current == 0:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("INSERT INTO meta(key, value) VALUES ('application', 'ecomcrm')")
