"""SqliteStore: the repositories, the merge log, tombstones, columnar reads and maintenance."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

import ecomcrm.storage.sqlite._columnar as col
import ecomcrm.storage.sqlite._lines as _sqlite_lines
import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Identity,
    IdentityKind,
)
from ecomcrm.errors import (
    ConflictError,
    StorageError,
)
from ecomcrm.storage._audit import AuditAction
from ecomcrm.storage._records import (
    ConsentFacts,
    Customer360,
    CustomerTable,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
    MergeRecord,
    OrderFacts,
    TicketFacts,
)
from ecomcrm.storage._retention import RetentionPolicy, RetentionReport
from ecomcrm.storage._sql_rows import (
    from_micros,
    micros,
)
from ecomcrm.storage.sqlite._activity import (
    SqliteConsents,
    SqliteEvents,
    SqliteLoyalty,
    SqliteMessages,
    SqliteTickets,
)
from ecomcrm.storage.sqlite._audit import SqliteAudit
from ecomcrm.storage.sqlite._base import _Base
from ecomcrm.storage.sqlite._connection import _Db, _translate
from ecomcrm.storage.sqlite._customers import SqliteCustomers
from ecomcrm.storage.sqlite._orders import SqliteOrders
from ecomcrm.storage.sqlite._retention import SqlitePurger
from ecomcrm.storage.sqlite._sql import _in
from ecomcrm.storage.sqlite._state import SqliteState


class SqliteStore(_Base, sh.BaseStore):
    """A complete ecomcrm store in one SQLite file (WAL mode, foreign keys, versioned schema).

    Args:
        path: The database file; created with the newest schema when missing or empty,
            migrated forward when older. ``":memory:"`` gives a private in-memory database.
        timeout: Seconds to wait for another connection's write lock before StorageError.
        facts_cache: Persist the columns of :meth:`order_facts` in the file after a read,
            so later reads (from any process) load arrays instead of rows until the next
            write that changes orders, refunds or customers.

    Raises:
        StorageError: The file is not an ecomcrm database (nothing is written to it).
        SchemaVersionError: The file was written by a newer schema (nothing is written).

    Example:
        >>> import tempfile, os
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer, Identity
        >>> path = os.path.join(tempfile.mkdtemp(), "crm.db")
        >>> store = SqliteStore(path)
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...                              identities=[Identity.email("ada@example.com")]))
        >>> store.customers.find_by_identity(Identity.email("ADA@example.com")).id
        'c1'
        >>> store.close()

    The store may be shared by threads: writes are serialised, and a thread that reads
    while another holds the connection reads the last committed state on a read-only
    connection of its own instead of waiting.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 5.0, facts_cache: bool = True
    ) -> None:
        self.path = os.fspath(path)
        super().__init__(_Db(self.path, timeout))
        self.facts_cache = facts_cache
        self._customers = SqliteCustomers(self._db, self)
        self._orders = SqliteOrders(self._db, self)
        self.customers = self._customers
        self.orders = self._orders
        self.events = SqliteEvents(self._db, self)
        self.consents = SqliteConsents(self._db, self)
        self.tickets = SqliteTickets(self._db, self)
        self.loyalty = SqliteLoyalty(self._db, self)
        self.messages = SqliteMessages(self._db, self)
        self.state = SqliteState(self._db, self)
        self.audit = SqliteAudit(self._db, self)

    @property
    def url(self) -> str | None:
        """The ``sqlite://`` URL of the file, for :func:`ecomcrm.open_store` in another process.

        None for an in-memory database, which no other connection can see. The path is
        percent-encoded, so a file named ``a%41?.db`` is that file again through
        :func:`ecomcrm.open_store` (which decodes the escapes).

        Example:
            >>> SqliteStore(":memory:").url is None
            True
        """
        if self.path == ":memory:":
            return None
        return "sqlite:///" + quote(os.path.abspath(self.path))

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose writes, across all repositories, are applied atomically.

        The block holds the database's write lock from its start. Nested blocks are
        savepoints of the outer one: an exception rolls back the innermost block.
        """
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._db.write():
            yield

    # --- identity resolution ----------------------------------------------------------

    def link_identity(self, customer_id: str, identity: Identity) -> None:
        """Attach an identity to a customer (anonymous ids also re-point their events)."""
        with self._db.write() as conn:
            pk, cid = self._require(conn, customer_id, "Identity")
            row = conn.execute(
                "SELECT customer_pk FROM identities WHERE key = ?", (identity.key,)
            ).fetchone()
            if row is not None:
                if int(row[0]) == pk:
                    return
                owner = conn.execute("SELECT id FROM customers WHERE pk = ?", (row[0],)).fetchone()
                raise ConflictError(
                    f"identity belongs to customer {owner[0]!r}",
                    entity="Identity",
                    field="value",
                    value=identity.key,
                )
            sh.check_not_suppressed(
                [identity],
                lambda key: (
                    conn.execute("SELECT 1 FROM suppressed WHERE hash = ?", (key,)).fetchone()
                    is not None
                ),
                entity="Identity",
            )
            position = conn.execute(
                "SELECT coalesce(max(position) + 1, 0) FROM identities WHERE customer_pk = ?", (pk,)
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO identities (key, customer_pk, kind, value, position) VALUES (?,?,?,?,?)",
                (identity.key, pk, identity.kind.value, identity.value, position),
            )
            if identity.kind is IdentityKind.ANONYMOUS:
                conn.execute(
                    "UPDATE events SET customer_id = ? WHERE anonymous_id = ? AND customer_id IS NULL",
                    (cid, identity.value),
                )

    def resolve(self, customer_id: str) -> str:
        """The surviving id after any chain of merges (the id itself when unmerged)."""
        with self._db.read() as conn:
            found = self._survivor(conn, customer_id)
        return customer_id if found is None else found[1]

    # merge itself is the toolkit's (BaseStore.merge) over these primitives

    def record_merge(self, record: MergeRecord) -> None:
        """Keep a merge record; the merged id's row (and its group) point at the survivor.

        A merged id whose profile row was removed gets back a row holding only its id, so
        that it keeps resolving.
        """
        with self._db.write() as conn:
            s_pk = conn.execute(
                "SELECT pk FROM customers WHERE id = ?", (record.survivor_id,)
            ).fetchone()[0]
            row = conn.execute(
                "SELECT pk FROM customers WHERE id = ?", (record.merged_id,)
            ).fetchone()
            m_pk = (
                row[0]
                if row is not None
                else conn.execute(
                    "INSERT INTO customers (id, created_at) VALUES (?, 0)", (record.merged_id,)
                ).lastrowid
            )
            conn.execute(
                "UPDATE customers SET survivor_pk = ? WHERE pk = ? OR survivor_pk = ?",
                (s_pk, m_pk, m_pk),
            )
            conn.execute(
                "INSERT INTO merges (merged_pk, survivor_pk, survivor_id, merged_id, at) "
                "VALUES (?, ?, ?, ?, ?)",
                (m_pk, s_pk, record.survivor_id, record.merged_id, micros(record.at)),
            )
            self._touch_facts(conn)

    def merge_records(self) -> list[MergeRecord]:
        """Every merge record, in the order they were recorded."""
        with self._db.read() as conn:
            rows = conn.execute("SELECT survivor_id, merged_id, at FROM merges ORDER BY seq")
            return [MergeRecord(survivor_id=a, merged_id=b, at=from_micros(t)) for a, b, t in rows]

    def merge_record(self, merged_id: str) -> MergeRecord | None:
        """The merge record of ``merged_id``, or None (one indexed lookup)."""
        row = self._db.query_one(
            "SELECT survivor_id, merged_id, at FROM merges WHERE merged_id = ?", (merged_id,)
        )
        return (
            None
            if row is None
            else MergeRecord(survivor_id=row[0], merged_id=row[1], at=from_micros(row[2]))
        )

    def forget_merges(self, customer_ids: Collection[str]) -> None:
        """Drop the merge records of these merged ids and unlink their rows (erasure)."""
        ids = list(customer_ids)
        with self._db.write() as conn:
            _in(conn, "DELETE FROM merges WHERE merged_id IN ({ids})", ids)
            _in(conn, "UPDATE customers SET survivor_pk = NULL WHERE id IN ({ids})", ids)

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """The merges into this customer (and into ids merged into it), oldest first."""
        with self._db.read() as conn:
            found = self._survivor(conn, customer_id)
            if found is None:
                return []
            pk = found[0]
            rows = conn.execute(
                "SELECT survivor_id, merged_id, at FROM merges WHERE survivor_pk IN "
                "(SELECT pk FROM customers WHERE pk = ? OR survivor_pk = ?) ORDER BY at, seq",
                (pk, pk),
            ).fetchall()
        return [MergeRecord(survivor_id=s, merged_id=m, at=from_micros(t)) for s, m, t in rows]

    # --- privacy ------------------------------------------------------------------------

    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything stored about the person, as one JSON-serialisable document (audited)."""
        with self._db.read():
            document = sh.build_export(self, customer_id)
        sh.write_audit(self, AuditAction.EXPORT, document["customer_id"])
        return document

    # erase itself is the toolkit's (BaseStore.erase) over these primitives

    def apply_retention(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        """Delete or pseudonymise what ``policy`` says is due at ``now`` (``SupportsRetention``).

        One set-based statement per data class, all in one transaction; the freed bytes
        are overwritten (``secure_delete``) and the WAL is checkpointed afterwards.

        Example:
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.storage import RetentionPolicy
            >>> SqliteStore(":memory:").apply_retention(RetentionPolicy(messages="1y"),
            ...     datetime(2024, 1, 1, tzinfo=timezone.utc)).counts
            {'messages': 0}
        """
        self._db.cleanup_pending = True
        return sh.apply_retention(self, policy, now, SqlitePurger(self._db))

    def add_tombstones(self, keys: Iterable[str]) -> None:
        """Keep these tombstone keys: an erasure is under way.

        The persisted facts cache goes (it may hold the person's rows), and once the
        transaction commits the write-ahead log is checkpointed and truncated; with
        ``secure_delete`` on, the erased bytes are then gone from the database files.
        """
        with self._db.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO suppressed (hash, at) VALUES (?, 0)", [(k,) for k in keys]
            )
            conn.execute("DELETE FROM facts_cache")
            self._touch_facts(conn)
            self._db.cleanup_pending = True

    def has_tombstone(self, key: str) -> bool:
        """True when this tombstone key is kept."""
        return self._db.query_one("SELECT 1 FROM suppressed WHERE hash = ?", (key,)) is not None

    def has_suppressions(self) -> bool:
        """True when any identity is suppressed (an optional fast path for importers).

        Example:
            >>> SqliteStore(":memory:").has_suppressions()
            False
        """
        return self._db.query_one("SELECT 1 FROM suppressed LIMIT 1") is not None

    def remove_suppression(self, identity: Identity) -> bool:
        """Lift the suppression of ``identity``, audited (``SupportsSuppressionRemoval``).

        Example:
            >>> from ecomcrm.domain import Identity
            >>> SqliteStore(":memory:").remove_suppression(Identity.email("a@b.co"))
            False
        """
        with self._db.write() as conn:

            def delete(key: str) -> bool:
                gone = conn.execute("DELETE FROM suppressed WHERE hash = ?", (key,)).rowcount
                return gone > 0

            return sh.lift_suppression(self, identity, delete)

    def is_suppressed(self, identity: Identity) -> bool:
        """True when this identity belonged to an erased person."""
        if identity.kind not in sh.SUPPRESSED_KINDS:
            return False
        row = self._db.query_one(
            "SELECT 1 FROM suppressed WHERE hash = ?", (sh.tombstone_key(identity),)
        )
        return row is not None

    # --- analytics ----------------------------------------------------------------------

    def customer_table(self) -> CustomerTable:
        """All live customers as columns, ordered by id."""
        with self._db.read() as conn:
            return col.customer_table(conn)

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """All orders of live customers as columns, by ``placed_at`` then order id.

        Served from the persisted columnar cache when no write changed the data since it
        was built; otherwise read from the tables (and the cache rebuilt when enabled).
        """
        return col.order_facts(self._db, currency=currency, rates=rates, cache=self.facts_cache)

    def line_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> LineFacts:
        """All order lines of live customers' orders as columns (one read snapshot)."""
        with self._db.read() as conn:
            return _sqlite_lines.line_facts(conn, currency=currency, rates=rates)

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """All events (optionally only these names) as columns, by ``at`` then id."""
        with self._db.read() as conn:
            return col.event_facts(conn, names=names)

    def consent_facts(self) -> ConsentFacts:
        """Every consent decision of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(SqliteStore(":memory:").consent_facts())
            0
        """
        with self._db.read() as conn:
            return col.consent_facts(conn)

    def ticket_facts(self) -> TicketFacts:
        """Every ticket of live customers as columns (``SupportsTicketFacts``).

        Example:
            >>> len(SqliteStore(":memory:").ticket_facts())
            0
        """
        with self._db.read() as conn:
            return col.ticket_facts(conn)

    def loyalty_facts(self) -> LoyaltyFacts:
        """Every loyalty entry of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(SqliteStore(":memory:").loyalty_facts())
            0
        """
        with self._db.read() as conn:
            return col.loyalty_facts(conn)

    def customer_360(
        self, customer_id: str, *, recent_events: int = 50, messages: int = 50
    ) -> Customer360:
        """The whole view of one customer for a support agent (one read snapshot)."""
        with self._db.read():
            return sh.build_customer_360(
                self, customer_id, recent_events=recent_events, messages=messages
            )

    # --- maintenance --------------------------------------------------------------------

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """A block of many large write batches (an import): the log is checkpointed less often.

        SQLite copies the write-ahead log into the database (a checkpoint) once it passes
        1,000 pages, which a large batch always does, so every batch paid for one; random
        index pages dirtied by consecutive batches were copied again each time. Inside the
        block the threshold is 100,000 pages (about 400 MB of log); at its end the log is
        checkpointed and the threshold restored. Importers enter it by themselves.

        Example:
            >>> import os, tempfile
            >>> store = SqliteStore(os.path.join(tempfile.mkdtemp(), "crm.db"))
            >>> with store.bulk_load():
            ...     pass
        """
        with self._db.lock:
            self._db.conn.execute("PRAGMA wal_autocheckpoint = 100000").fetchall()
        try:
            yield
        finally:
            with self._db.lock:
                if self._db._conn is not None:
                    conn = self._db.conn
                    conn.execute("PRAGMA wal_autocheckpoint = 1000").fetchall()
                    if not conn.in_transaction:
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def vacuum(self) -> None:
        """Rebuild the file compactly (VACUUM) and truncate the write-ahead log.

        Example:
            >>> SqliteStore(":memory:").vacuum()
        """
        with self._db.lock:
            if self._db.depth:
                raise StorageError("vacuum() cannot run inside a transaction", entity=self.path)
            try:
                self._db.conn.execute("VACUUM")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            self._db.scrub()

    @property
    def schema_version(self) -> int:
        """The schema version of the open file.

        Example:
            >>> from ecomcrm.storage.sqlite._schema import SCHEMA_VERSION
            >>> SqliteStore(":memory:").schema_version == SCHEMA_VERSION
            True
        """
        with self._db.read() as conn:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection; further use raises StorageError."""
        self._db.close()
